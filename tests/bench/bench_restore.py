"""Benchmark: restore window state from the state topic: 100 brands over 24 h, 1,000 over 7 d.

Day case: builds the state the way the service does (every event through ``Pipeline.process``),
flushes it to a real broker's state topic with ``Changelog``, then times a restore into a fresh
pipeline and checks that the restored KPIs equal the originals. The baseline in the same run is
what a worker without a state topic must do instead: rebuild the same state from the raw events
(measured here in-process, without even the cost of reading them back from Kafka, so a lower
bound).

Week case (windows 5m/1h/24h/7d, every brand active every hour): decoded events and
precomputed scores go straight into ``WindowStore`` and ``Deduplicator`` (the worker's
aggregation and state code; join KPIs read from a join view, as the worker does), the state is
written by ``Changelog`` as a checkpoint writes it (format 4: one record per partition-minute),
and a fresh process restores every partition through ``Changelog.restore``, the worker's
restore path: records, bytes read, wall and CPU seconds, resident memory after. It runs at two
event counts at 1,000 brands (the per-event slope extrapolates to 20,000,000 events, which do
not fit the time of a bench run) beside 3 brands at the smaller count, and checks that every
restored KPI equals the built one.

Run with ``make bench`` (or ``python tests/bench/bench_restore.py --help``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import hashlib
import io
import json
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from state_bench import EXPIRE_EVERY_MINUTES, restore_state, rss, write_state

from socialpulse.app.spill import SpillFiles
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.windows.timeline import Source
from socialpulse.kafka.changelog import Changelog
from socialpulse.kafka.embedded import EmbeddedBroker
from socialpulse.settings import Settings

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from ports import free_port  # noqa: E402 - needs the path above

CORPUS = REPO.parent / "shared" / "corpora" / "vader_icwsm2014" / "tweets_GroundTruth.txt"
PLATFORMS = ("x", "instagram", "tiktok", "facebook", "reddit", "youtube")
TYPES = ("impression", "impression", "impression", "like", "comment", "share", "link_click")


def _texts() -> list[str]:
    if CORPUS.exists():
        lines = CORPUS.read_text(encoding="utf-8", errors="replace").splitlines()
        return [line.split("\t", 2)[2] for line in lines if line.count("\t") >= 2]
    return ["great service, love it", "terrible, never again", "it is ok I guess"]


def _events(
    brands: int, per_brand_minute: int, now: float, partitions: int, seed: int
) -> list[tuple[str, tuple[str, int], bytes]]:
    """24 h of traffic: per brand-minute, ``per_brand_minute`` mentions and twice as many clicks."""
    rng = random.Random(seed)
    texts = _texts()
    out: list[tuple[str, tuple[str, int], bytes]] = []
    start = now - 86400 + 60
    n = 0
    for minute in range(1440):
        at = start + minute * 60
        stamp = datetime.fromtimestamp(at, tz=UTC).isoformat()
        for b in range(brands):
            for _ in range(per_brand_minute):
                n += 1
                author = f"a{rng.randrange(50_000)}"
                doc = {
                    "event_id": f"m{n}",
                    "platform": rng.choice(PLATFORMS),
                    "created_at": stamp,
                    "author": {"id": author, "handle": author, "followers": rng.randrange(10**5)},
                    "text": f"brand{b:03d} {rng.choice(texts)}",
                    "kind": "post",
                }
                source = ("m", hash(author) % partitions)
                out.append(("mentions", source, msgspec.json.encode(doc)))
            for _ in range(2 * per_brand_minute):
                n += 1
                user = f"u{rng.randrange(200_000)}"
                doc = {
                    "event_id": f"i{n}",
                    "platform": "instagram",
                    "created_at": stamp,
                    "type": rng.choice(TYPES),
                    "brand": f"brand{b:03d}",
                    "user_id": user,
                    "post_id": f"p{b}",
                }
                source = ("i", hash(user) % partitions)
                out.append(("interactions", source, msgspec.json.encode(doc)))
    return out


NOW_WEEK = 1_800_000_000.0  # a whole minute: the end of the week case's simulated clock
WEEK_WINDOWS = ("5m", "1h", "24h", "7d")


def _week_pipeline(brands: int) -> Pipeline:
    """1,000-brand settings, windows 5m/1h/24h/7d, join KPIs read from a view (as the worker)."""
    from socialpulse.core.joins import JoinView

    ids = [f"brand{b:04d}" for b in range(brands)]
    settings = Settings(
        brands=[{"id": b, "name": b, "terms": [b]} for b in ids],
        windows=WEEK_WINDOWS,
        metrics_port=0,
    )
    # The service's dedup spill files (dedup_spill): a restore writes ids to them at once.
    p = Pipeline(settings, cold=SpillFiles(settings.dedup_spill_dir))
    view = JoinView(list(p.store.brands.values()), p.store.windows)
    p.store.join_from(view.store)  # the worker's wiring: buckets keep no join state
    return p


def _digest(p: Pipeline) -> str:
    """A digest of every brand's KPIs in every window at the end of the week."""
    return hashlib.sha256(msgspec.json.encode(p.store.snapshot(NOW_WEEK))).hexdigest()[:16]


