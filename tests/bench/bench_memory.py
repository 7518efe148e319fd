"""Benchmark: window state memory against events and brands, beside the design on ``main``.

Each case runs in its own subprocess (so resident memory is that case's alone) on a simulated
clock, one pipeline holding every partition: events go through the same aggregation and state
code the worker runs (``Pipeline.process`` for demo traffic; for 1,000 brands, decoded events
and precomputed scores straight into ``WindowStore`` and ``Deduplicator``, to keep the run
short). ``expire`` runs every 15 simulated minutes (the worker's housekeeping), and every
simulated minute what a checkpoint takes is taken (changed and deleted keys; the worker's
changelog takes them every second, so a bench that kept them counted keys no service holds).
As in the Kafka worker, the store reads its join KPIs from a ``JoinView`` fed every simulated
minute with the join inputs the pipeline applied (the joins topic's round trip left out), so
the view's memory is in the figures. State is the resident set after the events minus the
resident set after a warm-up (models loaded), both after a garbage collection; "after a
snapshot" adds what the first read of every window keeps (running totals, or a merge's hour
caches).

The baseline in the same run is the code of ``--baseline`` (default ``main``; ``git archive
<ref> services``, imported in its own subprocess) fed the same events, where it can still run
in the time.

Run with ``make bench`` (or ``python tests/bench/bench_memory.py --help``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from state_bench import EXPIRE_EVERY_MINUTES, rss

REPO = Path(__file__).resolve().parents[2]
NOW = 1_800_000_000.0  # a whole minute (2027-01-15T08:00:00Z): the end of every run
PARTITIONS = 4
WEEK = ("5m", "1h", "24h", "7d")


def _demo_case(events: int, span: float, windows: tuple[str, ...]) -> dict[str, Any]:
    """Demo traffic (3 brands) spread evenly over ``span`` seconds ending at ``NOW``."""
    from socialpulse.core.dedup import Deduplicator
    from socialpulse.core.pipeline import Pipeline
    from socialpulse.core.windows.store import WindowStore
    from socialpulse.demo.brands import DEMO_BRANDS
    from socialpulse.demo.generator import DemoTraffic
    from socialpulse.settings import Settings

    brands = [b.model_dump() for b in DEMO_BRANDS]
    cold = _cold_store()
    p = Pipeline(Settings(brands=brands, windows=windows, metrics_port=0))
    demo = DemoTraffic(DEMO_BRANDS, random.Random(7))
    warm = NOW - span - 3600
    for i in range(200):  # loads the language model and the scorers
        stream, key, value = demo.encoded_next(datetime.fromtimestamp(warm, tz=UTC))
        p.process(stream, value, (stream[0], zlib.crc32(key) % PARTITIONS), warm, -1000 + i)
    # Fresh state for the run (expiring it instead would raise the dedup floor past the run,
    # and every event would be rejected as late).
    p.store = WindowStore(list(p.store.brands.values()), p.store.windows)
    p.dedup = (
        Deduplicator(p.dedup.horizon_seconds, cold)
        if cold
        else Deduplicator(p.dedup.horizon_seconds)
    )
    view = _joined(p)
    gc.collect()
    r0 = rss()
    t0 = time.perf_counter()
    last_minute = None
    offsets: dict[tuple[str, int], int] = {}
    for i in range(events):
        t = NOW - span + span * i / events
        stream, key, value = demo.encoded_next(datetime.fromtimestamp(t, tz=UTC))
        source = (stream[0], zlib.crc32(key) % PARTITIONS)
        offsets[source] = offsets.get(source, -1) + 1  # a partition's own offsets, as in Kafka
        p.process(stream, value, source, t, offsets[source])
        last_minute = housekeep(p, view, t, last_minute)
    _feed(p, view, NOW)
    view.expire(NOW)
    elapsed = time.perf_counter() - t0
    p.store.expire(NOW)
    p.dedup.expire(NOW)
    _checkpoint(p.store, p.dedup)
    gc.collect()
    r1 = rss()
    p.store.snapshot(NOW)  # what a scrape adds: the window totals (or merge caches) it keeps
    gc.collect()
    r2 = rss()
    return {
        "state": r1 - r0,
        "scraped": r2 - r0,
        "rss": r1,
        "buckets": p.store.bucket_count(),
        "dedup_ids": p.dedup.ids_held(),
        "dedup_ids_cold": getattr(p.dedup, "ids_cold", int)(),
        "spilled_bytes": cold.nbytes if cold else 0,
        "late": p.stats.rejected["late"],
        "seconds": elapsed,
    }


def housekeep(p: Any, view: Any, t: float, last_minute: int | None) -> int:
    """What the worker does as event time ``t`` enters a new minute; returns ``t``'s minute.

    The join inputs go to the view, a checkpoint takes what changed, the dedup's housekeeping
    runs (every 10 s in the worker: here every simulated minute, so quiet minutes move to the
    spill files as they do in the service), and every ``EXPIRE_EVERY_MINUTES`` the store and
    the view expire.
    """
    minute = int(t // 60)
    if minute == last_minute:
        return minute
    _feed(p, view, t)
    _checkpoint(p.store, p.dedup)
    p.dedup.expire(t)
    if last_minute is None or minute // EXPIRE_EVERY_MINUTES != last_minute // (
        EXPIRE_EVERY_MINUTES
    ):
        p.store.expire(t)
        view.expire(t)
    return minute


def _cold_store() -> Any:
    """The spill files the service gives the dedup (None in designs before them)."""
    try:
        from socialpulse.app.spill import SpillFiles
    except ImportError:
        return None
    return SpillFiles()


def _checkpoint(store: Any, dedup: Any) -> None:
    """Take what a checkpoint takes (changed and deleted keys), as the worker's changelog does.

    It does so every second: a bench that never took them counted keys no service holds.
    """
    for source in store.sources():
        for taken in ("take_dirty_minutes", "take_expired"):
            if hasattr(store, taken):  # designs before them kept no such keys
                getattr(store, taken)(source)
        for taken in ("take_dirty", "take_expired"):
            if hasattr(dedup, taken):
                getattr(dedup, taken)(source)


def _joined(p: Any) -> Any:
    """A join view the store reads its join KPIs from, as the worker wires it."""
    from socialpulse.core.joins import JoinView

    view = JoinView(p.store.brands.values(), p.store.windows)
    p.store.join_from(view.store)
    p.join_inputs = []
    return view


def _feed(p: Any, view: Any, now: float) -> None:
    """What a checkpoint sends to the joins topic, read back into the view."""
    import importlib
    import inspect

    if "at" in inspect.signature(view.apply).parameters:  # designs naming a joins position
        position = getattr(importlib.import_module("socialpulse.core.joins"), "position")  # noqa: B009

        for j in p.join_inputs:
            view.apply(j, position(0, view.applied + view.duplicates + view.too_old), now)
    else:
        for j in p.join_inputs:
            view.apply(j, now)
    p.join_inputs.clear()


def _brands_case(events: int, brands: int) -> dict[str, Any]:
    """``brands`` brands over 7 days, every brand active every hour, windows 5m/1h/24h/7d."""
    import msgspec

    from socialpulse.core.events import Interaction, Mention
    from socialpulse.core.pipeline import Pipeline
    from socialpulse.core.sentiment import Sentiment
    from socialpulse.settings import Settings

    ids = [f"brand{b:04d}" for b in range(brands)]
    settings = Settings(
        brands=[{"id": b, "name": b, "terms": [b]} for b in ids],
        windows=("5m", "1h", "24h", "7d"),
        metrics_port=0,
    )
    from socialpulse.core.joins import interaction_input, mention_input

    cold = _cold_store()
    p = Pipeline(settings, **({"cold": cold} if cold else {}))
    view = _joined(p)
    store, dedup, inputs = p.store, p.dedup, p.join_inputs
    assert inputs is not None
    rng = random.Random(11)
    sentiments = [Sentiment(c, 0.1, 0.8, 0.1) for c in (-0.6, 0.0, 0.0, 0.7)]
    kinds = ("impression",) * 6 + ("like", "comment", "share", "link_click")
    gc.collect()
    r0 = rss()
    hours = 7 * 24
    per_hour = events // hours
    t0 = time.perf_counter()
    offset = 0  # numbers event ids; each partition has its own offsets
    offsets: dict[tuple[str, int], int] = {}
    start = NOW - hours * 3600
    for hour in range(hours):
        base = start + hour * 3600
        for minute in range(60):
            at = base + minute * 60
            _feed(p, view, at)
            _checkpoint(store, dedup)
            if minute % EXPIRE_EVERY_MINUTES == 0:
                store.expire(at)
                dedup.expire(at)
                view.expire(at)
            stamp = datetime.fromtimestamp(at + 1, tz=UTC).isoformat()
            for n in range(per_hour // 60):
                brand = ids[(n * 7919 + minute) % brands]
                offset += 1
                if n % 4 == 0:
                    author = f"a{rng.randrange(200_000)}"
                    m = msgspec.json.decode(
                        json.dumps(
                            {
                                "event_id": f"m{offset}",
                                "platform": "x",
                                "created_at": stamp,
                                "author": {"id": author, "handle": author, "followers": n},
                                "text": brand,
                                "kind": "post",
                            }
                        ),
                        type=Mention,
                    )
                    source = ("m", zlib.crc32(author.encode()) % PARTITIONS)
                    ts = m.created_at.timestamp()
                    position = offsets[source] = offsets.get(source, -1) + 1
                    if not dedup.is_duplicate(source, ts, m.event_id, position):
                        store.add_mention(source, brand, m, sentiments[n % 4], False, position)
                        inputs.append(mention_input(source, position, (brand,), m))
                else:
                    user = f"u{rng.randrange(1_000_000)}"
                    i = msgspec.json.decode(
                        json.dumps(
                            {
                                "event_id": f"i{offset}",
                                "platform": "x",
                                "created_at": stamp,
                                "type": kinds[n % len(kinds)],
                                "brand": brand,
                                "user_id": user,
                                "post_id": f"m{offset - 1 - n % 4}",
                            }
                        ),
                        type=Interaction,
                    )
                    source = ("i", zlib.crc32(user.encode()) % PARTITIONS)
                    ts = i.created_at.timestamp()
                    position = offsets[source] = offsets.get(source, -1) + 1
                    if not dedup.is_duplicate(source, ts, i.event_id, position):
                        store.add_interaction(source, i, position)
                        joined = interaction_input(source, position, i)
                        if joined is not None:
                            inputs.append(joined)
    _feed(p, view, NOW)
    elapsed = time.perf_counter() - t0
    store.expire(NOW)
    view.expire(NOW)
    _checkpoint(store, dedup)
    gc.collect()
    r1 = rss()
    t1 = time.perf_counter()
    store.snapshot(NOW)
    snapshot_seconds = time.perf_counter() - t1
    gc.collect()
    r2 = rss()
    return {
        "state": r1 - r0,
        "scraped": r2 - r0,
        "rss": r1,
        "events": offset,
        "buckets": store.bucket_count(),
        "dedup_ids": dedup.ids_held(),
        "seconds": elapsed,
        "snapshot_seconds": snapshot_seconds,
    }


def _run(services: Path, case: list[str]) -> dict[str, Any]:
    """One case in a fresh interpreter importing socialpulse from ``services``."""
    env = {**os.environ, "PYTHONPATH": str(services)}
    done = subprocess.run(  # noqa: S603 - this script, fixed arguments
        [sys.executable, __file__, "--case", *case],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _old_tree(tmp: Path, ref: str) -> Path | None:
    """``ref``'s services/ exported into ``tmp`` (None when there is no such ref to compare)."""
    archive = subprocess.run(  # noqa: S603
        ["git", "-C", str(REPO), "archive", ref, "services"],  # noqa: S607
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        return None
    tmp.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)  # noqa: S603, S607
    return tmp / "services"


