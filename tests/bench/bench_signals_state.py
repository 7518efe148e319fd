"""Benchmark: a partition's signals state on the state topic, its size and what restoring it costs.

Demo mentions (``--minutes`` of event time at ``--rate`` mentions a second, keyed by author over
``--partitions`` partitions) go through ``Pipeline.process_batch`` in poll batches with the
default settings. Then, per partition: the size of ``Signals.snapshot`` (what the state topic
holds), the CPU time to take it and to restore it into a fresh pipeline (best of three),
beside the time the same
partition's mentions took through the pipeline (the re-read a restore without it would need).
At the end the window is full (``spam.max_posts`` posts, or an hour of them), the bound the
README states.

Run with ``python tests/bench/bench_signals_state.py`` (``--help`` for the knobs).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from socialpulse.core.pipeline import Pipeline  # noqa: E402
from socialpulse.demo.brands import DEMO_BRANDS  # noqa: E402
from socialpulse.demo.generator import DemoTraffic  # noqa: E402
from socialpulse.kafka.changelog import Changelog  # noqa: E402
from socialpulse.settings import Settings  # noqa: E402

T0 = 1_767_225_600.0  # 2026-01-01T00:00Z
POLL = 500
ROUNDS = 3  # snapshot and restore: the best of, in CPU time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=int, default=90)
    ap.add_argument("--rate", type=float, default=50.0, help="mentions a second, all partitions")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    settings = Settings(brands=list(DEMO_BRANDS))
    traffic = DemoTraffic(DEMO_BRANDS, random.Random(args.seed))
    per: dict[int, list[tuple[int, bytes]]] = {p: [] for p in range(args.partitions)}
    total = int(args.minutes * 60 * args.rate)
    for n in range(total):
        at = datetime.fromtimestamp(T0 + n / args.rate, UTC)
        key, value = traffic.encoded_mention(at)
        records = per[zlib.crc32(key) % args.partitions]
        records.append((len(records), value))
    now = T0 + total / args.rate
    p = Pipeline(settings)
    took = dict.fromkeys(per, 0.0)
    longest = max(len(r) for r in per.values())
    for lo in range(0, longest, POLL):
        for part, records in per.items():
            batch = records[lo : lo + POLL]
            if batch:
                started = time.process_time()
                p.process_batch("mentions", batch, ("mentions", part), now)
                took[part] += time.process_time() - started
    rows = [
        f"{total:,} demo mentions over {args.minutes} min, {args.partitions} partitions; "
        f"default settings (spam.max_posts {settings.spam.max_posts:,}, "
        f"window {settings.spam.window_seconds} s)",
        "| partition | mentions | posts held | accounts held | state bytes | bytes/post | "
        "snapshot ms | restore ms | pipeline s for its mentions |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for part, records in per.items():
        source = ("mentions", part)
        p.signals.advance(source, len(records))  # changed: a snapshot is due
        snaps, restores = [], []
        for _ in range(ROUNDS):
            started = time.process_time()
            blob = p.signals.snapshot(source)
            snaps.append(time.process_time() - started)
            fresh = Pipeline(settings)
            started = time.process_time()
            fresh.signals.restore(source, blob)
            restores.append(time.process_time() - started)
        snap_ms, restore_ms = min(snaps) * 1000, min(restores) * 1000
        spam = p.signals._partition(source).spam  # noqa: SLF001 - a measurement
        held, accounts = len(spam.index), len(spam.state().authors)
        rows.append(
            f"| {part} | {len(records):,} | {held:,} | {accounts:,} | {len(blob):,} | "
            f"{len(blob) / max(held, 1):.0f} | {snap_ms:.0f} | {restore_ms:.0f} | "
            f"{took[part]:.1f} |"
        )
    print("\n".join(rows))  # noqa: T201
    _snapshot_rates(per, settings, now - total / args.rate, args.rate)


def _snapshot_rates(
    per: dict[int, list[tuple[int, bytes]]], settings: Settings, start: float, rate: float
) -> None:
    """State topic bytes the snapshots write, by the changelog's rule, beside a fixed interval.

    The same mentions, one simulated second of them at a time per partition; after each second
    ``Changelog._signals_due`` decides (the worker's checkpoint asks it every second), once with
    ``kafka.signals_snapshot_max_interval_seconds`` and once without it (every
    ``signals_snapshot_interval_seconds``, the rule before it).
    """
    k = settings.kafka
    rules = {
        "every interval (before)": None,
        "a quarter of the window read": k.signals_snapshot_max_interval_seconds,
    }
    per_second = {part: max(1, round(len(r) / (sum(map(len, per.values())) / rate)))
                  for part, r in per.items()}  # fmt: skip
    seconds = max(len(r) // per_second[part] + 1 for part, r in per.items())
    print(  # noqa: T201
        f"\nsignals snapshots over {seconds:,} s of event time "
        f"(interval {k.signals_snapshot_interval_seconds:g} s, longest "
        f"{k.signals_snapshot_max_interval_seconds:g} s), all partitions:\n"
        "| rule | snapshots | MB written | kB/s of event time | longest re-read after a crash |\n"
        "| --- | --- | --- | --- | --- |"
    )
    for label, longest in rules.items():
        p = Pipeline(settings)
        c = Changelog(
            "state", {}, p.store, p.dedup, None,  # no producer: it never sends
            signals=p.signals,
            signals_interval=k.signals_snapshot_interval_seconds,
            signals_max_interval=longest,
        )  # fmt: skip
        taken = {part: -1.0e9 for part in per}
        at_offset = dict.fromkeys(per, 0)
        count = written = reread = 0
        for second in range(seconds):
            for part, records in per.items():
                step = per_second[part]
                batch = records[second * step : (second + 1) * step]
                if not batch:
                    continue
                source = ("mentions", part)
                p.process_batch("mentions", batch, source, start + second + 1)
                if c._signals_due(source, second - taken[part]):  # noqa: SLF001
                    written += len(p.signals.snapshot(source))
                    count += 1
                    taken[part] = second
                    at_offset[part] = batch[-1][0]
                reread = max(reread, batch[-1][0] - at_offset[part])
        print(  # noqa: T201
            f"| {label} | {count:,} | {written / 1e6:,.1f} | {written / seconds / 1e3:,.1f} | "
            f"{reread:,} mentions |"
        )


if __name__ == "__main__":
    main()