def _week_state(p: Pipeline, events: int, brands: int, partitions: int) -> int:
    """``events`` over 7 d, every brand active every hour, into ``p``'s store and dedup.

    Decoded events and precomputed scores go straight into ``WindowStore`` and
    ``Deduplicator`` (the aggregation and state code the worker runs), a quarter mentions and
    the rest interactions, with expiry and roll-up every 15 simulated minutes.
    """
    from socialpulse.core.events import Interaction, Mention
    from socialpulse.core.sentiment import Sentiment

    ids = list(p.store.brands)
    store, dedup = p.store, p.dedup
    rng = random.Random(11)
    sentiments = [Sentiment(c, 0.1, 0.8, 0.1) for c in (-0.6, 0.0, 0.0, 0.7)]
    kinds = ("impression",) * 6 + ("like", "comment", "share", "link_click")
    mention_of = msgspec.json.Decoder(Mention).decode
    interaction_of = msgspec.json.Decoder(Interaction).decode
    hours = 7 * 24
    per_minute = max(1, events // (hours * 60))
    offsets: dict[tuple[str, int], int] = {}
    n_events = 0
    start = NOW_WEEK - hours * 3600

    def fresh(topic: str, key: str, event_id: str, at: float) -> tuple[Source, int] | None:
        """The partition and offset of the next event keyed by ``key``; None: a duplicate."""
        source = (topic, zlib.crc32(key.encode()) % partitions)
        position = offsets[source] = offsets.get(source, -1) + 1
        return None if dedup.is_duplicate(source, at, event_id, position) else (source, position)

    for minute in range(hours * 60):
        at = start + minute * 60
        if minute % EXPIRE_EVERY_MINUTES == 0:
            store.expire(at)
            dedup.expire(at)
        stamp = datetime.fromtimestamp(at + 1, tz=UTC).isoformat()
        for n in range(per_minute):
            brand = ids[(n * 7919 + minute) % brands]
            n_events += 1
            if n % 4 == 0:
                author = f"a{rng.randrange(200_000)}"
                m = mention_of(
                    f'{{"event_id":"m{n_events}","platform":"x","created_at":"{stamp}",'
                    f'"author":{{"id":"{author}","handle":"{author}","followers":{n}}},'
                    f'"text":"{brand}","kind":"post"}}'
                )
                if (placed := fresh("m", author, m.event_id, at + 1)) is not None:
                    store.add_mention(placed[0], brand, m, sentiments[n % 4], False, placed[1])
            else:
                user = f"u{rng.randrange(1_000_000)}"
                i = interaction_of(
                    f'{{"event_id":"i{n_events}","platform":"x","created_at":"{stamp}",'
                    f'"type":"{kinds[n % len(kinds)]}","brand":"{brand}","user_id":"{user}",'
                    f'"post_id":"m{n_events - 1 - n % 4}"}}'
                )
                if (placed := fresh("i", user, i.event_id, at + 1)) is not None:
                    store.add_interaction(placed[0], i, placed[1])
    store.expire(NOW_WEEK)
    dedup.expire(NOW_WEEK)
    return n_events


class _CountingChangelog(Changelog):
    """The worker's ``Changelog``, counting the bytes of every record its restore reads."""

    bytes_read = 0

    def _note(self, found: Any, sources: set[Source], record: Any) -> None:
        self.bytes_read += len(record.key) + len(record.value or b"")
        super()._note(found, sources, record)


async def _week_build(args: argparse.Namespace) -> dict[str, Any]:
    """Build the week's state and write it to ``args.topic`` the way a worker checkpoints."""
    p = _week_pipeline(args.brands)
    t0 = time.perf_counter()
    events = _week_state(p, args.events, args.brands, args.partitions)
    build_s = time.perf_counter() - t0
    sources = {(t, n) for t in ("m", "i") for n in range(args.partitions)}
    written = await write_state(
        args.bootstrap, args.topic, args.partitions, p.store, p.dedup, sources
    )
    gc.collect()
    return {
        "events": events,
        "buckets": p.store.bucket_count(),
        "dedup_ids": p.dedup.ids_held(),
        "records": written.records,
        "bytes": written.bytes,
        "build_seconds": build_s,
        "flush_seconds": written.seconds,
        "rss": rss(),
        "digest": _digest(p),
    }


async def _week_restore(args: argparse.Namespace) -> dict[str, Any]:
    """A fresh worker's restore of every partition's state: wall, CPU, records, bytes, RSS."""
    p = _week_pipeline(args.brands)
    sources = {(t, n) for t in ("m", "i") for n in range(args.partitions)}
    profile = cProfile.Profile() if args.profile else None
    reader, restored = await restore_state(
        args.bootstrap, args.topic, p.store, p.dedup, sources, _CountingChangelog, profile
    )
    assert isinstance(reader, _CountingChangelog)
    gc.collect()
    out: dict[str, Any] = {
        "records": restored.records,
        "bytes_read": reader.bytes_read,
        "seconds": restored.seconds,
        "cpu_seconds": restored.cpu_seconds,
        "rss_before": restored.rss_before,
        "rss": rss(),
        "buckets": p.store.bucket_count(),
        "dedup_ids": p.dedup.ids_held(),
        "digest": _digest(p),
    }
    if profile is not None:
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(14)
        out["profile"] = text.getvalue()
    return out


async def _week_case(
    bootstrap: str, events: int, brands: int, partitions: int, profile: bool
) -> dict[str, Any]:
    """Build and restore in fresh interpreters, so RSS and CPU are the restore's alone."""
    topic = f"bench-week-{uuid.uuid4().hex[:8]}.state"
    common = ["--bootstrap", bootstrap, "--topic", topic, "--brands", str(brands)]
    common += ["--partitions", str(partitions), "--events", str(events)]
    built = await asyncio.to_thread(_subprocess, ["--week-build", *common])
    restored = await asyncio.to_thread(_subprocess, ["--week-restore", *common])
    if profile:  # a second restore under the profiler, which slows it: its profile only
        again = await asyncio.to_thread(_subprocess, ["--week-restore", *common, "--profile"])
        restored["profile"] = again["profile"]
    return {"build": built, "restore": restored}


def _subprocess(argv: list[str]) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - this script, fixed arguments
        [sys.executable, __file__, *argv], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:1])} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@asynccontextmanager
