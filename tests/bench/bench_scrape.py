"""Benchmark: one ``/metrics`` scrape at 1,000 brands × 4 windows, and how long it stalls the loop.

    .venv/bin/python tests/bench/bench_scrape.py [--brands 1000] [--hours 2] [--events 60000]
        [--encodings identity,gzip] [--gc default,frozen] [--trace N]

The service's own HTTP app and collector serve a pipeline fed ``--events`` demo events over the
last ``--hours``; meanwhile a feeder in the same event loop keeps processing events (as the
consumer does, 20 every 10 ms) so every scrape finds changed buckets, and a watcher records how
late each ``asyncio.sleep(0.01)`` wakes: the longest of those is the longest the consume loop
was held. Scrapes are 1 s apart, wall time, best and worst of ``--scrapes`` per encoding, made by
another process as Prometheus is (a thread's reading and counting of the body held the
interpreter, and so the loop, up to 90 ms); the ``--encodings`` asked for (``Accept-Encoding``,
as Prometheus sends ``gzip``) take turns, so their figures come from one run. Beside wall times:
the served process's CPU time per scrape, and the CPU time the loop's thread and the process
spent over the longest stall (on a shared machine a stall far longer than both was other
processes holding the cores). ``--gc`` phases follow each other in the same process: ``default``
(the collector as Python sets it) and ``frozen`` (the state frozen as the service does once its
partitions are restored, ``app/collection.py``); each prints the collector's longest pause per
generation (``gc.callbacks``), how long a full collection takes at its end, and the RSS then.
``--trace N`` prints, for each of the N longest loop stalls, what the loop ran meanwhile: every
callback of a millisecond or more (a task's step named by where it stopped, so a collector slice
by the function that yields after it) with its wall time, the loop thread's CPU time and the
process's (less than wall: the cores were busy elsewhere, or another thread held the interpreter
when the process's is above the loop thread's), and collections.

Targets: a scrape answers in ≤ 1 s and never holds the loop more than 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gc
import inspect
import multiprocessing
import random
import statistics
import time
import urllib.request
import zlib
from concurrent.futures import ProcessPoolExecutor
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


# A traced callback or collection: start, end, wall, loop-thread CPU, process CPU, what ran.
_Run = tuple[float, float, float, float, float, str]


class _Trace:
    """Every loop callback's and collection's wall, loop-thread CPU and process CPU time."""

    def __init__(self) -> None:
        self.runs: list[_Run] = []
        self._gc = (0.0, 0.0, 0.0)
        self._run = asyncio.events.Handle._run  # noqa: SLF001 - what is traced

    def install(self) -> None:
        trace, run = self, self._run

        def traced(handle: asyncio.Handle) -> None:
            t0, c0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
            run(handle)
            t1 = time.perf_counter()
            if t1 - t0 >= 0.001:
                cpu, proc = time.thread_time() - c0, time.process_time() - p0
                trace.runs.append((t0, t1, t1 - t0, cpu, proc, _what(handle)))

        asyncio.events.Handle._run = traced  # type: ignore[method-assign,assignment]  # noqa: SLF001
        gc.callbacks.append(self._collection)

    def uninstall(self) -> None:
        asyncio.events.Handle._run = self._run  # type: ignore[method-assign]  # noqa: SLF001
        gc.callbacks.remove(self._collection)

    def _collection(self, phase: str, info: dict[str, int]) -> None:
        now = (time.perf_counter(), time.thread_time(), time.process_time())
        if phase == "start":
            self._gc = now
            return
        t0, c0, p0 = self._gc
        if now[0] - t0 >= 0.001:
            what = f"  (within it) gc gen{info['generation']}"
            self.runs.append((t0, now[0], now[0] - t0, now[1] - c0, now[2] - p0, what))

    def during(self, start: float, end: float) -> list[_Run]:
        """Callbacks and collections that ran at some time between ``start`` and ``end``."""
        self.runs.sort()
        i = bisect.bisect_left(self.runs, (start - 1.0,))
        return [r for r in self.runs[i:] if r[0] < end and r[1] > start]


def _what(handle: asyncio.Handle) -> str:
    """A callback, or for a task's step the coroutines it stopped in, innermost last."""
    callback = handle._callback  # type: ignore[attr-defined]  # noqa: SLF001 - traced
    task = getattr(callback, "__self__", None)
    if not isinstance(task, asyncio.Task):
        return getattr(callback, "__qualname__", repr(callback))
    where: list[str] = []
    coro: object = task.get_coro()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        if frame is None:  # ``anext``'s awaitable: the async generator it runs
            inner = [o for o in gc.get_referents(coro) if hasattr(o, "ag_frame")]
            if not inner:
                break
            coro = inner[0]
            continue
        where.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    return "step " + " > ".join(where) if where else f"step {task.get_name()} (done)"


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
    # The longest stall since reset: wall time, and the CPU time the loop's thread and the
    # process spent over it (wall well above both: the cores were busy with other processes).
    worst = [0.0, 0.0, 0.0]
    # The longest stalls: (late, when the watcher should have woken, when it did, the loop
    # thread's and the process's CPU time over its sleep).
    stalls_seen: list[tuple[float, float, float, float, float]] = []
    trace = _Trace() if args.trace else None
    if trace is not None:
        trace.install()
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
            t, c, p = time.perf_counter(), time.thread_time(), time.process_time()
            await asyncio.sleep(0.01)
            woke = time.perf_counter()
            late = woke - t - 0.01
            cpu, proc = time.thread_time() - c, time.process_time() - p
            if trace is not None and late > 0.005:
                stalls_seen.append((late, t + 0.01, woke, cpu, proc))
            if late > worst[0]:
                worst[:] = late, cpu, proc
            overall[0] = max(overall[0], late)

    tasks = [asyncio.create_task(feeder()), asyncio.create_task(watcher())]
    encodings = args.encodings.split(",")
    url = f"http://127.0.0.1:{server.port}/metrics"
    loop = asyncio.get_running_loop()
    # Spawned, not forked: a fork would copy the whole state (and the loop's threads' locks).
    scraper = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    await loop.run_in_executor(scraper, time.time)  # started before anything is measured
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
        stalls: dict[str, list[list[float]]] = {e: [] for e in encodings}
        cpus: dict[str, list[float]] = {e: [] for e in encodings}
        sizes: dict[str, int] = {}
        series = 0
        for _ in range(args.scrapes):
            for encoding in encodings:
                await asyncio.sleep(1.0)
                worst[:] = 0.0, 0.0, 0.0
                cpu0 = time.process_time()
                scrape = loop.run_in_executor(scraper, _scrape, url, encoding)
                took, sizes[encoding], series = await scrape
                cpus[encoding].append(time.process_time() - cpu0)
                latencies[encoding].append(took)
                await asyncio.sleep(0.05)  # let the watcher see the last stretch
                stalls[encoding].append(list(worst))
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
            lat, st = latencies[encoding], [s[0] for s in stalls[encoding]]
            _, cpu, proc = max(stalls[encoding])
            print(  # noqa: T201
                f"  {encoding:>8}: {sizes[encoding] / 2**20:.2f} MiB; scrape: median "
                f"{statistics.median(lat):.3f} s, worst {max(lat):.3f} s (target ≤ 1 s), process "
                f"CPU over it (the feeder's too) median {statistics.median(cpus[encoding]):.3f} s; "
                f"longest loop stall during "
                f"scrapes: median {1000 * statistics.median(st):.0f} ms, worst "
                f"{1000 * max(st):.0f} ms (target ≤ 50 ms; CPU over it: loop thread "
                f"{1000 * cpu:.0f} ms, process {1000 * proc:.0f} ms)"
            )
        print(f"  longest loop stall at any time: {1000 * anytime:.0f} ms")  # noqa: T201
    stop.set()
    await asyncio.gather(*tasks)
    scraper.shutdown()
    if trace is not None:
        trace.uninstall()
        _print_trace(trace, sorted(stalls_seen, reverse=True)[: args.trace])
    await server.stop()
    print(  # noqa: T201
        f"{args.brands} brands × {len(settings.window_lengths)} windows, {args.events:,} events "
        f"over {args.hours:g} h"
    )


def _print_trace(trace: _Trace, stalls: list[tuple[float, float, float, float, float]]) -> None:
    for late, due, woke, cpu, proc in stalls:
        print(  # noqa: T201
            f"stall {1000 * late:.1f} ms (the watcher's sleep: wall {1000 * (late + 0.01):.1f}, "
            f"loop thread CPU {1000 * cpu:.1f}, process CPU {1000 * proc:.1f}):"
        )
        for start, _, wall, cpu, proc, what in trace.during(due, woke):
            print(  # noqa: T201
                f"  {1000 * (start - due):+6.1f} ms  wall {1000 * wall:5.1f}  cpu "
                f"{1000 * cpu:5.1f}  process {1000 * proc:5.1f}  {what}"
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
    parser.add_argument("--trace", type=int, default=0, help="what ran in the N longest stalls")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
