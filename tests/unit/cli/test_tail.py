"""``socialpulse tail`` against a real HTTP server of the service, fed by a pipeline."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.table import Table

from builders import ALPHA_BETA, encoded, interaction, mention, off
from socialpulse.cli.main import main
from socialpulse.cli.tail import KpiClient, Row, kpi_table, tail
from socialpulse.core.pipeline import Pipeline
from socialpulse.export.collector import register_metrics
from socialpulse.export.server import HttpServer, build_app
from socialpulse.settings import Settings

pytestmark = pytest.mark.usefixtures("clean_environment")

NOW = 1_800_000_030.0
SETTINGS = Settings(brands=ALPHA_BETA)


@dataclass
class Service:
    pipeline: Pipeline
    server: HttpServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def feed_mention(self, text: str, author: str = "u1", followers: int = 10) -> None:
        raw = encoded(mention(NOW - 5, author=author, followers=followers, text=text))
        assert self.pipeline.process("mentions", raw, ("m", 0), NOW, off()) is None

    def feed_like(self, user: str) -> None:
        raw = encoded(interaction(NOW - 5, "like", brand="a", user=user))
        assert self.pipeline.process("interactions", raw, ("i", 0), NOW, off()) is None


@pytest_asyncio.fixture
async def service() -> AsyncIterator[Service]:
    pipeline = Pipeline(SETTINGS)
    registry = CollectorRegistry()
    register_metrics(registry, pipeline, lambda: NOW)
    server = HttpServer(build_app(registry, pipeline.store, lambda: NOW), "127.0.0.1", 0)
    await server.start()
    s = Service(pipeline, server)
    s.feed_mention("alpha is great, love it", author="u1", followers=100)
    s.feed_mention("alpha is awful", author="u2", followers=50)
    s.feed_mention("beta and alpha, fine", author="u3", followers=7)
    s.feed_mention("beta is wonderful", author="u3", followers=7)
    s.feed_like("v1")
    s.feed_like("v2")
    try:
        yield s
    finally:
        await server.stop()


def _expected(s: Service, brand: str) -> Row:
    """The row straight from the store the server reads."""
    k = s.pipeline.store.snapshot(NOW)[brand]["5m"]
    return Row(
        brand,
        k.mentions,
        k.positive,
        k.neutral,
        k.negative,
        k.net_sentiment,
        k.share_of_voice,
        k.reach,
        k.engagements,
    )


async def _tail_tables(s: Service, refreshes: int, between: object = None) -> list[Table]:
    tables: list[Table] = []
    stop = asyncio.Event()

    def show(table: Table) -> None:
        tables.append(table)
        if callable(between):
            between(len(tables))
        if len(tables) >= refreshes:
            stop.set()

    async with aiohttp.ClientSession() as session:
        client = KpiClient(session, s.url)
        brands = await client.brands()
        assert brands == ["a", "b"]
        await tail(client, brands, "5m", 0.05, stop, show)
    return tables


def _cells(table: Table) -> list[list[str]]:
    out = io.StringIO()
    Console(file=out, width=200).print(table)
    lines = out.getvalue().splitlines()
    return [line.split() for line in lines if line.strip()[:2] in ("a ", "b ")]


async def test_each_brand_row_shows_the_services_kpis(service: Service) -> None:
    async with aiohttp.ClientSession() as session:
        rows = await KpiClient(session, service.url).rows(["a", "b"], "5m")
    assert rows == [_expected(service, "a"), _expected(service, "b")]
    a = rows[0]
    assert (a.mentions, a.positive, a.negative, a.engagements) == (3, 2, 1, 2)
    (table,) = await _tail_tables(service, 1)
    cells = dict((row[0], row[1:]) for row in _cells(table))
    assert cells["a"][:2] == ["3", f"{a.positive}/{a.neutral}/{a.negative}"]
    assert a.net_sentiment is not None and a.share_of_voice is not None
    assert cells["a"][2:] == [
        f"{100 * a.net_sentiment:.1f}%",
        f"{100 * a.share_of_voice:.1f}%",
        f"{a.reach:,}",
        "2",
    ]


async def test_it_refreshes_in_place_with_new_events(service: Service) -> None:
    def more(shown: int) -> None:
        if shown == 1:
            service.feed_mention("beta again", author="u9")

    first, second = await _tail_tables(service, 2, more)
    assert _cells(first)[1][1] == "2"
    assert _cells(second)[1][1] == "3"


async def test_a_service_gone_mid_tail_leaves_the_last_rows_marked_stale(
    service: Service,
) -> None:
    tables: list[Table] = []
    stop, shown = asyncio.Event(), asyncio.Event()

    def show(table: Table) -> None:
        tables.append(table)
        shown.set()
        if len(tables) == 2:
            stop.set()

    async with aiohttp.ClientSession() as session:
        client = KpiClient(session, service.url)
        task = asyncio.create_task(tail(client, ["a", "b"], "5m", 0.2, stop, show))
        await asyncio.wait_for(shown.wait(), timeout=10)
        await service.server.stop()
        await asyncio.wait_for(task, timeout=10)
    assert "updated" in str(tables[0].caption)
    assert "stale since the last update: cannot reach the service" in str(tables[1].caption)
    assert _cells(tables[1]) == _cells(tables[0])


def test_kpi_table_shows_undefined_ratios_as_a_dash() -> None:
    (cells,) = _cells(kpi_table([Row("a", 0, 0, 0, 0, None, None, 0, 0)], "5m", "u", ""))
    assert cells == ["a", "0", "0/0/0", "-", "-", "0", "0"]


async def test_the_command_runs_until_ctrl_c_and_exits_0(service: Service) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "socialpulse.cli",
        "tail",
        "--url",
        service.url,
        "--interval",
        "0.2",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": os.environ.get("PATH", "")},
    )
    assert proc.stdout is not None
    seen = b""
    while seen.count(b"window 5m") < 2:  # refreshed at least once
        seen += await asyncio.wait_for(proc.stdout.read(4096), timeout=30)
    proc.send_signal(signal.SIGINT)
    rest, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, err.decode()
    rows = [line.split() for line in (seen + rest).decode().splitlines()]
    assert ["a", "3", "2/0/1"] in [r[:3] for r in rows]


def test_an_unreachable_service_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tail", "--url", "http://127.0.0.1:1"]) == 1
    assert "cannot reach the service at http://127.0.0.1:1" in capsys.readouterr().err


async def test_an_unknown_brand_is_the_services_error(service: Service) -> None:
    async with aiohttp.ClientSession() as session:
        client = KpiClient(session, service.url)
        with pytest.raises(Exception, match="HTTP 404.*unknown brand 'zz'"):
            await client.rows(["zz"], "5m")
