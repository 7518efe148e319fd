"""A real aiohttp webhook receiver for tests: records every request, answers a scripted status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Received:
    """One request as the receiver saw it."""

    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    """Answers the statuses in ``script`` in turn, then 200; keeps every request."""

    script: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(Received(await request.read(), dict(request.headers)))
        status = self.script.pop(0) if self.script else 200
        return web.Response(status=status, text="ok" if status < 300 else "no")


@asynccontextmanager
async def receiver(script: list[int] | None = None) -> AsyncIterator[Receiver]:
    """A receiver listening on a free local port at ``/hook`` while the block runs."""
    r = Receiver(list(script or []))
    app = web.Application()
    app.router.add_post("/hook", r.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    r.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield r
    finally:
        await runner.cleanup()
