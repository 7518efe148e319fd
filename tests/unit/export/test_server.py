"""The HTTP server's probes: /healthz follows the consume loop, /readyz the worker's readiness."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from socialpulse.export.server import build_app


async def _get(path: str, *, ready: bool, healthy: bool) -> tuple[int, str]:
    app = build_app(CollectorRegistry(), ready=lambda: ready, healthy=lambda: healthy)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get(path)
        return resp.status, (await resp.json())["status"]


async def test_probes_pass_when_the_worker_is_well() -> None:
    assert await _get("/healthz", ready=True, healthy=True) == (200, "ok")
    assert await _get("/readyz", ready=True, healthy=True) == (200, "ready")


async def test_a_stalled_loop_fails_health_and_a_stuck_consumer_fails_readiness() -> None:
    assert await _get("/healthz", ready=True, healthy=False) == (503, "stalled")
    assert await _get("/readyz", ready=False, healthy=True) == (503, "not ready")
    # A worker that is alive but not ready stays alive: no restart loop while it restores.
    assert await _get("/healthz", ready=False, healthy=True) == (200, "ok")
