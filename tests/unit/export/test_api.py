"""The JSON API: every KPI for a brand and window, the top-authors lists, and clear errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from builders import ALPHA_BETA, iso
from socialpulse.core.pipeline import Pipeline
from socialpulse.export.collector import register_metrics
from socialpulse.export.server import build_app
from socialpulse.settings import Settings

NOW = 1_800_000_030.0
SETTINGS = Settings(brands=ALPHA_BETA)


def _record(**fields: Any) -> bytes:
    fields.setdefault("created_at", iso(NOW - 5))
    fields.setdefault("platform", "x")
    return json.dumps(fields).encode()


@pytest_asyncio.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    p = Pipeline(SETTINGS)
    author = {"id": "u1", "handle": "@u1", "followers": 120, "verified": True}
    p.process(
        "mentions",
        _record(event_id="m1", author=author, text="alpha is great", kind="post"),
        ("m", 0),
        NOW,
        0,
    )
    for n, (kind, extra) in enumerate(
        [("impression", {}), ("like", {"post_id": "m1"}), ("link_click", {})]
    ):
        raw = _record(event_id=f"i{n}", type=kind, brand="a", user_id=f"v{n}", **extra)
        p.process("interactions", raw, ("i", 0), NOW, n)
    registry = CollectorRegistry()
    register_metrics(registry, p, lambda: NOW)
    app = build_app(registry, p.store, lambda: NOW, top_k=5)
    async with TestClient(TestServer(app)) as c:
        yield c


async def test_kpis_json_has_every_kpi_window_bounds_and_nulls(
    client: TestClient[Any, Any],
) -> None:
    resp = await client.get("/api/v1/kpis", params={"brand": "a", "window": "7d"})
    assert resp.status == 200
    body = await resp.json()
    assert body["window_start"] == "2027-01-08T08:00:00Z"  # a week and the part of its first hour
    assert body["window_end"] == "2027-01-15T08:01:00Z"
    k = body["kpis"]
    assert (k["mentions"], k["impressions"], k["engagements"], k["reach"]) == (1, 1, 2, 1)
    assert k["engagement_rate"] == 2.0 and k["engagement_rate_percent"] == 200.0
    assert k["click_through_rate_percent"] == 100.0
    assert k["share_of_voice"]["mentions"] == 1.0
    assert k["share_of_voice_percent"]["engagement"] == 100.0
    assert k["csat"] is None and k["csat_percent"] is None  # no surveys: null, not 0
    assert k["customer_lifetime_value"] is None
    assert k["interactions"]["like"] == 1 and k["interactions"]["purchase"] == 0


async def test_reach_figures_are_marked_measured_or_estimated(
    client: TestClient[Any, Any],
) -> None:
    resp = await client.get("/api/v1/kpis", params={"brand": "a", "window": "5m"})
    body = await resp.json()
    basis = body["reach_basis"]
    assert basis["reach"] == "measured" and basis["potential_reach"] == "estimated"
    assert set(basis) <= set(body["kpis"])
    assert set(basis.values()) <= {"measured", "estimated"}


async def test_top_authors(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/v1/top-authors", params={"brand": "a", "window": "5m"})
    assert resp.status == 200
    body = await resp.json()
    assert body["k"] == 5
    [author] = body["most_engaged"]
    assert author["author_id"] == "u1" and author["engagement_received"] == 1
    assert author["verified"] is True and author["followers"] == 120
    assert 0 < author["influence"] <= 100
    assert body["most_influential"] == body["highest_reach"] == [author]


@pytest.mark.parametrize(
    ("path", "params", "status", "needle"),
    [
        ("/api/v1/kpis", {"brand": "zzz", "window": "5m"}, 404, "unknown brand 'zzz'"),
        ("/api/v1/kpis", {"brand": "a", "window": "2m"}, 404, "unknown window '2m'"),
        ("/api/v1/top-authors", {"brand": "nope", "window": "1h"}, 404, "configured brands: a, b"),
        ("/api/v1/kpis", {"window": "5m"}, 400, "'brand' is required"),
        ("/api/v1/top-authors", {"brand": "a"}, 400, "'window' is required"),
    ],
)
async def test_errors_are_json_with_a_clear_message(
    client: TestClient[Any, Any], path: str, params: dict[str, str], status: int, needle: str
) -> None:
    resp = await client.get(path, params=params)
    assert resp.status == status
    assert resp.content_type == "application/json"
    assert needle in (await resp.json())["error"]


async def test_metrics_and_healthz_still_served(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/healthz")).status == 200
    text = await (await client.get("/metrics")).text()
    assert 'socialpulse_engagements{brand="a",window="5m"} 2.0' in text
    assert "socialpulse_engagement_rate_ratio" not in text  # the recording rules' to divide
    assert 'socialpulse_customer_lifetime_value{brand="a"' not in text  # no purchases: absent


async def test_brands_lists_the_configured_brands_and_windows(
    client: TestClient[Any, Any],
) -> None:
    resp = await client.get("/api/v1/brands")
    assert resp.status == 200
    assert await resp.json() == {
        "brands": [{"id": b.id, "name": b.name} for b in SETTINGS.brands],
        "windows": list(SETTINGS.windows),
    }


@pytest_asyncio.fixture
async def signals_client() -> AsyncIterator[TestClient[Any, Any]]:
    p = Pipeline(SETTINGS)
    text = "alpha gave me a free gift card for testing the new phone, claim yours at the link"
    for n in range(30):
        author = {"id": f"new{n}", "handle": f"@new{n}", "followers": 1}
        raw = _record(event_id=f"c{n}", author=author, text=f"{text} {n}", kind="post")
        p.process("mentions", raw, ("m", 0), NOW, n)
    registry = CollectorRegistry()
    register_metrics(registry, p, lambda: NOW)
    app = build_app(registry, p.store, lambda: NOW, top_k=5, signals=p.signals)
    async with TestClient(TestServer(app)) as c:
        yield c


async def test_trends_json_has_filtered_counts_and_campaigns(
    signals_client: TestClient[Any, Any],
) -> None:
    resp = await signals_client.get("/api/v1/trends", params={"brand": "a", "window": "5m"})
    assert resp.status == 200
    body = await resp.json()
    assert body["brand"] == "a" and body["window"] == "5m"
    assert body["evaluated_at"] == "2027-01-15T08:00:25Z"
    assert body["baseline_ready"] is False and body["trends"] == []
    assert body["filtered"]["campaign"] > 0
    assert sum(body["filtered"].values()) == 29  # digits are folded: copies of the first post
    [campaign] = body["campaigns"]
    assert campaign["posts"] == 30 and campaign["accounts"] == 30
    assert len(campaign["alert_id"]) == 32


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"window": "5m"}, "'brand' is required; configured brands: a, b"),
        ({"brand": "zzz", "window": "5m"}, "unknown brand 'zzz'; configured brands: a, b"),
        ({"brand": "a"}, "'window' is required; trends are kept for window 5m"),
        ({"brand": "a", "window": "1h"}, "unknown window '1h'; trends are kept for window 5m"),
    ],
)
async def test_trends_400_names_what_is_valid(
    signals_client: TestClient[Any, Any], params: dict[str, str], says: str
) -> None:
    resp = await signals_client.get("/api/v1/trends", params=params)
    assert resp.status == 400
    assert says in (await resp.json())["error"]


async def test_filtered_mentions_and_campaigns_are_exported(
    signals_client: TestClient[Any, Any],
) -> None:
    text = await (await signals_client.get("/metrics")).text()
    assert 'socialpulse_mentions_filtered_total{brand="a",reason="campaign"}' in text
    assert 'socialpulse_mentions_filtered_total{brand="b",reason="bot_rate"} 0.0' in text
    assert 'socialpulse_campaigns{brand="a"} 1.0' in text
    assert 'socialpulse_campaigns{brand="b"} 0.0' in text
