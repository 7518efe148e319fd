"""Benchmark: the pure pipeline's throughput and state memory beside the unavoidable baseline.

The baseline is the work no implementation can skip: parse every record's JSON and score every
mention with ``vaderSentiment``'s ``polarity_scores``. socialpulse adds validation, dedup, brand
matching and every window KPI on top; the gap between the two lines is our own overhead.

Run with ``make bench`` (or ``python tests/bench/bench_pipeline.py --help``).
"""

from __future__ import annotations

import argparse
import json
import random
import time
import tracemalloc
from datetime import UTC, datetime

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from socialpulse.core.pipeline import Pipeline
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.demo.generator import DemoTraffic
from socialpulse.settings import Settings


def _records(count: int, now: float) -> list[tuple[str, tuple[str, int], bytes]]:
    """Demo traffic over the last hour: (stream, source, value)."""
    rng = random.Random(5)
    demo = DemoTraffic(DEMO_BRANDS, rng)
    out: list[tuple[str, tuple[str, int], bytes]] = []
    for n in range(count):
        at = datetime.fromtimestamp(now - 3600 + 3600 * n / count, tz=UTC)
        stream, key, value = demo.encoded_next(at)
        out.append((stream, (stream, hash(key) % 4), value))
    return out


def _baseline(records: list[tuple[str, tuple[str, int], bytes]]) -> float:
    vader = SentimentIntensityAnalyzer()
    t0 = time.perf_counter()
    for stream, _, value in records:
        doc = json.loads(value)
        if stream == "mentions":
            vader.polarity_scores(doc["text"])
    return time.perf_counter() - t0


def _socialpulse(
    records: list[tuple[str, tuple[str, int], bytes]], now: float, *, trace: bool
) -> tuple[float, int, Pipeline]:
    """Time every record through the pipeline; with ``trace``, measure peak memory instead."""
    settings = Settings(brands=[b.model_dump() for b in DEMO_BRANDS], metrics_port=0)
    pipeline = Pipeline(settings)
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    for offset, (stream, source, value) in enumerate(records):
        pipeline.process(stream, value, source, now, offset)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - t0
    peak = 0
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return elapsed, peak, pipeline


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    now = time.time()
    records = _records(args.events, now)
    mentions = sum(1 for s, _, _ in records if s == "mentions")
    base = _baseline(records)
    ours, _, pipeline = _socialpulse(records, now, trace=False)
    _, peak, _ = _socialpulse(records, now, trace=True)
    t0 = time.perf_counter()
    pipeline.store.snapshot(now)
    snap = time.perf_counter() - t0
    n = len(records)
    print(f"\npipeline benchmark: {n:,} demo events ({mentions:,} mentions), one core")  # noqa: T201
    us_base, us_ours = base / n * 1e6, ours / n * 1e6
    rows = [
        ("baseline: json + vaderSentiment", f"{n / base:10,.0f} ev/s", f"{us_base:6.1f} us/ev"),
        ("socialpulse Pipeline.process", f"{n / ours:10,.0f} ev/s", f"{us_ours:6.1f} us/ev"),
        ("socialpulse relative to baseline", f"{base / ours:10.2f} x", ""),
        ("state memory, peak (1 h of events)", f"{peak / 1e6:10.1f} MB", f"{peak / n:6.0f} B/ev"),
        ("one scrape's snapshot of all KPIs", f"{snap * 1e3:10.1f} ms", ""),
    ]  # fmt: skip
    for label, a, b in rows:
        print(f"  {label:<38} {a} {b}")  # noqa: T201


if __name__ == "__main__":
    main()
