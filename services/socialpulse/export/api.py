"""The KPI JSON API: ``/api/v1/kpis`` and ``/api/v1/top-authors`` for one brand and window."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from socialpulse.core.clock import Clock, rfc3339
from socialpulse.core.kpis import COUNTS, MENTION_KINDS, RATIOS, SENTIMENTS, SOV_BASES, WindowKpis
from socialpulse.core.windows.store import WindowStore

STORE_KEY = web.AppKey("store", WindowStore)
CLOCK_KEY: web.AppKey[Clock] = web.AppKey("clock")
TOP_K_KEY = web.AppKey("top_k", int)


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
    out: dict[str, Any] = {
        "mentions": k.mentions,
        "mentions_by_platform": dict(sorted(k.mentions_by_platform.items())),
        "mentions_by_kind": {kind: k.mentions_by_kind.get(kind, 0) for kind in MENTION_KINDS},
        "mentions_by_sentiment": {s: getattr(k, s) for s in SENTIMENTS},
        "interactions": dict(k.interactions),
        "followers_at_window_start": k.followers_at_window_start,
        "share_of_voice_base": dict(k.share_of_voice_base),
        "share_of_voice_set_base": dict(k.share_of_voice_set_base),
    }
    for _, name, read in COUNTS:
        out[name] = read(k)
    for metric, name, read_ratio in RATIOS:
        value = read_ratio(k)
        out[name] = value
        if metric.endswith("_ratio"):
            out[f"{name}_percent"] = _percent(value)
    shares = k.share_of_voice_by
    out["share_of_voice"] = {b: shares[b] for b in SOV_BASES}
    out["share_of_voice_percent"] = {b: _percent(shares[b]) for b in SOV_BASES}
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


def add_api_routes(app: web.Application, store: WindowStore, clock: Clock, top_k: int) -> None:
    """Serve the JSON API of ``store`` from ``app``, reading windows at ``clock``."""
    app[STORE_KEY] = store
    app[CLOCK_KEY] = clock
    app[TOP_K_KEY] = top_k
    app.router.add_get("/api/v1/kpis", _kpis)
    app.router.add_get("/api/v1/top-authors", _top_authors)
