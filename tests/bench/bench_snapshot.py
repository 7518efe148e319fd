"""Benchmark: one scrape's ``WindowStore.snapshot`` over hours of demo traffic, 3 to 1,000 brands.

    .venv/bin/python tests/bench/bench_snapshot.py [--hours 4] [--events 80000] [--changed 2000]

Cold: the hour caches empty and the running window totals to be summed afresh (the first
scrape after a restore or a rebalance); warm: nothing changed since the last read. CPU time
(the machine may be shared), best of several runs each. After events: ``--changed`` more
events at the end, then every brand read one by one as a scrape does (the sum, and the slowest
brand: what one slice of a scrape can hold the loop for).
"""

from __future__ import annotations

import argparse
import random
import time
import zlib
from datetime import UTC, datetime

from socialpulse.core.pipeline import Pipeline
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.demo.generator import DemoTraffic
from socialpulse.settings import BrandSettings, Settings


def _brands(n: int) -> list[BrandSettings]:
    if n <= len(DEMO_BRANDS):
        return list(DEMO_BRANDS[:n])
    ids = [f"brand{i}" for i in range(n)]
    return [
        BrandSettings(
            id=b,
            name=f"Roaster {b}",
            terms=(f"Roaster {b}", f"roaster{b}"),
            handles=(f"@roaster{b}",),
            competitors=tuple(ids[(i + j) % n] for j in (1, 2)),
            followers=10_000 + i,
        )
        for i, b in enumerate(ids)
    ]


def _pipeline(
    brands: list[BrandSettings], hours: float, events: int
) -> tuple[Pipeline, float, DemoTraffic]:
    """A pipeline fed ``events`` demo events spread over the last ``hours``, and its traffic."""
    settings = Settings(brands=[b.model_dump() for b in brands], metrics_port=0)
    pipeline = Pipeline(settings)
    demo = DemoTraffic(brands, random.Random(7))
    end = time.time()
    span = hours * 3600
    for n in range(events):
        now = end - span + span * n / events
        stream, key, value = demo.encoded_next(datetime.fromtimestamp(now, tz=UTC))
        pipeline.process(stream, value, (stream, zlib.crc32(key) % 4), now, n)
        if n % 20_000 == 0:
            pipeline.store.expire(now)  # the worker's housekeeping: roll-ups and expiry
    pipeline.store.expire(end)
    return pipeline, end, demo


def _changed(
    pipeline: Pipeline, demo: DemoTraffic, now: float, events: int, runs: int
) -> tuple[float, float]:
    """After ``events`` more events at ``now``: a read of every brand, and its slowest brand.

    What a scrape does a second later (the brands changed since the last one are read again),
    CPU time, best of ``runs`` over fresh events each time.
    """
    store = pipeline.store
    store.snapshot(now)
    best_total = best_slowest = float("inf")
    for run in range(runs):
        for n in range(events):
            stream, key, value = demo.encoded_next(datetime.fromtimestamp(now, tz=UTC))
            offset = 10**9 + run * events + n
            pipeline.process(stream, value, (stream, zlib.crc32(key) % 4), now, offset)
        total = slowest = 0.0
        for brand in store.brands:
            t0 = time.process_time()
            store.brand_snapshot(brand, now)
            took = time.process_time() - t0
            total += took
            slowest = max(slowest, took)
        best_total, best_slowest = min(best_total, total), min(best_slowest, slowest)
    return best_total, best_slowest


def _best(pipeline: Pipeline, now: float, *, cold: bool, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        if cold:  # the hour caches empty and the running totals to be summed afresh
            pipeline.store._blocks.clear()  # noqa: SLF001 - the benchmark measures the cold path
            for totals in (getattr(pipeline.store, "_totals", None) or {}).values():
                totals.unbuild()
        t0 = time.process_time()
        pipeline.store.snapshot(now)
        best = min(best, time.process_time() - t0)
    return best


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--events", type=int, default=80_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--changed", type=int, default=2000, help="events before each read")
    args = parser.parse_args()
    print(f"snapshot benchmark: {args.events:,} demo events over {args.hours} h")  # noqa: T201
    for n in (3, 100, 1000):
        pipeline, now, demo = _pipeline(_brands(n), args.hours, args.events)
        cold = _best(pipeline, now, cold=True, runs=args.runs)
        warm = _best(pipeline, now, cold=False, runs=args.runs)
        changed, slowest = _changed(pipeline, demo, now, args.changed, args.runs)
        buckets = pipeline.store.bucket_count()
        print(  # noqa: T201
            f"  {n:4} brands, {buckets:6,} buckets: cold {cold * 1e3:8.1f} ms"
            f"   warm {warm * 1e3:8.1f} ms   after {args.changed:,} events {changed * 1e3:8.1f} ms"
            f" (slowest brand {slowest * 1e3:.2f} ms)"
        )


if __name__ == "__main__":
    main()