def _mb(r: dict[str, Any], key: str = "state") -> str:
    return "error" if "error" in r else f"{r[key] / 1e6:,.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--small", type=int, default=100_000, help="events, case (a) low")
    parser.add_argument("--large", type=int, default=1_000_000, help="events, case (a) high")
    parser.add_argument("--brand-events", type=int, default=2_000_000, help="events, case (b)")
    parser.add_argument(
        "--baseline-brand-events", type=int, default=300_000, help="case (b), both designs"
    )
    parser.add_argument("--brands", type=int, default=1_000)
    parser.add_argument(
        "--sparse-week", action="store_true", help="also a million events spread over 7 d"
    )
    parser.add_argument(
        "--steady",
        action="store_true",
        help="also 3 h and 6 h at the demo's rate (about 12 min): the slope past the first hours",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline design")
    parser.add_argument("--baseline", default="main", help="git ref of the baseline design")
    parser.add_argument(
        "--design",
        default="",
        help="git ref of the design measured (default: this working tree's services/)",
    )
    args = parser.parse_args()
    if args.case:
        kind, *rest = args.case
        if kind == "demo":
            out = _demo_case(int(rest[0]), float(rest[1]), tuple(rest[2].split(",")))
        else:
            out = _brands_case(int(rest[0]), int(rest[1]))
        print(json.dumps(out))  # noqa: T201
        return

    with tempfile.TemporaryDirectory() as tmp:
        here = REPO / "services"
        if args.design:
            measured = _old_tree(Path(tmp) / "design", args.design)
            if measured is None:
                parser.error(f"no git ref {args.design!r}")
            here = measured
        old = None if args.no_baseline else _old_tree(Path(tmp) / "baseline", args.baseline)
        designs = [("this branch", here)] + ([(args.baseline, old)] if old else [])
        day = ["86400", "5m,1h,24h"]
        week = ["604800", "5m,1h,24h,7d"]
        cases: dict[str, list[str]] = {
            "a_small": ["demo", str(args.small), *day],
            "a_large": ["demo", str(args.large), *day],
            "b_low": ["brands", str(args.baseline_brand_events), str(args.brands)],
            # The demo's own rate, 200 events/s, for half an hour and for an hour: the second
            # half hour's growth, doubled, is what each further hour of the 7 d window adds.
            "d_1h": ["demo", str(200 * 1800), "1800", ",".join(WEEK)],
            "d_2h": ["demo", str(200 * 3600), "3600", ",".join(WEEK)],
        }
        if args.steady:  # bounded parts (spam window, author rates) are full after an hour or two
            cases["e_3h"] = ["demo", str(200 * 10800), "10800", ",".join(WEEK)]
            cases["e_6h"] = ["demo", str(200 * 21600), "21600", ",".join(WEEK)]
        if args.sparse_week:  # a million events spread over a week: under 2 events/s
            cases["c_low"] = ["demo", str(args.small * 5), *week]
            cases["c_high"] = ["demo", str(args.large), *week]
        results: dict[str, dict[str, dict[str, Any]]] = {}
        for name, path in designs:
            results[name] = {}
            for case, argv in cases.items():
                print(f"  {name}: {case} {' '.join(argv)} ...", flush=True)  # noqa: T201
                results[name][case] = _run(path, argv)
        # Only this branch at the large brand count: main's minute buckets would not fit.
        argv = ["brands", str(args.brand_events), str(args.brands)]
        print(f"  this branch: b {' '.join(argv)} ...", flush=True)  # noqa: T201
        results["this branch"]["b"] = _run(here, argv)
    print(  # noqa: T201
        "\nmemory benchmark (simulated clock, one pipeline holding every partition, "
        f"{PARTITIONS} partitions per topic; state = RSS after events - RSS after warm-up; "
        "shared 2-core machine)\n"
    )
    for name, r in results.items():
        a_s, a_l, b_lo = (r[k] for k in ("a_small", "a_large", "b_low"))
        none = {"error": "not run (--sparse-week)"}
        c_lo, c_hi = r.get("c_low", none), r.get("c_high", none)
        b = r.get("b", b_lo)
        print(f"  {name}")  # noqa: T201
        ratio = "" if "error" in a_s or "error" in a_l else f"{a_l['state'] / a_s['state']:.2f}x"
        print(  # noqa: T201
            f"    (a) 3 brands, 24 h: {args.small:,} events {_mb(a_s)}, {args.large:,} events "
            f"{_mb(a_l)}: {ratio} (target <= 1.5x); after a snapshot {_mb(a_s, 'scraped')}, "
            f"{_mb(a_l, 'scraped')}"
        )
        for row in (b_lo, b) if b is not b_lo else (b_lo,):
            if "error" in row:
                print(f"    (b) {row['error']}")  # noqa: T201
                continue
            print(  # noqa: T201
                f"    (b) {args.brands:,} brands, 7 d, {row['events']:,} events: RSS "
                f"{_mb(row, 'rss')}, state {_mb(row)}, {row['buckets']:,} buckets, "
                f"{row['state'] / row['events']:,.0f} B/event; snapshot "
                f"{row['snapshot_seconds']:.1f} s, state after it {_mb(row, 'scraped')}, "
                f"{row['events'] / row['seconds']:,.0f} events/s fed"
            )
        if b is not b_lo and "error" not in b and "error" not in b_lo:
            slope = (b["state"] - b_lo["state"]) / (b["events"] - b_lo["events"])
            print(  # noqa: T201
                f"    (b) slope {slope:,.0f} B/event: 20M events ~"
                f"{(b['rss'] + slope * (20e6 - b['events'])) / 1e9:.2f} GB RSS (target <= 1 GB)"
            )
        if "error" not in c_lo and "error" not in c_hi:
            n_lo, n_hi = args.small * 5, args.large
            slope = (c_hi["state"] - c_lo["state"]) / (n_hi - n_lo)
            demo = 200 * 7 * 86400
            steady = c_hi["rss"] + slope * (demo - n_hi)
            print(  # noqa: T201
                f"    (c) demo, 7 d: {n_lo:,} events {_mb(c_lo)}, {n_hi:,} {_mb(c_hi)}; slope "
                f"{slope:,.0f} B/event; 200 events/s for 7 d ({demo / 1e6:,.0f}M events) "
                f"extrapolated ~{steady / 1e9:,.1f} GB RSS (target <= 0.4 GB)"
            )
        else:
            print(f"    (c) {c_lo.get('error') or c_hi.get('error')}")  # noqa: T201
        d1, d2 = r["d_1h"], r["d_2h"]
        if "error" not in d1 and "error" not in d2:
            hour = 2 * (d2["state"] - d1["state"])
            print(  # noqa: T201
                f"    (d) demo at 200 events/s, 7 d windows: state after 30 min {_mb(d1)}, "
                f"after 1 h {_mb(d2)} ({_mb(d2, 'scraped')} after a snapshot); the second half "
                f"hour added {hour / 2e6:,.0f} MB "
                f"({hour / 720_000:,.0f} B/event); 168 h at that rate ~"
                f"{(d2['rss'] + hour * 167) / 1e9:,.1f} GB RSS (an upper bound: dedup ids stop "
                "growing after 24 h; target <= 0.4 GB)"
            )
        else:
            print(f"    (d) {d1.get('error') or d2.get('error')}")  # noqa: T201
        e3, e6 = r.get("e_3h"), r.get("e_6h")
        if e3 and e6 and "error" not in e3 and "error" not in e6:
            hour = (e6["state"] - e3["state"]) / 3
            print(  # noqa: T201
                f"    (e) demo at 200 events/s, 7 d windows: state after 3 h {_mb(e3)}, after "
                f"6 h {_mb(e6)}: {hour / 1e6:,.1f} MB an hour; 168 h ~"
                f"{(e6['rss'] + hour * 162) / 1e9:,.2f} GB RSS (target <= 0.4 GB); dedup ids on "
                f"disk {e6.get('dedup_ids_cold', 0):,} of {e6['dedup_ids']:,}"
            )


if __name__ == "__main__":
    main()
