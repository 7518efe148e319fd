"""Window state survives crashes through the state topic: restored exactly, nothing counted twice.

The reference is the same pipeline fed every record once, in order, with no Kafka in between;
the test also checks that reference against mention counts over distinct event ids.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from socialpulse.app.spill import SpillFiles
from socialpulse.core.pipeline import Pipeline
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.demo.generator import DemoTraffic
from socialpulse.kafka.changelog import state_topic_spec
from socialpulse.kafka.minutes import minutes_topic_spec
from socialpulse.kafka.topics import TopicSpec, ensure_topics
from socialpulse.kafka.worker import Worker
from socialpulse.settings import Settings

pytestmark = pytest.mark.integration

PARTITIONS = 2


def _settings(bootstrap: str, run: str) -> Settings:
    return Settings(
        kafka={
            "bootstrap_servers": bootstrap,
            "group_id": f"state-{run}",
            "mentions_topic": f"state-{run}-m",
            "interactions_topic": f"state-{run}-i",
            "dlq_topic": f"state-{run}-dlq",
            "poll_timeout_ms": 200,
            "checkpoint_interval_seconds": 0.5,
        },
        brands=[b.model_dump() for b in DEMO_BRANDS],
        windows=("5m", "1h"),
        metrics_port=0,
        # A restart must restore exactly what a continuous run counts; spam verdicts come from
        # each process's own window (README: Signals), so they are off here.
        spam={"enabled": False},
    )


def _records(now: float, count: int, seed: int) -> list[tuple[str, bytes, bytes]]:
    """(stream, key, value): demo traffic from the last 50 minutes, with 10 % re-sent ids."""
    rng = random.Random(seed)
    demo = DemoTraffic(DEMO_BRANDS, rng)
    out: list[tuple[str, bytes, bytes]] = []
    for _ in range(count):
        at = datetime.fromtimestamp(now - rng.uniform(0, 3000), tz=UTC)
        if rng.random() < 0.4:
            out.append(("mentions", *demo.encoded_mention(at)))
        else:
            out.append(("interactions", *demo.encoded_interaction(at)))
    out += rng.sample(out, count // 10)  # re-sent: same key, same bytes
    return out


async def _produce(settings: Settings, records: list[tuple[str, bytes, bytes]]) -> None:
    kafka = settings.kafka
    topics = {"mentions": kafka.mentions_topic, "interactions": kafka.interactions_topic}
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers, enable_idempotence=False, acks="all"
    )
    await producer.start()
    try:
        futures = [await producer.send(topics[s], v, key=k) for s, k, v in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _read_to_end(
    bootstrap: str, tps: list[TopicPartition]
) -> list[tuple[TopicPartition, Any]]:
    """Every record now in ``tps``, in offset order per partition."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # seek_to_beginning alone can lose a race with "latest"
    )
    await consumer.start()
    out: list[tuple[TopicPartition, Any]] = []
    try:
        consumer.assign(tps)
        end = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        remaining = {tp for tp in tps if end[tp]}
        while remaining:
            for tp, recs in (await consumer.getmany(timeout_ms=500)).items():
                out += [(tp, r) for r in recs]
                if recs and recs[-1].offset + 1 >= end[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return out


async def _input_in_order(settings: Settings) -> list[tuple[str, tuple[str, int], int, bytes]]:
    """Every input record as the broker stores it: (stream, source, offset, value)."""
    kafka = settings.kafka
    assert kafka.bootstrap_servers is not None
    streams = {kafka.mentions_topic: "mentions", kafka.interactions_topic: "interactions"}
    tps = [TopicPartition(t, p) for t in streams for p in range(PARTITIONS)]
    return [
        (streams[tp.topic], (tp.topic, tp.partition), r.offset, r.value)
        for tp, r in await _read_to_end(kafka.bootstrap_servers, tps)
    ]


def _reference(settings: Settings, records: list[Any], now: float) -> Any:
    return _reference_pipeline(settings, records, now).store.snapshot(now)


def _reference_pipeline(settings: Settings, records: list[Any], now: float) -> Pipeline:
    ref = Pipeline(settings)
    for stream, source, offset, value in records:
        ref.process(stream, value, source, now, offset)
    return ref


async def _run_until_caught_up(worker: Worker, pipeline: Pipeline, total: int) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        deadline = time.monotonic() + 120
        while sum(pipeline.stats.processed.values()) < total:
            assert time.monotonic() < deadline, pipeline.stats
            assert not task.done(), task
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # at least one checkpoint after the last batch
    finally:
        stop.set()
        await task


async def _rewind_group(settings: Settings, to: dict[TopicPartition, int]) -> None:
    """Commit older offsets for the group, as if the worker died before committing."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group_id=settings.kafka.group_id,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign(list(to))
        await consumer.commit(to)
    finally:
        await consumer.stop()


async def _delete_some_state(settings: Settings, keep_every: int) -> int:
    """Tombstone all but every ``keep_every``-th state record: a flush that half landed."""
    topic = settings.kafka.state_topic_name
    assert settings.kafka.bootstrap_servers is not None
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    keys = {
        r.key: tp.partition for tp, r in await _read_to_end(settings.kafka.bootstrap_servers, tps)
    }
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, enable_idempotence=False
    )
    await producer.start()
    deleted = 0
    try:
        for n, (key, p) in enumerate(sorted(keys.items())):
            if n % keep_every:
                await producer.send_and_wait(topic, None, key=key, partition=p)
                deleted += 1
    finally:
        await producer.stop()
    return deleted


async def _new_group(bootstrap: str) -> Settings:
    """Settings of a fresh consumer group, with its topics created."""
    settings = _settings(bootstrap, uuid.uuid4().hex[:8])
    kafka = settings.kafka
    spec = TopicSpec(partitions=PARTITIONS)
    await ensure_topics(
        {"bootstrap_servers": bootstrap},
        {
            kafka.mentions_topic: spec,
            kafka.interactions_topic: spec,
            kafka.dlq_topic: spec,
            kafka.state_topic_name: state_topic_spec(PARTITIONS),
            kafka.minutes_topic_name: minutes_topic_spec(settings.anomaly),
        },
    )
    return settings


async def _one_life(
    settings: Settings,
    now: float,
    total: int,
    restored: bool = False,
    pipeline: Pipeline | None = None,
) -> Pipeline:
    """A worker from start to a clean stop, once ``total`` records were read."""
    assert settings.kafka.bootstrap_servers is not None
    pipeline = pipeline or Pipeline(settings)
    worker = Worker(settings, pipeline, settings.kafka.bootstrap_servers, lambda: now)
    await worker.start()
    await _run_until_caught_up(worker, pipeline, total)
    await worker.stop()
    if restored:
        assert worker.changelog.stats.records_restored > 0
    return pipeline


@pytest.mark.parametrize("keep_every", [1, 3], ids=["flush-landed", "flush-partly-landed"])
async def test_restart_after_a_crash_between_flush_and_commit_counts_everything_once(
    kafka_bootstrap: str, keep_every: int
) -> None:
    settings = await _new_group(kafka_bootstrap)
    kafka = settings.kafka
    now = time.time()
    first_half = _records(now, 600, seed=1)
    await _produce(settings, first_half)

    # First life: read everything, checkpoint, stop.
    p1 = await _one_life(settings, now, len(first_half))
    assert p1.stats.duplicates > 0

    # The crash: the state topic holds (some of) the state, the offsets say nothing was read.
    zero = {TopicPartition(t, p): 0 for t in (kafka.mentions_topic, kafka.interactions_topic)
            for p in range(PARTITIONS)}  # fmt: skip
    await _rewind_group(settings, zero)
    if keep_every > 1:
        assert await _delete_some_state(settings, keep_every) > 0

    # Traffic goes on while the worker is down.
    second_half = _records(now, 400, seed=2)
    await _produce(settings, second_half)

    p2 = await _one_life(settings, now, len(first_half) + len(second_half), restored=True)

    records = await _input_in_order(settings)
    assert len(records) == len(first_half) + len(second_half)
    want = _reference(settings, records, now)
    got = p2.store.snapshot(now)
    assert got == want

    # The reference itself counts each mention id once per matched brand.
    distinct: dict[str, set[str]] = {}
    for stream, _, _, value in records:
        if stream == "mentions":
            doc = json.loads(value)
            for m in p2.matcher.match(doc["text"], doc.get("tagged", False)):
                distinct.setdefault(m.brand, set()).add(doc["event_id"])
    for brand, ids in distinct.items():
        assert want[brand]["1h"].mentions == len(ids), brand


async def test_sigterm_and_restart_changes_nothing(kafka_bootstrap: str) -> None:
    settings = await _new_group(kafka_bootstrap)
    now = time.time()
    records = _records(now, 500, seed=3)
    await _produce(settings, records)
    p1 = await _one_life(settings, now, len(records))
    before = p1.store.snapshot(now)

    p2 = Pipeline(settings)
    w2 = Worker(settings, p2, kafka_bootstrap, lambda: now)
    await w2.start()
    stop = asyncio.Event()
    task = asyncio.create_task(w2.run(stop))
    deadline = time.monotonic() + 60
    while not w2.changelog.stats.restores:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    stop.set()
    await task
    await w2.stop()
    assert sum(p2.stats.processed.values()) == 0  # nothing re-read
    assert p2.store.snapshot(now) == before


async def test_a_missing_state_topic_is_named_at_start(kafka_bootstrap: str) -> None:
    settings = _settings(kafka_bootstrap, uuid.uuid4().hex[:8])
    kafka = settings.kafka
    spec = TopicSpec(partitions=PARTITIONS)
    await ensure_topics(  # every topic but the state topic
        {"bootstrap_servers": kafka_bootstrap},
        {
            kafka.mentions_topic: spec,
            kafka.interactions_topic: spec,
            kafka.dlq_topic: spec,
            kafka.minutes_topic_name: minutes_topic_spec(settings.anomaly),
        },
    )
    worker = Worker(settings, Pipeline(settings), kafka_bootstrap, time.time)
    with pytest.raises(RuntimeError, match=r"state topic '.*\.state' is missing"):
        await worker.start()


async def test_a_shorter_dedup_horizon_rejects_older_events_and_restored_ids_catch_copies(
    kafka_bootstrap: str,
) -> None:
    base = await _new_group(kafka_bootstrap)
    settings = Settings(**(base.model_dump() | {"dedup_horizon_seconds": 600}))
    now = time.time()
    first = _records(now, 500, seed=4)  # the last 50 minutes: most are past a 10 min horizon
    await _produce(settings, first)
    p1 = await _one_life(settings, now, len(first))
    assert p1.stats.rejected["late"] > 0 and p1.stats.duplicates > 0

    # After a restart, copies of everything are sent again: the restored ids recognise those
    # within the horizon, the rest are late again; none counts twice.
    await _produce(settings, first)
    p2 = await _one_life(settings, now, len(first), restored=True)  # only the copies are new
    assert p2.stats.duplicates > 0
    ref = _reference_pipeline(settings, await _input_in_order(settings), now)
    assert p2.store.snapshot(now) == ref.store.snapshot(now)
    assert p1.stats.rejected["late"] + p2.stats.rejected["late"] == ref.stats.rejected["late"]
    assert p2.stats.duplicates == ref.stats.duplicates - p1.stats.duplicates


async def test_ids_restored_into_spill_files_still_catch_every_copy(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A restore writes the dedup ids to the spill files at once: copies are still caught.

    Every record is sent again after the restart; each copy is found in the files, once.
    """
    settings = await _new_group(kafka_bootstrap)
    now = time.time()
    rng = random.Random(9)
    demo = DemoTraffic(DEMO_BRANDS, rng)
    minute = (now - 600) // 60 * 60  # one whole minute: enough ids a partition to be moved
    first: list[tuple[str, bytes, bytes]] = []
    for _ in range(1500):
        at = datetime.fromtimestamp(minute + rng.uniform(0, 59), tz=UTC)
        if rng.random() < 0.4:
            first.append(("mentions", *demo.encoded_mention(at)))
        else:
            first.append(("interactions", *demo.encoded_interaction(at)))
    await _produce(settings, first)
    p1 = await _one_life(settings, now, len(first))
    await _produce(settings, first)  # the whole minute again, after the restart
    files = SpillFiles(tmp_path)
    try:
        p2 = await _one_life(
            settings, now, len(first), restored=True, pipeline=Pipeline(settings, cold=files)
        )
        # Every partition-minute of 64 ids or more went to the files (keys need not spread).
        assert p2.dedup.ids_held() == p1.dedup.ids_held()
        assert p2.dedup.ids_cold() >= 0.9 * p2.dedup.ids_held()
        assert files.nbytes == 10 * p2.dedup.ids_cold()  # 8-byte ids, 16-bit offsets
    finally:
        files.close()
    ref = _reference_pipeline(settings, await _input_in_order(settings), now)
    assert p2.stats.duplicates == ref.stats.duplicates - p1.stats.duplicates >= len(first) * 0.9
    assert p2.store.snapshot(now) == ref.store.snapshot(now)


async def test_batches_go_on_while_a_checkpoint_waits_for_the_broker(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flush held up (a slow broker) holds back its commit, never the handling of batches."""
    settings = await _new_group(kafka_bootstrap)
    now = time.time()
    first = _records(now, 300, seed=5)
    await _produce(settings, first)
    pipeline = Pipeline(settings)
    worker = Worker(settings, pipeline, kafka_bootstrap, lambda: now)
    entered, release = asyncio.Event(), asyncio.Event()
    flush = worker.changelog.flush

    async def held_flush() -> set[tuple[str, int]]:
        if worker.changelog.pending_sources():  # the first flush with state to write
            entered.set()
            await release.wait()
        return await flush()

    monkeypatch.setattr(worker.changelog, "flush", held_flush)
    await worker.start()
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.wait_for(entered.wait(), 60)
        second = _records(now, 300, seed=6)
        await _produce(settings, second)
        total = len(first) + len(second)
        deadline = time.monotonic() + 60
        while sum(pipeline.stats.processed.values()) < total:
            assert time.monotonic() < deadline, "no batch handled while the flush was held"
            assert not task.done(), task
            await asyncio.sleep(0.1)
        assert worker.stats.commits == 0  # nothing committed before its state landed
        release.set()
        deadline = time.monotonic() + 60
        while worker.stats.commits < 2:  # the held checkpoint, then one with every batch
            assert time.monotonic() < deadline, worker.stats
            await asyncio.sleep(0.1)
    finally:
        release.set()
        stop.set()
        await task
    await worker.stop()

    # Restarted, it restores all of it, re-reads nothing and counts what one pass counts.
    p2 = await _one_life(settings, now, 0, restored=True)
    assert sum(p2.stats.processed.values()) == 0
    want = _reference(settings, await _input_in_order(settings), now)
    assert p2.store.snapshot(now) == want
