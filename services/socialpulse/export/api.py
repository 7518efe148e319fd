"""The KPI JSON API: ``/api/v1/kpis``, ``/api/v1/top-authors`` and ``/api/v1/trends``.

``/api/v1/brands`` lists what may be asked for: the configured brands and windows.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec
from aiohttp import web

from socialpulse.core.catalogue import KPIS
from socialpulse.core.clock import Clock, rfc3339
from socialpulse.core.kpis import WindowKpis, kpi_value
from socialpulse.core.signals import Signals
from socialpulse.core.windows.store import WindowStore

STORE_KEY = web.AppKey("store", WindowStore)
CLOCK_KEY: web.AppKey[Clock] = web.AppKey("clock")
TOP_K_KEY = web.AppKey("top_k", int)
SIGNALS_KEY = web.AppKey("signals", Signals)

# How each reach figure of ``kpis`` is known (the README's reach model): ``measured`` from
# impression events, ``estimated`` from follower counts.
REACH_BASIS: Final[dict[str, Literal["measured", "estimated"]]] = {
    "reach": "measured",
    "impressions": "measured",
    "potential_reach": "estimated",
    "followers_at_window_start": "estimated",
}


def json_body(doc: Any) -> bytes:
    """``doc`` as JSON text, NaN and ±Infinity as null: JSON has no such numbers.

    msgspec writes every non-finite float as null (the standard library would write the
    non-JSON ``Infinity``). Inputs are bounded, so no KPI should be non-finite; this keeps the
    API valid JSON even if one were.
    """
    return msgspec.json.encode(doc)


def _json(doc: Any) -> web.Response:
    return web.Response(body=json_body(doc), content_type="application/json")


def _fail(status: type[web.HTTPClientError], message: str) -> web.HTTPClientError:
    """An HTTP error whose body is ``{"error": message}``."""
    return status(text=json_body({"error": message}).decode(), content_type="application/json")


def _query(request: web.Request) -> tuple[str, str]:
    """The brand and window asked for: 400 when missing, 404 when not configured."""
    store = request.app[STORE_KEY]
    brand, window = request.query.get("brand"), request.query.get("window")
    for name, value in (("brand", brand), ("window", window)):
        if not value:
            raise _fail(web.HTTPBadRequest, f"query parameter {name!r} is required")
    assert brand is not None and window is not None  # noqa: S101 - checked just above
    if brand not in store.brands:
        known = ", ".join(store.brands)
        raise _fail(web.HTTPNotFound, f"unknown brand {brand!r}; configured brands: {known}")
    if window not in store.windows:
        known = ", ".join(store.windows)
        raise _fail(web.HTTPNotFound, f"unknown window {window!r}; configured windows: {known}")
    return brand, window


def _percent(value: float | None) -> float | None:
    return None if value is None else 100 * value


def kpis_json(k: WindowKpis) -> dict[str, Any]:
    """Every KPI of one brand and window: counts, ratios (0..1), percentages; null if undefined."""
    out: dict[str, Any] = {}
    for kpi in KPIS:
        value = kpi_value(k, kpi)
        if kpi.json_total is not None:
            out[kpi.json_total] = sum(value.values())
        out[kpi.json] = value if kpi.label is None else dict(value)
        if kpi.percent is not None:
            out[kpi.percent] = (
                _percent(value)
                if kpi.label is None
                else {label: _percent(v) for label, v in value.items()}
            )
    return out


async def _kpis(request: web.Request) -> web.Response:
    brand, window = _query(request)
    store, now = request.app[STORE_KEY], request.app[CLOCK_KEY]()
    k = store.snapshot(now)[brand][window]
    start, end = store.window_bounds(now, window)
    body = {
        "brand": brand,
        "window": window,
        "window_start": rfc3339(start),
        "window_end": rfc3339(end),
        "kpis": kpis_json(k),
        "reach_basis": REACH_BASIS,
    }
    return _json(body)


async def _top_authors(request: web.Request) -> web.Response:
    brand, window = _query(request)
    store, now = request.app[STORE_KEY], request.app[CLOCK_KEY]()
    k = request.app[TOP_K_KEY]
    lists = store.top_authors(now, brand, window, k)
    start, end = store.window_bounds(now, window)
    body: dict[str, Any] = {
        "brand": brand,
        "window": window,
        "window_start": rfc3339(start),
        "window_end": rfc3339(end),
        "k": k,
    }
    for name, authors in lists.items():
        body[name] = [
            {
                "author_id": a.id,
                "handle": a.handle,
                "followers": a.followers,
                "verified": a.verified,
                "mentions": a.mentions,
                "engagement_received": a.engagement_received,
                "influence": round(a.influence, 2),
            }
            for a in authors
        ]
    return _json(body)


async def _brands(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    brands = [{"id": b.id, "name": b.name} for b in store.brands.values()]
    return web.json_response({"brands": brands, "windows": list(store.windows)})


async def _top_authors_disabled(request: web.Request) -> web.Response:
    raise _fail(
        web.HTTPNotFound,
        "the per-author API is disabled on this server (api_top_authors: false)",
    )


def add_api_routes(
    app: web.Application,
    store: WindowStore,
    clock: Clock,
    top_k: int,
    *,
    top_authors: bool = True,
) -> None:
    """Serve the JSON API of ``store`` from ``app``, reading windows at ``clock``.

    ``top_authors=False`` answers 404 on ``/api/v1/top-authors``, which names authors.
    """
    app[STORE_KEY] = store
    app[CLOCK_KEY] = clock
    app[TOP_K_KEY] = top_k
    app.router.add_get("/api/v1/kpis", _kpis)
    app.router.add_get(
        "/api/v1/top-authors", _top_authors if top_authors else _top_authors_disabled
    )
    app.router.add_get("/api/v1/brands", _brands)


async def _trends(request: web.Request) -> web.Response:
    """The fleet's trends, filtered mentions and campaigns of one brand over the trend window.

    400 for a missing or unknown brand or window (the body names the valid values). Trends
    are read at the latest event time seen, so a backfill of old events is read where it is.
    """
    signals = request.app[SIGNALS_KEY]
    brand, window = request.query.get("brand"), request.query.get("window")
    brands = list(signals.filtered)
    if not brand or brand not in signals.filtered:
        given = f"unknown brand {brand!r}" if brand else "query parameter 'brand' is required"
        raise _fail(web.HTTPBadRequest, f"{given}; configured brands: {', '.join(brands)}")
    label = signals.trend_window
    if window != label:
        given = f"unknown window {window!r}" if window else "query parameter 'window' is required"
        raise _fail(
            web.HTTPBadRequest,
            f"{given}; trends are kept for window {label} (trends.recent_buckets × "
            "trends.bucket_seconds)",
        )
    at = signals.event_time
    known = at > float("-inf")
    trends = signals.trends_of(brand, at) if known else []
    body = {
        "brand": brand,
        "window": window,
        "evaluated_at": rfc3339(at) if known else None,
        "baseline_ready": known and signals.trends_ready(brand, at),
        "trends": [
            {"term": t.term, "score": round(t.score, 3), "recent": t.recent, "expected": t.expected}
            for t in trends
        ],
        "filtered": signals.filtered_of(brand, at),
        "campaigns": [
            {
                "alert_id": c.key,
                "text": c.text,
                "first_seen": rfc3339(c.first_seen),
                "last_seen": rfc3339(c.last_seen),
                "posts": c.posts,
                "accounts": c.accounts,
            }
            for c in signals.campaigns(brand)
        ],
    }
    return _json(body)


def add_trend_routes(app: web.Application, signals: Signals) -> None:
    """Serve ``/api/v1/trends`` from ``signals`` (the fleet's, once it read the trends topic)."""
    app[SIGNALS_KEY] = signals
    app.router.add_get("/api/v1/trends", _trends)