async def _broker(kind: str) -> AsyncIterator[str]:
    """Apache Kafka from deploy/kafka when Java and Maven exist (or asked for), else embedded."""
    if kind == "auto":
        kind = "kafka" if shutil.which("java") and shutil.which("mvn") else "tansu"
    if kind == "tansu":
        async with EmbeddedBroker() as broker:
            yield broker.bootstrap_servers
        return
    with tempfile.TemporaryDirectory() as tmp:
        pidfile = str(Path(tmp) / "kafka.pid")
        port, cport = free_port(), free_port()
        args = ["--port", str(port), "--controller-port", str(cport), "--data", tmp]
        started = await asyncio.to_thread(_kafka_sh, "start", *args, "--pidfile", pidfile)
        try:
            yield started.strip().splitlines()[-1]
        finally:
            await asyncio.to_thread(_kafka_sh, "stop", "--pidfile", pidfile)


def _kafka_sh(*args: str) -> str:
    script = str(REPO / "deploy" / "kafka" / "kafka.sh")
    done = subprocess.run(  # noqa: S603 - our own script
        ["bash", script, *args],  # noqa: S607 - bash from PATH, like `make kafka`
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


async def _day(args: argparse.Namespace, bootstrap: str) -> None:
    """100 brands, 24 h, every event through ``Pipeline.process``; restore against rebuild."""
    now = (time.time() // 60) * 60 + 30
    brands = [
        {"id": f"brand{b:03d}", "name": f"Brand {b}", "terms": [f"brand{b:03d}"]}
        for b in range(args.brands)
    ]
    settings = Settings(brands=brands, windows=("5m", "1h", "24h"), metrics_port=0)
    print(f"generating 24 h of events for {args.brands} brands ...", flush=True)  # noqa: T201
    events = _events(args.brands, args.per_brand_minute, now, args.partitions, seed=1)

    built = Pipeline(settings)
    t0 = time.perf_counter()
    for offset, (stream, source, raw) in enumerate(events):
        built.process(stream, raw, source, now, offset)  # type: ignore[arg-type]
    rebuild_s = time.perf_counter() - t0
    sources = built.store.sources() | {("m", p) for p in range(args.partitions)}
    want = built.store.snapshot(now)

    topic = f"bench-{uuid.uuid4().hex[:8]}.state"
    written = await write_state(
        bootstrap, topic, args.partitions, built.store, built.dedup, sources
    )
    records, flush_s, state_bytes = written.records, written.seconds, written.bytes

    fresh = Pipeline(settings)
    _, done = await restore_state(bootstrap, topic, fresh.store, fresh.dedup, sources)
    restored, restore_s = done.records, done.seconds
    same = fresh.store.snapshot(now) == want

    rows = [
        ("events in 24 h of state", f"{len(events):,}"),
        ("state records (buckets + dedup minutes)", f"{records:,}"),
        ("state bytes written", f"{state_bytes / 1e6:,.1f} MB"),
        ("flush to state topic", f"{flush_s:.2f} s"),
        ("restore from state topic", f"{restore_s:.2f} s ({restored:,} records)"),
        ("baseline: rebuild from raw events", f"{rebuild_s:.2f} s (in-process, lower bound)"),
        ("restore speed-up over rebuild", f"{rebuild_s / restore_s:.1f}x"),
        ("restored KPIs equal the originals", "yes" if same else "NO"),
        ("restore under 10 s", "yes" if restore_s < 10 else "NO"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"\nrestore benchmark ({args.broker} broker, {args.partitions} partitions)")  # noqa: T201
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")  # noqa: T201
    if not same:
        raise SystemExit("restored state differs from the original")


async def _main(args: argparse.Namespace) -> None:
    async with _broker(args.broker) as bootstrap:
        if not args.skip_day:
            await _day(args, bootstrap)
        if args.week_events:
            await _week(args, bootstrap)


async def _week(args: argparse.Namespace, bootstrap: str) -> None:
    """1,000 brands over 7 d at two sizes (for the per-event slope) beside 3 brands."""
    small, large = args.week_small_events, args.week_events
    runs: list[tuple[str, int, int]] = [
        ("3 brands", small, 3),
        (f"{args.week_brands:,} brands", small, args.week_brands),
        (f"{args.week_brands:,} brands", large, args.week_brands),
    ]
    results = []
    for name, events, brands in runs:
        print(f"  week: {name}, {events:,} events ...", flush=True)  # noqa: T201
        profile = args.profile and events == large and brands == args.week_brands
        results.append(await _week_case(bootstrap, events, brands, args.partitions, profile))
    print(  # noqa: T201
        f"\nrestore benchmark, 7 d (Apache Kafka state topic via {args.broker}, windows "
        f"5m/1h/24h/7d, every brand active every hour, {args.partitions} partitions per input "
        "topic, each restore a fresh process holding every partition; shared 2-core machine)"
    )
    print(  # noqa: T201
        f"  {'case':<32} {'records':>8} {'MB read':>8} {'restore s':>9} {'CPU s':>6} "
        f"{'RSS MB':>7} {'build s':>8} {'same KPIs':>9}"
    )
    for (name, _, _), r in zip(runs, results, strict=True):
        b, rs = r["build"], r["restore"]
        label = f"{name}, {b['events']:,} events"
        print(  # noqa: T201
            f"  {label:<32} {rs['records']:>8,} {rs['bytes_read'] / 1e6:>8,.1f} "
            f"{rs['seconds']:>9.2f} {rs['cpu_seconds']:>6.2f} {rs['rss'] / 1e6:>7,.0f} "
            f"{b['build_seconds']:>8.0f} {'yes' if rs['digest'] == b['digest'] else 'NO':>9}"
        )
    lo, hi = results[1], results[2]
    de = hi["build"]["events"] - lo["build"]["events"]
    per_event = (hi["restore"]["seconds"] - lo["restore"]["seconds"]) / de
    per_byte = (hi["restore"]["bytes_read"] - lo["restore"]["bytes_read"]) / de
    target = 20_000_000
    extra = target - hi["build"]["events"]
    print(  # noqa: T201
        f"  slope {per_event * 1e6:.2f} us and {per_byte:.1f} B per event; "
        f"{target:,} events extrapolated: ~{hi['restore']['seconds'] + per_event * extra:.0f} s, "
        f"~{(hi['restore']['bytes_read'] + per_byte * extra) / 1e6:,.0f} MB read "
        "(target <= 15 s)"
    )
    print(  # noqa: T201
        f"  1,000 brands vs 3 brands at {small:,} events: "
        f"{lo['restore']['seconds'] / results[0]['restore']['seconds']:.1f}x the restore time"
    )
    if "profile" in hi["restore"]:
        print("\n  profile of the largest restore (tottime):\n" + hi["restore"]["profile"])  # noqa: T201
    if any(r["restore"]["digest"] != r["build"]["digest"] for r in results):
        raise SystemExit("restored state differs from the original")


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brands", type=int, default=100)
    parser.add_argument("--per-brand-minute", type=int, default=1, help="mentions per brand/min")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--broker", choices=("auto", "kafka", "tansu"), default="auto")
    parser.add_argument("--skip-day", action="store_true", help="only the 7 d cases")
    parser.add_argument(
        "--week-events", type=int, default=1_000_000, help="7 d case, events (0 skips it)"
    )
    parser.add_argument(
        "--week-small-events", type=int, default=250_000, help="7 d case, fewer events (slope)"
    )
    parser.add_argument("--week-brands", type=int, default=1_000)
    parser.add_argument("--profile", action="store_true", help="profile the largest restore")
    for flag in ("--week-build", "--week-restore"):  # one case in a fresh interpreter
        parser.add_argument(flag, action="store_true", help=argparse.SUPPRESS)
    for flag, kind in (("--bootstrap", str), ("--topic", str), ("--events", int)):
        parser.add_argument(flag, type=kind, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.week_build or args.week_restore:
        run = _week_build if args.week_build else _week_restore
        print(json.dumps(asyncio.run(run(args))))  # noqa: T201
        return
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
