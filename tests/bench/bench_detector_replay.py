"""Benchmark: the spike detector's start-up, the minutes topic's history read back through it.

``--brands`` brands × ``--days`` days of ``bench_alerts`` traffic (daily and weekly seasonality,
Poisson counts; from 14 days on, its planted incidents and look-alikes in the second week) go
as the minutes topic holds them (one ``Contribution`` per partition-minute, then a
``Watermark``) through what the evaluator runs on them: ``MinuteAssembler`` and
``Detector.step``. Two passes on the same records in one run: the baseline scores every minute
(``scores=True``, what the evaluator did for every minute of history), the replay path scores
only what a decision needs (``scores=False``, what it now does for minutes too old to send).
Both must end in the same state and the same transitions, checked here. The detector of
``--before`` (a revision from before the replay path, loaded from git) runs the same records as
the evaluator did then, every minute scored. Printed: CPU time, ms per brand-minute, ratios.

Run with ``python tests/bench/bench_detector_replay.py`` (``--help`` for the knobs).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_alerts as traffic  # noqa: E402

from socialpulse.core.anomaly.detector import Detector, Transition  # noqa: E402
from socialpulse.core.anomaly.fleet import (  # noqa: E402
    BrandMinute,
    Contribution,
    MinuteAssembler,
    MinuteRecord,
    Watermark,
)
from socialpulse.settings import AnomalySettings, BrandSettings  # noqa: E402

TOPIC = "socialpulse.mentions"
# The last revision whose evaluator scored every minute of the history it read back.
BEFORE = "ce3dee49"
REPO = Path(__file__).resolve().parents[2]


def detector_of(revision: str) -> Any:
    """``Detector`` as ``detector.py`` of ``revision`` defines it (on today's rules)."""
    path = "services/socialpulse/core/anomaly/detector.py"
    source = subprocess.run(  # noqa: S603 - fixed arguments
        ["git", "show", f"{revision}:{path}"],  # noqa: S607
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType("detector_before")
    sys.modules[module.__name__] = module  # msgspec resolves the Structs' annotations there
    exec(compile(source, f"{revision}:{path}", "exec"), module.__dict__)  # noqa: S102
    return module.Detector


def records(
    brands: list[traffic.Brand], counts: list[traffic.Ints], partitions: int
) -> list[MinuteRecord]:
    """The minutes topic's history: each brand's counts dealt over the partitions, per minute."""
    out: list[MinuteRecord] = []
    minutes = len(counts[0])
    names = traffic.PLATFORMS
    for m in range(minutes):
        parts: list[dict[str, BrandMinute]] = [{} for _ in range(partitions)]
        for i, b in enumerate(brands):
            c = counts[i][m]
            sentiment = c.sum(axis=1)
            if not sentiment.any():
                continue
            platforms = {p: int(n) for p, n in zip(names, c.sum(axis=0), strict=True) if n}
            parts[i % partitions][b.id] = BrandMinute(
                int(sentiment[traffic.POS]),
                int(sentiment[traffic.NEU]),
                int(sentiment[traffic.NEG]),
                platforms,
            )
        minute = traffic.EPOCH_MINUTE + m
        for p in range(partitions):
            out.append(Contribution(TOPIC, p, minute, parts[p]))
            out.append(Watermark(TOPIC, p, minute))
    return out


def replay(
    settings: AnomalySettings,
    brands: tuple[BrandSettings, ...],
    history: list[MinuteRecord],
    partitions: int,
    scores: bool | None,
    kind: Any = Detector,
) -> tuple[float, Any, list[Transition]]:
    """CPU seconds, the detector and the transitions: the evaluator's loop without Kafka.

    ``scores`` None: ``step`` without the argument (a detector from before it existed).
    """
    t0 = time.process_time()
    detector = kind(settings, (b.id for b in brands))
    kw = {} if scores is None else {"scores": scores}
    assembler = MinuteAssembler(((TOPIC, p) for p in range(partitions)), brands)
    transitions: list[Transition] = []
    for r in history:
        assembler.feed(r)
        for minute in assembler.complete():
            transitions += detector.step(minute[0].minute, minute, **kw).transitions
    return time.process_time() - t0, detector, transitions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brands", type=int, default=20)
    ap.add_argument("--days", type=int, default=8)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--seed", type=int, default=20260105)
    ap.add_argument("--before", default=BEFORE, help="revision of the baseline detector")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    gen = traffic._brands(rng, args.brands)
    lam = [traffic._level(rng, b, args.days * traffic.DAY) for b in gen]
    events = traffic._plan(rng, gen, lam) if args.days >= 14 else []
    counts = traffic._traffic(rng, gen, events, lam)
    history = records(gen, counts, args.partitions)
    groups: dict[int, list[str]] = {}
    for b in gen:
        groups.setdefault(b.group, []).append(b.id)
    brands = tuple(
        BrandSettings(
            id=b.id,
            name=b.id,
            terms=(b.id,),
            competitors=tuple(o for o in groups[b.group] if o != b.id),
        )
        for b in gen
    )
    s = AnomalySettings()
    before, d_before, t_before = replay(
        s, brands, history, args.partitions, None, detector_of(args.before)
    )
    slow, d_slow, t_slow = replay(s, brands, history, args.partitions, scores=True)
    fast, d_fast, t_fast = replay(s, brands, history, args.partitions, scores=False)
    # Compared as bytes: the revision before has Structs of its own, never equal to today's.
    states = {msgspec.msgpack.encode(d.snapshot()) for d in (d_before, d_slow, d_fast)}
    found = {msgspec.msgpack.encode(t) for t in (t_before, t_slow, t_fast)}
    if len(states) != 1 or len(found) != 1:
        raise SystemExit("the replay path's state or transitions differ from the baseline's")
    bm = args.brands * args.days * traffic.DAY
    print(  # noqa: T201
        f"{args.brands} brands x {args.days} days ({bm:,} brand-minutes), {args.partitions} "
        f"partitions, {len(events)} planted events, {len(t_slow)} transitions; same state "
        f"and transitions on all three paths: True"
    )
    print(f"{'path':<52} {'CPU s':>8} {'ms/brand-minute':>16} {'x before':>9}")  # noqa: T201
    for name, sec in (
        (f"before ({args.before}): every minute scored", before),
        ("now, every minute scored (scores=True, live)", slow),
        ("now, decisions only (scores=False, history)", fast),
    ):
        print(f"{name:<52} {sec:>8.2f} {1000 * sec / bm:>16.4f} {before / sec:>8.1f}x")  # noqa: T201


if __name__ == "__main__":
    main()
