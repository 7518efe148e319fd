"""Benchmark: one ``/metrics`` scrape at 1,000 brands × 4 windows, and how long it stalls the loop.

    .venv/bin/python tests/bench/bench_scrape.py [--brands 1000] [--hours 2] [--events 60000]
        [--encodings identity,gzip] [--gc default,frozen]

The service's own HTTP app and collector serve a pipeline fed ``--events`` demo events over the
last ``--hours``; meanwhile a feeder in the same event loop keeps processing events (as the
consumer does, 20 every 10 ms) so every scrape finds changed buckets, and a watcher records how
late each ``asyncio.sleep(0.01)`` wakes: the longest of those is the longest the consume loop
was held. Scrapes are 1 s apart, wall time, best and worst of ``--scrapes`` per encoding; the
``--encodings`` asked for (``Accept-Encoding``, as Prometheus sends ``gzip``) take turns, so their
figures come from one run. ``--gc`` phases follow each other in the same process: ``default``
(the collector as Python sets it) and ``frozen`` (the state frozen as the service does once its
partitions are restored, ``app/collection.py``); each prints the collector's longest pause per
generation (``gc.callbacks``), how long a full collection takes at its end, and the RSS then.
Targets: a scrape answers in ≤ 1 s and never holds the loop more
than 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import random
import statistics
import time
import urllib.request
import zlib
from datetime import UTC, datetime

from bench_throughput import machine, many_brands
from prometheus_client import CollectorRegistry

from socialpulse.app.collection import freeze_state
from socialpulse.core.pipeline import Pipeline
from socialpulse.demo.generator import DemoTraffic
from socialpulse.export.collector import register_metrics
from socialpulse.export.server import HttpServer, build_app
from socialpulse.kafka.worker import ConsumerStats
from socialpulse.settings import Settings


def _feed(pipeline: Pipeline, demo: DemoTraffic, start: float, end: float, n: int) -> int:
    span = end - start
    for i in range(n):
        now = start + span * i / n
        stream, key, value = demo.encoded_next(datetime.fromtimestamp(now, tz=UTC))
        pipeline.process(stream, value, (stream, zlib.crc32(key) % 4), now, i)
    return n


class _Pauses:
    """The garbage collector's longest pause and number of collections per generation."""

    def __init__(self) -> None:
        self.longest = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
            return
        generation = info["generation"]
        self.longest[generation] = max(self.longest[generation], time.perf_counter() - self._t0)
        self.count[generation] += 1

    def __str__(self) -> str:
        return ", ".join(
            f"gen{g} {n}× ≤ {1000 * t:.0f} ms"
            for g, (n, t) in enumerate(zip(self.count, self.longest, strict=True))
        )


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _scrape(url: str, encoding: str) -> tuple[float, int, int]:
    """One scrape: seconds until the body is read, its bytes as sent, its samples."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": encoding})  # noqa: S310
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as r:  # noqa: S310 - our own server
        body = r.read()
        sent = r.headers.get("Content-Encoding", "identity")
    took = time.perf_counter() - t0
    if sent != encoding:
        raise SystemExit(f"asked for {encoding}, got {sent}")
    size = len(body)
    if sent == "gzip":
        body = zlib.decompress(body, wbits=16 + zlib.MAX_WBITS)
    series = sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#"))
    return took, size, series


async def bench(args: argparse.Namespace) -> None:
    """Feed, serve, scrape; print scrape latency, loop stall and series count."""
    print(f"machine: {machine()}")  # noqa: T201
    brands = many_brands(args.brands)
    settings = Settings(brands=[b.model_dump() for b in brands], metrics_port=0)
    pipeline = Pipeline(settings)
    demo = DemoTraffic(brands, random.Random(7))
    end = time.time()
    offset = _feed(pipeline, demo, end - args.hours * 3600, end, args.events)
    registry = CollectorRegistry()
    collector = register_metrics(registry, pipeline, time.time, ConsumerStats())
    # As the service wires it (``--service-path`` revisions before the prepared scrape: without).
    wiring = (
        {"prepare": collector.prepared}
        if "prepare" in inspect.signature(build_app).parameters
        else {}
    )
    app = build_app(registry, pipeline.store, time.time, **wiring)  # type: ignore[arg-type]
    server = HttpServer(app, "127.0.0.1", 0)
    await server.start()
    stop = asyncio.Event()
    worst = [0.0]
    overall = [0.0]  # at any time, scrapes or not (a collection put off until after one)

    async def feeder() -> None:
        nonlocal offset
        while not stop.is_set():
            for _ in range(20):
                now = time.time()
                stream, key, value = demo.encoded_next(datetime.fromtimestamp(now, tz=UTC))
                pipeline.process(stream, value, (stream, zlib.crc32(key) % 4), now, offset)
                offset += 1
            await asyncio.sleep(0.01)

    async def watcher() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            late = time.perf_counter() - t - 0.01
            worst[0] = max(worst[0], late)
            overall[0] = max(overall[0], late)

    tasks = [asyncio.create_task(feeder()), asyncio.create_task(watcher())]
    encodings = args.encodings.split(",")
    url = f"http://127.0.0.1:{server.port}/metrics"
    per = 0.0
    for mode in args.gc.split(","):
        if mode == "frozen":
            frozen = freeze_state()
        else:
            gc.unfreeze()
            frozen = 0
        pauses = _Pauses()
        gc.callbacks.append(pauses)
        overall[0] = 0.0
        latencies: dict[str, list[float]] = {e: [] for e in encodings}
        stalls: dict[str, list[float]] = {e: [] for e in encodings}
        sizes: dict[str, int] = {}
        series = 0
        for _ in range(args.scrapes):
            for encoding in encodings:
                await asyncio.sleep(1.0)
                worst[0] = 0.0
                # The scraper is another process in production: here a thread, off the loop.
                took, sizes[encoding], series = await asyncio.to_thread(_scrape, url, encoding)
                latencies[encoding].append(took)
                await asyncio.sleep(0.05)  # let the watcher see the last stretch
                stalls[encoding].append(worst[0])
        gc.callbacks.remove(pauses)
        anytime = overall[0]
        # What the next automatic full collection would hold the loop for, measured.
        t0 = time.perf_counter()
        gc.collect()
        full = time.perf_counter() - t0
        await asyncio.sleep(0.05)  # that stall is this phase's, not the next one's
        per = series / (args.brands * len(settings.window_lengths))
        print(  # noqa: T201
            f"gc {mode} ({frozen:,} objects frozen): {series:,} series ({per:.1f} per brand and "
            f"window, with the service's own); collections {pauses}; a full collection now "
            f"{1000 * full:.0f} ms; RSS {_rss_mib():.0f} MiB"
        )
        for encoding in encodings:
            lat, st = latencies[encoding], stalls[encoding]
            print(  # noqa: T201
                f"  {encoding:>8}: {sizes[encoding] / 2**20:.2f} MiB; scrape: median "
                f"{statistics.median(lat):.3f} s, worst {max(lat):.3f} s (target ≤ 1 s); "
                f"longest loop stall during scrapes: median {1000 * statistics.median(st):.0f} "
                f"ms, worst {1000 * max(st):.0f} ms (target ≤ 50 ms)"
            )
        print(f"  longest loop stall at any time: {1000 * anytime:.0f} ms")  # noqa: T201
    stop.set()
    await asyncio.gather(*tasks)
    await server.stop()
    print(  # noqa: T201
        f"{args.brands} brands × {len(settings.window_lengths)} windows, {args.events:,} events "
        f"over {args.hours:g} h"
    )


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brands", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--scrapes", type=int, default=5, help="per encoding")
    parser.add_argument("--gc", default="default,frozen", help="collector phases, in order")
    parser.add_argument("--encodings", default="identity,gzip", help="Accept-Encoding, in turn")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
