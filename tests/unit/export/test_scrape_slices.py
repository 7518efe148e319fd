"""Scrapes that let the consumer run: the state read in slices, the text written off the loop."""

from __future__ import annotations

import asyncio
import gc
import gzip
import time

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.parser import text_string_to_metric_families

from builders import encoded, interaction, mention, off
from socialpulse.core.pipeline import Pipeline
from socialpulse.export import collector as collector_module
from socialpulse.export.collector import KpiCollector, register_metrics, sliced_snapshot
from socialpulse.export.server import HttpServer, _gzipped_chunks, build_app
from socialpulse.kafka.worker import ConsumerStats
from socialpulse.settings import Settings

NOW = 1_800_000_030.0
SRC = ("m", 0)
BRANDS = [
    {"id": f"b{i}", "name": f"B{i}", "terms": [f"brand{i}"], "competitors": [f"b{(i + 1) % 12}"]}
    for i in range(12)
]


def _pipeline() -> Pipeline:
    p = Pipeline(Settings(brands=BRANDS, spam={"enabled": False}))  # repeated texts, by design
    for i in range(12):
        for n in range(i + 1):
            text = f"brand{i} is great" if n % 2 else f"brand{i} is awful"
            p.process(
                "mentions", encoded(mention(NOW - 60 * n, f"u{n}", text=text)), SRC, NOW, off()
            )
        p.process("interactions", encoded(interaction(NOW - 5, "like", f"b{i}")), SRC, NOW, off())
    return p


async def test_sliced_snapshot_is_the_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    p = _pipeline()
    monkeypatch.setattr(collector_module, "SLICE_SECONDS", 0.0)  # yield after every brand
    assert await sliced_snapshot(p.store, NOW) == p.store.snapshot(NOW)


async def test_sliced_snapshot_lets_other_tasks_run(monkeypatch: pytest.MonkeyPatch) -> None:
    p = _pipeline()
    monkeypatch.setattr(collector_module, "SLICE_SECONDS", 0.0)
    turns = 0

    async def other() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    await asyncio.sleep(0)
    before = turns
    await sliced_snapshot(p.store, NOW)
    task.cancel()
    assert turns - before >= len(BRANDS) - 1


