"""The HTTP server: ``/metrics``, ``/healthz``, and the JSON API when given a store."""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections.abc import Callable, Collection
from contextlib import AbstractAsyncContextManager

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted

from socialpulse.core.clock import Clock
from socialpulse.core.signals import Signals
from socialpulse.core.windows.store import WindowStore
from socialpulse.export.api import add_api_routes, add_trend_routes
from socialpulse.export.basic_auth import BasicAuth
from socialpulse.settings import DEFAULT_TOP_K

REGISTRY_KEY = web.AppKey("registry", CollectorRegistry)
# Whether the service is ready: in its group, every owned partition restored, polls succeeding.
Readiness = Callable[[], bool]
READY_KEY: web.AppKey[Readiness] = web.AppKey("ready")
# Whether the process is alive in the sense that matters: its consume loop keeps turning.
HEALTHY_KEY: web.AppKey[Readiness] = web.AppKey("healthy")
# What liveness and readiness probes ask for; open without credentials when so configured.
PROBE_PATHS = ("/healthz", "/readyz")
# Reads the window state on the loop and gives a writer of the body (in chunks) from it, safe to
# run on another thread (``KpiCollector.prepared``); None: the registry is encoded on the loop.
Writer = Callable[[Callable[..., bytes]], list[bytes]]
Preparer = Callable[[], AbstractAsyncContextManager[Writer]]
PREPARE_KEY: web.AppKey[Preparer | None] = web.AppKey("prepare")
SCRAPE_LOCK_KEY = web.AppKey("scrape_lock", asyncio.Lock)
# zlib's fastest level: at 1,000 brands it shrinks the 16 MiB body 15.6-fold in 160 ms on a
# worker thread (zlib lets go of the interpreter); level 6 is 19.3-fold in 520 ms, 9 (what
# prometheus-client's own server uses) 20.9-fold in 2.8 s, past the 1 s a scrape may take.
GZIP_LEVEL = 1
# zlib's ``wbits`` for a gzip stream (header and trailer), what ``Content-Encoding: gzip`` means.
_GZIP_WBITS = 16 + zlib.MAX_WBITS


def _gzipped(body: bytes) -> bytes:
    return zlib.compress(body, GZIP_LEVEL, wbits=_GZIP_WBITS)


def _gzipped_chunks(chunks: list[bytes]) -> list[bytes]:
    """One gzip stream of ``chunks``, in pieces: a chunk at a time, zlib lets go of the GIL."""
    z = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
    out = [z.compress(chunk) for chunk in chunks]
    out.append(z.flush())
    return [piece for piece in out if piece]


async def _metrics(request: web.Request) -> web.StreamResponse:
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    # Prometheus asks for gzip; compressed on a worker thread, like the text is written.
    gzip = gzip_accepted(request.headers.get("Accept-Encoding", ""))
    headers = {"Content-Type": content_type, "Vary": "Accept-Encoding"}
    if gzip:
        headers["Content-Encoding"] = "gzip"
    registry = request.app[REGISTRY_KEY]
    prepare = request.app[PREPARE_KEY]
    if prepare is None:
        body = encoder(registry)
        if gzip:
            body = await asyncio.to_thread(_gzipped, body)
        return web.Response(body=body, headers=headers)
    # One scrape at a time: the prepared copy is the collector's until the text is written.
    async with request.app[SCRAPE_LOCK_KEY], prepare() as write:
        # Off the loop: the consumer keeps its turns while the text is written.
        chunks = await asyncio.to_thread(_written, write, encoder, gzip=gzip)
    # Sent in chunks (at 1,000 brands the body is some 16 MiB, 1 MiB gzipped), each a turn of
    # the loop: handing it over whole would copy it into the transport's buffer in one go.
    response = web.StreamResponse(headers=headers)
    response.content_length = sum(len(chunk) for chunk in chunks)
    await response.prepare(request)
    for chunk in chunks:
        await response.write(chunk)
        await asyncio.sleep(0)
    await response.write_eof()
    return response


def _written(write: Writer, encoder: Callable[..., bytes], *, gzip: bool) -> list[bytes]:
    """The prepared body in chunks, gzipped when asked: both on the same worker thread."""
    chunks = write(encoder)
    return _gzipped_chunks(chunks) if gzip else chunks


async def _healthz(request: web.Request) -> web.Response:
    healthy = request.app[HEALTHY_KEY]()
    return web.json_response(
        {"status": "ok" if healthy else "stalled"}, status=200 if healthy else 503
    )


async def _readyz(request: web.Request) -> web.Response:
    ready = request.app[READY_KEY]()
    return web.json_response(
        {"status": "ready" if ready else "not ready"}, status=200 if ready else 503
    )


def build_app(
    registry: CollectorRegistry,
    store: WindowStore | None = None,
    clock: Clock = time.time,
    top_k: int = DEFAULT_TOP_K,
    ready: Readiness = lambda: True,
    healthy: Readiness = lambda: True,
    *,
    top_authors: bool = True,
    auth: BasicAuth | None = None,
    open_paths: Collection[str] = (),
    prepare: Preparer | None = None,
    signals: Signals | None = None,
) -> web.Application:
    """The web application: ``/metrics``, ``/healthz``, ``/readyz`` and, given a store, the API.

    ``clock`` must be the one the metrics collector reads, so both show the same windows.
    With ``auth`` every path but ``open_paths`` needs credentials. With ``prepare`` (the
    collector's ``prepared``), the exposition is written on a worker thread. With ``signals``
    (the pipeline's), ``/api/v1/trends`` serves this worker's trends.
    """
    app = web.Application(middlewares=[auth.middleware(open_paths)] if auth else [])
    app[REGISTRY_KEY] = registry
    app[PREPARE_KEY] = prepare
    app[SCRAPE_LOCK_KEY] = asyncio.Lock()
    app.router.add_get("/metrics", _metrics)
    app[READY_KEY] = ready
    app[HEALTHY_KEY] = healthy
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    if store is not None:
        add_api_routes(app, store, clock, top_k, top_authors=top_authors)
    if signals is not None:
        add_trend_routes(app, signals)
    return app


class HttpServer:
    """Runs the app on host:port inside the service's event loop, over TLS given a context."""

    def __init__(
        self,
        app: web.Application,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        self._host = host
        self._port = port
        self._ssl_context = ssl_context
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """Base URL of the address actually bound, e.g. ``https://0.0.0.0:9464``."""
        scheme = "https" if self._ssl_context is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and serve; the bound address (port 0 picks one) is in ``host`` and ``port``."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, ssl_context=self._ssl_context)
        try:
            await site.start()
        except OSError as e:
            await self._runner.cleanup()
            raise RuntimeError(
                f"cannot serve metrics on {self._host}:{self._port} ({e.strerror}); "
                "set SOCIALPULSE_METRICS_PORT to a free port"
            ) from e
        addresses = self._runner.addresses
        if addresses:
            self.host, self.port = str(addresses[0][0]), int(addresses[0][1])

    async def stop(self) -> None:
        """Stop serving."""
        await self._runner.cleanup()
