"""Basic auth on every path (probes open only when asked), and the per-author API switch."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from typing import Any

import bcrypt
import pytest
import pytest_asyncio
from aiohttp import encode_basic_auth
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from builders import ALPHA_BETA
from socialpulse.core.pipeline import Pipeline
from socialpulse.export.basic_auth import BasicAuth
from socialpulse.export.server import PROBE_PATHS, build_app
from socialpulse.settings import Settings

NOW = 1_800_000_030.0
USERS = {
    "prometheus": bcrypt.hashpw(b"scrape-me", bcrypt.gensalt(rounds=4)).decode(),
    "grafana": bcrypt.hashpw(b"dash", bcrypt.gensalt(rounds=4)).decode(),
}
GOOD = encode_basic_auth("prometheus", "scrape-me")
PATHS = ["/metrics", "/healthz", "/readyz", "/api/v1/kpis?brand=a&window=5m"]

ClientFactory = Callable[..., Any]


@pytest_asyncio.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    clients: list[TestClient[Any, Any]] = []

    async def make(**kwargs: Any) -> TestClient[Any, Any]:
        p = Pipeline(Settings(brands=ALPHA_BETA))
        app = build_app(CollectorRegistry(), p.store, lambda: NOW, **kwargs)
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for c in clients:
        await c.close()


@pytest.mark.parametrize("path", PATHS)
async def test_missing_or_wrong_credentials_get_401_with_a_basic_challenge(
    make_client: ClientFactory, path: str
) -> None:
    client = await make_client(auth=BasicAuth(USERS))
    for creds in (
        None,
        encode_basic_auth("prometheus", "wrong"),
        encode_basic_auth("nobody", "scrape-me"),
        encode_basic_auth("grafana", "scrape-me"),  # another user's password
    ):
        resp = await client.get(path, headers={"Authorization": creds} if creds else {})
        assert resp.status == 401, (path, creds)
        assert resp.headers["WWW-Authenticate"].startswith("Basic ")
        assert await resp.json() == {"error": "authentication required"}
    assert (await client.get(path, headers={"Authorization": GOOD})).status == 200


@pytest.mark.parametrize(
    "header",
    ["Bearer abc", "Basic !!!not-base64", "Basic " + base64.b64encode(b"no-colon").decode(), ""],
)
async def test_malformed_authorization_headers_get_401(
    make_client: ClientFactory, header: str
) -> None:
    client = await make_client(auth=BasicAuth(USERS))
    assert (await client.get("/metrics", headers={"Authorization": header})).status == 401


async def test_a_good_check_is_cached_a_bad_one_is_not() -> None:
    auth = BasicAuth(USERS)
    assert await auth.verify(GOOD) and await auth.verify(GOOD) and await auth.verify(GOOD)
    assert auth.bcrypt_checks == 1
    bad = encode_basic_auth("prometheus", "wrong")
    assert not await auth.verify(bad) and not await auth.verify(bad)
    assert auth.bcrypt_checks == 3
    assert await auth.verify(encode_basic_auth("grafana", "dash"))
    assert auth.bcrypt_checks == 4


async def test_the_cache_is_bounded() -> None:
    auth = BasicAuth(USERS, cache_size=1)
    grafana = encode_basic_auth("grafana", "dash")
    assert await auth.verify(GOOD) and await auth.verify(grafana)
    assert await auth.verify(GOOD)  # evicted by grafana: checked again
    assert auth.bcrypt_checks == 3


async def test_probes_are_open_only_when_asked(make_client: ClientFactory) -> None:
    client = await make_client(auth=BasicAuth(USERS), open_paths=PROBE_PATHS)
    for path in PROBE_PATHS:
        assert (await client.get(path)).status == 200
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/api/v1/kpis", params={"brand": "a", "window": "5m"})).status == 401


async def test_top_authors_can_be_switched_off(make_client: ClientFactory) -> None:
    params = {"brand": "a", "window": "5m"}
    on = await make_client()
    assert (await on.get("/api/v1/top-authors", params=params)).status == 200
    off = await make_client(top_authors=False)
    resp = await off.get("/api/v1/top-authors", params=params)
    assert resp.status == 404
    assert "per-author API is disabled" in (await resp.json())["error"]
    assert (await off.get("/api/v1/kpis", params=params)).status == 200