async def test_a_task_woken_during_a_slice_runs_before_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As the consumer is woken (a timer, a socket): it runs between slices, not two later."""
    p = _pipeline()
    monkeypatch.setattr(collector_module, "SLICE_SECONDS", 0.0)  # a slice per brand
    loop = asyncio.get_running_loop()
    order: list[str] = []
    woken: asyncio.Queue[asyncio.Future[None]] = asyncio.Queue()
    snapshot = p.store.brand_snapshot

    def read(brand: str, now: float) -> object:
        order.append("slice")
        wake = loop.create_future()
        woken.put_nowait(wake)
        loop.call_later(0, wake.set_result, None)  # due now: made ready at the next turn
        return snapshot(brand, now)

    p.store.brand_snapshot = read  # type: ignore[assignment,method-assign]

    async def consumer() -> None:
        while True:
            await (await woken.get())
            order.append("consumer")

    task = asyncio.create_task(consumer())
    await sliced_snapshot(p.store, NOW)
    await asyncio.sleep(0.01)
    task.cancel()
    assert order == ["slice", "consumer"] * len(BRANDS)


def _signals_pipeline() -> Pipeline:
    """Brands with filtered mentions and a live campaign (the signals families' samples)."""
    p = Pipeline(Settings(brands=BRANDS))
    text = "brand1 gave me a free gift card for testing the new phone, claim yours at the link"
    for n in range(30):
        raw = encoded(mention(NOW - 5, f"new{n}", 1, text=f"{text} {n}"))
        p.process("mentions", raw, SRC, NOW, off())
    return p


OPENMETRICS = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"


@pytest.mark.parametrize("chunk_bytes", [collector_module.CHUNK_BYTES, 64])
@pytest.mark.parametrize("accept", ["", OPENMETRICS])
async def test_the_prepared_body_is_byte_for_byte_the_encoder_s(
    accept: str, chunk_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KPI and signals lines written directly, in chunks, join to what prometheus-client writes."""
    monkeypatch.setattr(collector_module, "CHUNK_BYTES", chunk_bytes)
    p = _signals_pipeline()
    filtered = p.signals.filtered["b1"]
    assert sum(filtered.values()) > 0
    assert p.signals.campaigns()
    collector = KpiCollector(p, lambda: NOW, ConsumerStats(lag={SRC: 3}))
    registry = CollectorRegistry()
    registry.register(collector)  # no process metrics: nothing moves between the two
    encoder, _ = choose_encoder(accept)
    want = encoder(registry)
    async with collector.prepared() as write:
        chunks = await asyncio.to_thread(write, encoder)
    assert b"".join(chunks) == want
    assert len(chunks) > 1 if chunk_bytes == 64 else len(chunks) >= 1
    largest_line = max(len(line) for line in want.splitlines(keepends=True))
    assert all(len(c) < chunk_bytes + 40 * largest_line for c in chunks[:-1])
    assert b'socialpulse_campaigns{brand="b1"} 1.0\n' in want
    assert b'socialpulse_mentions_filtered_total{brand="b1",reason="campaign"}' in want


def test_gzipped_chunks_are_one_gzip_stream_of_the_body() -> None:
    chunks = [f"line {i} ".encode() * (i + 1) for i in range(300)]
    body = b"".join(chunks)
    assert gzip.decompress(b"".join(_gzipped_chunks(chunks))) == body
    assert gzip.decompress(b"".join(_gzipped_chunks([body]))) == body
    assert gzip.decompress(b"".join(_gzipped_chunks([]))) == b""


@pytest.mark.parametrize("accept", ["", OPENMETRICS])
async def test_prepared_scrape_serves_the_same_text(accept: str) -> None:
    """The direct KPI text equals what the encoder asked for writes from ``collect``."""
    p = _pipeline()
    registry = CollectorRegistry()
    collector = register_metrics(registry, p, lambda: NOW, ConsumerStats(lag={SRC: 3}))
    encoder, _ = choose_encoder(accept)
    want = encoder(registry).decode()
    server = HttpServer(build_app(registry, prepare=collector.prepared), "127.0.0.1", 0)
    await server.start()
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{server.port}/metrics", headers={"Accept": accept}) as r,
        ):
            got = await r.text()
    finally:
        await server.stop()

    def kpis(text: str) -> list[str]:  # process CPU and memory move between the two reads
        return [line for line in text.splitlines() if not line.startswith(("process_", "#"))]

    assert kpis(got) == kpis(want)
    headers = [line for line in got.splitlines() if line.startswith("#")]
    assert headers == [line for line in want.splitlines() if line.startswith("#")]
    assert got.endswith("# EOF\n") == want.endswith("# EOF\n")
    mentions = p.store.snapshot(NOW)["b11"]["1h"].mentions
    assert mentions == 12
    assert f'socialpulse_mentions{{brand="b11",platform="x",window="1h"}} {mentions:.1f}' in got


async def test_collections_wait_until_the_scrape_is_written() -> None:
    p = _pipeline()
    registry = CollectorRegistry()
    collector = register_metrics(registry, p, lambda: NOW)
    assert gc.isenabled()
    try:
        async with collector.prepared() as write:
            assert not gc.isenabled()
            write(choose_encoder("")[0])
        assert gc.isenabled()
        gc.disable()  # a process that turned collections off keeps them off
        async with collector.prepared():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


async def test_scrapes_reuse_unchanged_brands_and_stay_exact() -> None:
    """Scrape after scrape the body is what a collector without a cache writes.

    Between scrapes: nothing, events for one brand, a new minute. Unchanged brands are not read
    again.
    """
    p = _pipeline()
    clock = [NOW]
    cached = register_metrics(CollectorRegistry(), p, lambda: clock[0])
    encoder, _ = choose_encoder("")
    reads: list[str] = []
    snapshot = p.store.brand_snapshot

    def counted(brand: str, now: float) -> object:
        reads.append(brand)
        return snapshot(brand, now)

    p.store.brand_snapshot = counted  # type: ignore[assignment,method-assign]

    async def body() -> str:
        async with cached.prepared() as write:
            return b"".join(write(encoder)).decode()

    def fresh() -> str:
        registry = CollectorRegistry()
        register_metrics(registry, p, lambda: clock[0])
        return encoder(registry).decode()

    def strip(text: str) -> list[str]:  # process metrics move between two reads
        return [line for line in text.splitlines() if not line.startswith("process_")]

    assert strip(await body()) == strip(fresh())
    reads.clear()
    again = strip(await body())
    assert reads == []  # nothing changed: no brand read again
    assert again == strip(fresh())
    text = "brand3 is wonderful"
    p.process("mentions", encoded(mention(NOW - 1, "z", text=text)), SRC, NOW, off())
    reads.clear()
    got = strip(await body())
    assert reads == ["b3"]
    assert got == strip(fresh())
    clock[0] = NOW + 60  # a new minute: every window moved
    reads.clear()
    got = strip(await body())
    assert len(reads) == len(BRANDS)
    assert got == strip(fresh())


async def test_a_prepared_scrape_builds_the_kpi_families_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The KPI lines are written directly; ``collect`` does not build them again to drop them."""
    p = _pipeline()
    registry = CollectorRegistry()
    collector = register_metrics(registry, p, lambda: NOW)
    built: list[int] = []
    window_metrics = collector_module.KpiCollector._window_metrics

    def counted(self: collector_module.KpiCollector, prepared: object) -> object:
        built.append(1)
        return window_metrics(self, prepared)  # type: ignore[arg-type]

    monkeypatch.setattr(collector_module.KpiCollector, "_window_metrics", counted)
    async with collector.prepared() as write:
        text = b"".join(await asyncio.to_thread(write, choose_encoder("")[0]))
    assert built == []
    assert 'socialpulse_mentions{brand="b3"' in text.decode()
    assert "socialpulse_ready" not in text.decode()  # no consumer given
    assert "socialpulse_events_processed_total" in text.decode()
    generate = choose_encoder("")[0](registry).decode()  # a plain encode still has them
    assert built == [1]
    assert 'socialpulse_mentions{brand="b3"' in generate


async def test_the_body_is_what_was_read_on_the_loop() -> None:
    """Events applied while the body is written (on another thread) show in the next scrape."""
    p = _pipeline()
    registry = CollectorRegistry()
    collector = register_metrics(registry, p, lambda: NOW, ConsumerStats())
    encoder = choose_encoder("")[0]
    async with collector.prepared() as write:
        p.process("mentions", b"{", SRC, NOW, off())  # a reject and a mention, meanwhile
        text = "brand3 is wonderful"
        p.process("mentions", encoded(mention(NOW - 1, "z", text=text)), SRC, NOW, off())
        body = b"".join(write(encoder)).decode()
    assert 'socialpulse_events_rejected_total{reason="invalid_json"} 0.0' in body
    assert 'socialpulse_mentions_tagged{brand="b3",window="5m"} 0.0' in body
    assert 'socialpulse_events_processed_total{stream="mentions"} 78.0' in body
    async with collector.prepared() as write:
        body = b"".join(write(encoder)).decode()
    assert 'socialpulse_events_rejected_total{reason="invalid_json"} 1.0' in body
    assert 'socialpulse_events_processed_total{stream="mentions"} 80.0' in body


async def test_the_last_scrape_s_snapshot_is_lent_while_recent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The live summary reads the last scrape's copy rather than every brand again."""
    p = _pipeline()
    collector = register_metrics(CollectorRegistry(), p, lambda: NOW)
    assert collector.recent(5.0) is None  # no scrape yet
    async with collector.prepared():
        pass
    assert collector.recent(5.0) == p.store.snapshot(NOW)
    later = time.monotonic() + 6.0
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert collector.recent(5.0) is None


@pytest.mark.parametrize(
    "value", [0, 1, 7, 10**6, 10**7, 123456789, 0.0, -0.0, 0.5, 1e-7, 2.5e21, float("inf")]
)
def test_values_are_written_as_the_encoders_write_them(value: float) -> None:
    for _ in range(2):  # the second time from the kept text
        assert collector_module._go(value) == collector_module.floatToGoString(value)


@pytest.mark.parametrize("chunk_bytes", [collector_module.CHUNK_BYTES, 512])
@pytest.mark.parametrize("prepared", [True, False])
async def test_a_gzip_client_gets_the_same_exposition_compressed(
    prepared: bool, chunk_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prometheus asks for gzip: the body decompresses to the text an identity client gets."""
    monkeypatch.setattr(collector_module, "CHUNK_BYTES", chunk_bytes)
    p = _pipeline()
    registry = CollectorRegistry()
    collector = register_metrics(registry, p, lambda: NOW, ConsumerStats(lag={SRC: 3}))
    app = build_app(registry, prepare=collector.prepared if prepared else None)
    server = HttpServer(app, "127.0.0.1", 0)
    await server.start()
    url = f"http://127.0.0.1:{server.port}/metrics"
    try:
        # auto_decompress off: the bytes as sent, decompressed here to check them.
        async with aiohttp.ClientSession(auto_decompress=False) as http:
            async with http.get(url, headers={"Accept-Encoding": "gzip"}) as r:
                gz_headers, gz_body = r.headers, await r.read()
            async with http.get(url, headers={"Accept-Encoding": "identity"}) as r:
                plain_headers, plain = r.headers, await r.read()
    finally:
        await server.stop()
    assert gz_headers["Content-Encoding"] == "gzip"
    assert gz_headers["Content-Type"] == plain_headers["Content-Type"]
    assert "Content-Encoding" not in plain_headers
    assert int(gz_headers["Content-Length"]) == len(gz_body) < len(plain)
    unzipped = gzip.decompress(gz_body)

    def steady(text: bytes) -> list[bytes]:  # process CPU and memory move between the scrapes
        return [line for line in text.splitlines() if not line.startswith(b"process_")]

    assert steady(unzipped) == steady(plain)
    # A valid exposition, every KPI sample in it.
    families = {f.name: f for f in text_string_to_metric_families(unzipped.decode())}
    mentions = p.store.snapshot(NOW)["b11"]["1h"].mentions
    samples = families["socialpulse_mentions"].samples
    assert any(s.labels == {"brand": "b11", "platform": "x", "window": "1h"} for s in samples)
    assert mentions in {s.value for s in samples if s.labels.get("brand") == "b11"}
