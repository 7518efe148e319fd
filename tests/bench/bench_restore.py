"""Benchmark: restore 24 h of window state for 100 brands from the state topic, against a rebuild.

Builds the state the way the service does (every event through ``Pipeline.process``), flushes it
to a real broker's state topic with ``Changelog``, then times a restore into a fresh pipeline and
checks that the restored KPIs equal the originals. The baseline in the same run is what a worker
without a state topic must do instead: rebuild the same state from the raw events (measured
here in-process, without even the cost of reading them back from Kafka, so a lower bound).

Run with ``make bench`` (or ``python tests/bench/bench_restore.py --help``).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from aiokafka import AIOKafkaProducer

from socialpulse.core.pipeline import Pipeline
from socialpulse.kafka.changelog import MAX_RECORD_BYTES, Changelog, state_topic_spec
from socialpulse.kafka.embedded import EmbeddedBroker
from socialpulse.kafka.topics import ensure_topics
from socialpulse.settings import Settings

REPO = Path(__file__).resolve().parents[2]
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
        port, cport = _free_port(), _free_port()
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


async def _main(args: argparse.Namespace) -> None:
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

    async with _broker(args.broker) as bootstrap:
        topic = f"bench-{uuid.uuid4().hex[:8]}.state"
        opts = {"bootstrap_servers": bootstrap}
        await ensure_topics(opts, {topic: state_topic_spec(args.partitions)})
        producer = AIOKafkaProducer(
            enable_idempotence=False, acks="all", max_request_size=MAX_RECORD_BYTES + 4096, **opts
        )
        await producer.start()
        try:
            writer = Changelog(topic, opts, built.store, built.dedup, producer)
            await writer.start()
            t0 = time.perf_counter()
            records = writer.collect(sources)
            await writer.flush()
            flush_s = time.perf_counter() - t0
        finally:
            await producer.stop()
        state_bytes = writer.stats.bytes_written

        fresh = Pipeline(settings)
        producer = AIOKafkaProducer(enable_idempotence=False, **opts)
        await producer.start()
        try:
            reader = Changelog(topic, opts, fresh.store, fresh.dedup, producer)
            await reader.start()
            t0 = time.perf_counter()
            restored = await reader.restore(sources)
            restore_s = time.perf_counter() - t0
        finally:
            await producer.stop()
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


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brands", type=int, default=100)
    parser.add_argument("--per-brand-minute", type=int, default=1, help="mentions per brand/min")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--broker", choices=("auto", "kafka", "tansu"), default="auto")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
