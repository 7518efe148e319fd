"""Benchmark: a join view's read at each scrape (``join_kpis``), kept hours beside a full recount.

    .venv/bin/python tests/bench/bench_join_reads.py [--hours 3] [--rate 200] [--reads 10]

Demo traffic (3 brands, windows 5m/1h/24h/7d) at ``--rate`` events/s over ``--hours`` of event
time goes through ``Pipeline.process`` and its join inputs into a ``JoinView`` as in the worker
(``bench_memory``'s wiring: the joins topic's round trip left out). Then, ``--reads`` times, a
second of new traffic and one read of every brand's join KPIs two ways, in alternating order:
as the service reads them (``join_kpis``: UGC engagements of buckets whose count cannot have
changed are kept, ``core/windows/ugc_memo.py``) and as a full recount (every engaged post of
the window looked up, the design before). Both must agree; CPU time per read, medians.

A full recount grows with the engaged posts of the longest window, so the gap widens with
``--hours`` (the week the default windows hold is 56 times the default 3 h).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import zlib
from datetime import UTC, datetime

from bench_memory import NOW, PARTITIONS, WEEK, _feed, _joined, housekeep

from socialpulse.core.pipeline import Pipeline
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.demo.generator import DemoTraffic
from socialpulse.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=3.0, help="event time held (1 to 168)")
    parser.add_argument("--rate", type=int, default=200, help="events per second (1 to 5,000)")
    parser.add_argument("--reads", type=int, default=10, help="reads timed each way (1 to 1,000)")
    args = parser.parse_args()
    if not (1 <= args.hours <= 168 and 1 <= args.rate <= 5000 and 1 <= args.reads <= 1000):
        parser.error("--hours 1..168, --rate 1..5000, --reads 1..1000")
    brands = [b.model_dump() for b in DEMO_BRANDS]
    p = Pipeline(Settings(brands=brands, windows=WEEK, metrics_port=0))
    view = _joined(p)
    demo = DemoTraffic(DEMO_BRANDS, random.Random(7))
    offsets: dict[tuple[str, int], int] = {}

    def send(t: float) -> None:
        stream, key, value = demo.encoded_next(datetime.fromtimestamp(t, tz=UTC))
        source = (stream[0], zlib.crc32(key) % PARTITIONS)
        offsets[source] = offsets.get(source, -1) + 1
        p.process(stream, value, source, t, offsets[source])

    span = args.hours * 3600
    events = int(span * args.rate)
    start = NOW - span
    print(f"  {events:,} demo events over {args.hours:g} h ...", flush=True)  # noqa: T201
    t0 = time.perf_counter()
    last_minute = None
    for i in range(events):
        t = start + span * i / events
        send(t)
        last_minute = housekeep(p, view, t, last_minute)
    _feed(p, view, NOW)
    view.expire(NOW)
    print(f"  fed in {time.perf_counter() - t0:.0f} s", flush=True)  # noqa: T201
    store = view.store
    for brand in p.store.brands:  # the first read counts everything: as a restart's first scrape
        store.join_kpis(brand, NOW)
    kept: list[float] = []
    full: list[float] = []
    now = NOW
    for r in range(args.reads):
        now += 1.0
        for k in range(args.rate):
            send(now - 1 + k / args.rate)
        _feed(p, view, now)
        ways = [("kept", kept), ("full", full)]
        results = {}
        for name, into in ways if r % 2 == 0 else ways[::-1]:
            c0 = time.process_time()
            results[name] = [
                store.join_kpis(b, now) if name == "kept" else store._join_kpis(b, now, None)
                for b in p.store.brands
            ]
            into.append(time.process_time() - c0)
        assert results["kept"] == results["full"], "kept counts disagree with a full recount"
    a, b = statistics.median(kept), statistics.median(full)
    print(  # noqa: T201
        f"\njoin view reads, {len(p.store.brands)} brands, {args.hours:g} h of demo traffic at "
        f"{args.rate} events/s, a second of new traffic before each of {args.reads} reads (CPU "
        f"time, medians):\n  kept counts (the service): {a * 1e3:.1f} ms a read\n  full recount "
        f"(before): {b * 1e3:.1f} ms a read\n  ratio: {b / a:.1f}x"
    )


if __name__ == "__main__":
    main()
