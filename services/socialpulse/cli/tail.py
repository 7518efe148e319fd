"""``socialpulse tail``: a live table of each brand's KPIs, read from a running service's JSON API.

It only reads ``GET /api/v1/brands`` and ``GET /api/v1/kpis`` over HTTP, so it watches any
service it can reach; a worker serves the partitions it owns, so point it at one worker (or a
single-worker service) for whole numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import signal
import ssl
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from socialpulse.settings import Settings, window_seconds

if TYPE_CHECKING:
    import aiohttp
    from rich.table import Table

NEEDS_BRANDS = False
DEFAULT_INTERVAL_S: Final = 2.0
REQUEST_TIMEOUT_S: Final = 5.0
EXIT_OK: Final = 0
EXIT_UNREACHABLE: Final = 1


def _interval(text: str) -> float:
    value = float(text)
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"the interval must be 0.1 to 3600 seconds, not {text}")
    return value


def _window(text: str) -> str:
    try:
        window_seconds(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e
    return text


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``tail``."""
    p = sub.add_parser(
        "tail",
        help="a live view of each brand's KPIs from a running service (Ctrl-C exits)",
        description=(
            "Show mentions, sentiment mix, net sentiment, share of voice, reach and engagements\n"
            "per brand, refreshed in place, from a running service's JSON API\n"
            "(GET /api/v1/kpis). Brands come from the service (GET /api/v1/brands), else from\n"
            "the settings; --brand picks some. Ctrl-C exits with status 0; a service that\n"
            "cannot be reached at the start is exit status 1."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--url",
        default=None,
        help="the service's HTTP address (default: http://127.0.0.1:<metrics_port>)",
    )
    p.add_argument(
        "--window",
        type=_window,
        default=None,
        help="the window to show, one the service has (default: the shortest configured)",
    )
    p.add_argument(
        "--interval",
        type=_interval,
        default=DEFAULT_INTERVAL_S,
        metavar="SECONDS",
        help=f"seconds between refreshes, 0.1 to 3600 (default {DEFAULT_INTERVAL_S:g})",
    )
    p.add_argument("--brand", action="append", default=None, help="a brand id to show (repeatable)")
    tls = p.add_argument_group("a secured service (web_config_file)")
    tls.add_argument("--cafile", type=Path, help="CA certificate that signed the service's")
    tls.add_argument("--cert", type=Path, help="client certificate, when the service requires one")
    tls.add_argument("--key", type=Path, help="the client certificate's key")
    tls.add_argument("--user", help="basic-auth user; the password is read from --password-file")
    tls.add_argument(
        "--password-file",
        type=Path,
        help="file holding the basic-auth password (default: asked for on the terminal)",
    )


def _ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """A client TLS context trusting ``--cafile`` (else the system's), with ``--cert``."""
    if args.cafile is None and args.cert is None:
        return None
    ctx = ssl.create_default_context(cafile=args.cafile)
    if args.cert is not None:
        ctx.load_cert_chain(args.cert, args.key)
    return ctx


def _password(args: argparse.Namespace) -> str:
    if args.password_file is not None:
        return str(args.password_file.read_text(encoding="utf-8")).rstrip("\r\n")
    return getpass.getpass(f"password for {args.user}: ")


@dataclass(frozen=True, slots=True)
class Row:
    """One brand's KPIs in one window, as the API gave them (None: undefined, e.g. 0 ÷ 0)."""

    brand: str
    mentions: int
    positive: int
    neutral: int
    negative: int
    net_sentiment: float | None
    share_of_voice: float | None
    reach: int
    engagements: int

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> Row:
        """A row from a ``/api/v1/kpis`` response body."""
        k = body["kpis"]
        mix = k["mentions_by_sentiment"]
        return cls(
            brand=body["brand"],
            mentions=k["mentions"],
            positive=mix["positive"],
            neutral=mix["neutral"],
            negative=mix["negative"],
            net_sentiment=k["net_sentiment"],
            share_of_voice=k["share_of_voice"]["mentions"],
            reach=k["reach"],
            engagements=k["engagements"],
        )


class ServiceError(Exception):
    """The service could not be reached or answered with an error."""


class KpiClient:
    """Reads brands and KPIs from one service over HTTP."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._session = session
        self.url = url.rstrip("/")

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        import aiohttp

        try:
            async with self._session.get(f"{self.url}{path}", params=params) as resp:
                if resp.status != 200:
                    text = await resp.text()
                    raise ServiceError(f"{path}: HTTP {resp.status}: {text.strip()[:300]}")
                return await resp.json(content_type=None)
        except TimeoutError as e:
            raise ServiceError(
                f"the service at {self.url} did not answer {path} within {REQUEST_TIMEOUT_S:g} s"
            ) from e
        except ValueError as e:
            raise ServiceError(f"the service at {self.url} answered {path} without JSON") from e
        except aiohttp.ClientError as e:
            raise ServiceError(f"cannot reach the service at {self.url}: {e or repr(e)}") from e

    async def brands(self) -> list[str] | None:
        """The service's brand ids, or None when it does not list them (an older service)."""
        try:
            body = await self._get("/api/v1/brands")
        except ServiceError as e:
            if "HTTP 404" in str(e):
                return None
            raise
        return [b["id"] for b in body["brands"]]

    async def rows(self, brands: Sequence[str], window: str) -> list[Row]:
        """Each brand's KPIs in ``window``, fetched concurrently."""
        bodies = await asyncio.gather(
            *(self._get("/api/v1/kpis", {"brand": b, "window": window}) for b in brands)
        )
        return [Row.from_api(body) for body in bodies]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def kpi_table(rows: Sequence[Row], window: str, url: str, note: str) -> Table:
    """The live table: one row per brand."""
    from rich import box
    from rich.table import Table

    table = Table(
        title=f"socialpulse {url} — window {window}",
        caption=note,
        box=box.SIMPLE_HEAD,
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("brand")
    for column in ("mentions", "pos/neu/neg", "net sentiment", "SoV", "reach", "engagements"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            r.brand,
            f"{r.mentions:,}",
            f"{r.positive:,}/{r.neutral:,}/{r.negative:,}",
            _percent(r.net_sentiment),
            _percent(r.share_of_voice),
            f"{r.reach:,}",
            f"{r.engagements:,}",
        )
    return table


async def tail(
    client: KpiClient,
    brands: Sequence[str],
    window: str,
    interval: float,
    stop: asyncio.Event,
    show: Callable[[Table], None],
) -> None:
    """Fetch and ``show`` the table every ``interval`` seconds until ``stop`` is set.

    The first fetch must succeed (ServiceError otherwise); later failures are shown in the
    caption over the last rows, and the next refresh tries again.
    """
    rows = await client.rows(brands, window)
    note = f"updated {time.strftime('%H:%M:%S')}; Ctrl-C exits"
    while True:
        show(kpi_table(rows, window, client.url, note))
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
        if stop.is_set():
            return
        try:
            rows = await client.rows(brands, window)
            note = f"updated {time.strftime('%H:%M:%S')}; Ctrl-C exits"
        except ServiceError as e:
            note = f"stale since the last update: {e}"


async def _main(settings: Settings, args: argparse.Namespace) -> int:
    import aiohttp
    from rich.live import Live

    from socialpulse.cli.output import console

    url = args.url or f"http://127.0.0.1:{settings.metrics_port}"
    try:
        ctx = _ssl_context(args)
        auth = aiohttp.BasicAuth(args.user, _password(args)) if args.user else None
    except (OSError, ssl.SSLError) as e:
        print(f"socialpulse: tail: {e}", file=sys.stderr)  # noqa: T201 - the CLI's own output
        return EXIT_UNREACHABLE
    window = args.window or settings.windows[0]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    out = console()
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    connector = aiohttp.TCPConnector(ssl=ctx) if ctx is not None else None
    async with aiohttp.ClientSession(timeout=timeout, auth=auth, connector=connector) as session:
        client = KpiClient(session, url)
        try:
            brands = args.brand or await client.brands() or [b.id for b in settings.brands]
            if not brands:
                raise ServiceError("no brands: the service lists none and none are configured")
            if out.is_terminal:
                with Live(console=out, auto_refresh=False, screen=False) as live:
                    await tail(
                        client,
                        brands,
                        window,
                        args.interval,
                        stop,
                        lambda t: live.update(t, refresh=True),
                    )
            else:  # a pipe or a log: one table per refresh
                await tail(client, brands, window, args.interval, stop, out.print)
        except ServiceError as e:
            print(f"socialpulse: {e}", file=sys.stderr)  # noqa: T201 - the CLI's own output
            return EXIT_UNREACHABLE
    return EXIT_OK


def main(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``tail``."""
    return asyncio.run(_main(settings, args))
