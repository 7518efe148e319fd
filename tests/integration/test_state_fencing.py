"""State records against a real broker: fenced writers lose, big records split, old formats read.

Each test drives ``Changelog`` (and, for restore failures and partial flushes, ``Worker``)
against the test broker and compares what a fresh restore sees with the state that was written.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from kafka_group import create_group_topics, group_settings, until
from socialpulse.core.events import Author, Mention, Stream
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.sentiment import Sentiment
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.demo.generator import DemoTraffic
from socialpulse.kafka.changelog import (
    CHUNK_BYTES,
    ERA,
    MAX_RECORD_BYTES,
    Changelog,
    StateFormatError,
    state_topic_spec,
)
from socialpulse.kafka.topics import ensure_topics
from socialpulse.kafka.worker import Worker
from socialpulse.settings import Settings

pytestmark = pytest.mark.integration

NOW = time.time()
SOURCE = ("m", 0)


@pytest_asyncio.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        enable_idempotence=False,
        acks="all",
        max_request_size=MAX_RECORD_BYTES + 4096,
    )
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def _state_topic(bootstrap: str, prefix: str) -> str:
    topic = f"{prefix}state"
    await ensure_topics({"bootstrap_servers": bootstrap}, {topic: state_topic_spec(1)})
    return topic


def _mention(n: int, ts: float, text: str = "Aurora Coffee is great") -> bytes:
    return msgspec.json.encode(
        Mention(
            event_id=f"e{n}",
            platform="x",
            created_at=datetime.fromtimestamp(ts, tz=UTC),
            author=Author(id=f"a{n}", handle=f"@author{n}", followers=n),
            text=text,
            kind="post",
        )
    )


async def _changelog(
    bootstrap: str, topic: str, pipeline: Pipeline, producer: AIOKafkaProducer
) -> Changelog:
    c = Changelog(topic, {"bootstrap_servers": bootstrap}, pipeline.store, pipeline.dedup, producer)
    await c.start()
    return c


async def test_a_fenced_writer_never_wins_over_its_successor(
    kafka_bootstrap: str, topic_prefix: str, producer: AIOKafkaProducer
) -> None:
    settings = group_settings(kafka_bootstrap, topic_prefix)
    topic = await _state_topic(kafka_bootstrap, topic_prefix)
    minute = NOW - 600
    # The first owner, generation 5, counts two mentions of one minute and checkpoints.
    old = Pipeline(settings)
    old_log = await _changelog(kafka_bootstrap, topic, old, producer)
    await old_log.restore({SOURCE}, generation=5)
    for n in range(2):
        old.process("mentions", _mention(n, minute), SOURCE, NOW, n)
    old_log.collect({SOURCE})
    assert not await old_log.flush()

    # Its successor (generation 6) restores, counts one more event of the same minute, flushes.
    new = Pipeline(settings)
    new_log = await _changelog(kafka_bootstrap, topic, new, producer)
    await new_log.restore({SOURCE}, generation=6)
    assert new_log.epoch(SOURCE) == 6
    assert (old_log.epoch(SOURCE), new_log.epoch(SOURCE)) == (5, 6)
    new.process("mentions", _mention(2, minute), SOURCE, NOW, 2)
    new_log.collect({SOURCE})
    assert not await new_log.flush()
    want = new.store.snapshot(NOW)

    # The paused first owner wakes up and flushes the same minute with what it had: stale.
    old.process("mentions", _mention(9, minute, "Aurora Coffee again"), SOURCE, NOW, 9)
    old_log.collect({SOURCE})
    assert not await old_log.flush()  # the broker takes it: nothing but the epoch fences it
    assert old.store.snapshot(NOW) != want

    fresh = Pipeline(settings)
    fresh_log = await _changelog(kafka_bootstrap, topic, fresh, producer)
    await fresh_log.restore({SOURCE}, generation=7)
    assert fresh.store.snapshot(NOW) == want
    assert fresh_log.stats.records_fenced >= 1
    assert fresh.store.snapshot(NOW)["aurora"]["1h"].mentions == 3


async def test_a_reset_group_still_outranks_older_epochs(
    kafka_bootstrap: str, topic_prefix: str, producer: AIOKafkaProducer
) -> None:
    settings = group_settings(kafka_bootstrap, topic_prefix)
    topic = await _state_topic(kafka_bootstrap, topic_prefix)
    p = Pipeline(settings)
    log = await _changelog(kafka_bootstrap, topic, p, producer)
    await log.restore({SOURCE}, generation=40)
    p.process("mentions", _mention(1, NOW - 60), SOURCE, NOW, 1)
    log.collect({SOURCE})
    assert not await log.flush()
    # The group was deleted and recreated: generations start at 1 again.
    again = Pipeline(settings)
    again_log = await _changelog(kafka_bootstrap, topic, again, producer)
    await again_log.restore({SOURCE}, generation=1)
    epoch = again_log.epoch(SOURCE)
    assert epoch is not None and epoch > 40 and epoch == ERA + 1
    assert again.store.snapshot(NOW) == p.store.snapshot(NOW)


async def test_a_minute_larger_than_a_record_is_split_and_restored_whole(
    kafka_bootstrap: str, topic_prefix: str, producer: AIOKafkaProducer
) -> None:
    settings = group_settings(kafka_bootstrap, topic_prefix)
    topic = await _state_topic(kafka_bootstrap, topic_prefix)
    p = Pipeline(settings)
    log = await _changelog(kafka_bootstrap, topic, p, producer)
    await log.restore({SOURCE}, generation=3)
    minute = (int(NOW // 60) - 3) * 60 + 1.0
    # Long handles make the minute's author tallies several chunks long.
    text = "Aurora Coffee and Lumen Roasters and Ember Brew"
    events = [
        Mention(
            event_id=f"big{n}",
            platform="x",
            created_at=datetime.fromtimestamp(minute, tz=UTC),
            author=Author(id=f"author-{n}-{'x' * 150}", handle=f"@h{n}{'y' * 150}", followers=n),
            text=text,
            kind="post",
        )
        for n in range(12_000)
    ]
    sentiment = Sentiment(0.5, 0.5, 0.5, 0.0)
    for n, m in enumerate(events):
        for brand in ("aurora", "lumen", "ember"):
            p.store.add_mention(SOURCE, brand, m, sentiment, False, n)
    log.collect({SOURCE})
    assert not await log.flush()
    assert log.stats.records_split >= 1
    assert log.stats.bytes_written > 2 * CHUNK_BYTES

    fresh = Pipeline(settings)
    fresh_log = await _changelog(kafka_bootstrap, topic, fresh, producer)
    await fresh_log.restore({SOURCE}, generation=4)
    assert fresh.store.snapshot(NOW) == p.store.snapshot(NOW)
    assert fresh.store.snapshot(NOW)["aurora"]["5m"].unique_authors == len(events)

    # A write that dies half-way (only its first part lands) leaves the previous version whole.
    fresh.store.add_mention(SOURCE, "aurora", events[0], sentiment, True, len(events) + 1)
    fresh_log.collect({SOURCE})
    first_only = {lg: dict(list(recs.items())[:1]) for lg, recs in fresh_log._pending.items()}
    fresh_log._pending = first_only
    assert not await fresh_log.flush()
    third = Pipeline(settings)
    third_log = await _changelog(kafka_bootstrap, topic, third, producer)
    await third_log.restore({SOURCE}, generation=5)
    assert third.store.snapshot(NOW) == p.store.snapshot(NOW)


async def test_old_records_are_read_and_newer_formats_fail_loudly(
    kafka_bootstrap: str, topic_prefix: str, producer: AIOKafkaProducer
) -> None:
    settings = group_settings(kafka_bootstrap, topic_prefix)
    topic = await _state_topic(kafka_bootstrap, topic_prefix)
    p = Pipeline(settings)
    for n in range(5):
        p.process("mentions", _mention(n, NOW - 120), SOURCE, NOW, n)
    # Format 1: a four-element key, no headers (what the previous release wrote).
    index = int((NOW - 120) // 60)
    from socialpulse.core.windows.bucket import encode_minute

    v1_key = msgspec.msgpack.encode(["w", SOURCE[0], SOURCE[1], index])
    await producer.send_and_wait(
        topic, encode_minute(p.store.buckets_at(SOURCE, index)), key=v1_key, partition=0
    )
    fresh = Pipeline(settings)
    log = await _changelog(kafka_bootstrap, topic, fresh, producer)
    await log.restore({SOURCE}, generation=2)
    assert fresh.store.snapshot(NOW) == p.store.snapshot(NOW)

    # A record of a format this build does not know stops the restore instead of being misread.
    v9_key = msgspec.msgpack.encode(["w", SOURCE[0], SOURCE[1], index + 1, 99, 0, 0])
    await producer.send_and_wait(
        topic, b"\x80", key=v9_key, partition=0, headers=[("socialpulse.state.version", b"9")]
    )
    later = Pipeline(settings)
    later_log = await _changelog(kafka_bootstrap, topic, later, producer)
    with pytest.raises(StateFormatError, match="format version 9"):
        await later_log.restore({SOURCE}, generation=3)
    assert later.store.sources() == set()
    assert later_log.stats.restore_failures == 1
    assert later_log.stats.unrestored == {SOURCE}


async def _produce_demo(settings: Settings, count: int, seed: int) -> list[tuple[Stream, bytes]]:
    kafka = settings.kafka
    rng = random.Random(seed)
    demo = DemoTraffic(DEMO_BRANDS, rng)
    topics = {"mentions": kafka.mentions_topic, "interactions": kafka.interactions_topic}
    p = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, enable_idempotence=False)
    await p.start()
    sent: list[tuple[Stream, bytes]] = []
    try:
        futures = []
        for _ in range(count):
            at = datetime.fromtimestamp(NOW - rng.uniform(0, 3000), tz=UTC)
            stream, key, value = demo.encoded_next(at)
            futures.append(await p.send(topics[stream], value, key=key))
            sent.append((stream, value))
        await asyncio.gather(*futures)
    finally:
        await p.stop()
    return sent


async def test_a_failed_restore_pauses_the_partitions_and_is_retried(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = group_settings(kafka_bootstrap, topic_prefix)
    await create_group_topics(settings, 2)
    sent = await _produce_demo(settings, 400, seed=11)
    reference = Pipeline(settings)

    pipeline = Pipeline(settings)
    worker = Worker(settings, pipeline, kafka_bootstrap, lambda: NOW)
    real_read = worker.changelog._read
    failures = 2

    async def flaky_read(sources: set[tuple[str, int]]) -> Any:
        nonlocal failures
        if failures:
            failures -= 1
            raise KafkaConnectionError("state topic unreachable (test)")
        return await real_read(sources)

    monkeypatch.setattr(worker.changelog, "_read", flaky_read)
    await worker.start()
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await until(lambda: worker.changelog.stats.restore_failures >= 1)
        # Not restored: nothing consumed, nothing exported, not ready.
        assert not worker.stats.ready
        assert sum(pipeline.stats.processed.values()) == 0
        assert pipeline.store.sources() == set()
        await until(lambda: sum(pipeline.stats.processed.values()) >= len(sent))
        await until(lambda: not worker.stats.uncommitted)
        assert worker.stats.ready
        assert worker.changelog.stats.restore_failures == 2
        # Each partition's state is written with the epoch of the group generation it came in.
        generation = worker._generation
        assert generation > 0
        epochs = {worker.changelog.epoch(s) for s in worker._owned}
        assert epochs == {generation}
    finally:
        stop.set()
        await task
        await worker.stop()
    # The worker read every record exactly once after the retries: its KPIs equal a clean run.
    for offset, (stream, value) in enumerate(sent):
        reference.process(stream, value, (stream, 0), NOW, offset)
    got = pipeline.store.snapshot(NOW)
    want = reference.store.snapshot(NOW)
    assert {b: k["1h"].mentions for b, k in got.items()} == {
        b: k["1h"].mentions for b, k in want.items()
    }


async def test_a_partition_whose_state_cannot_be_written_does_not_hold_back_the_others(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = group_settings(kafka_bootstrap, topic_prefix)
    await create_group_topics(settings, 2)
    sent = await _produce_demo(settings, 300, seed=12)
    pipeline = Pipeline(settings)
    worker = Worker(settings, pipeline, kafka_bootstrap, lambda: NOW)
    real_send = worker._producer.send_batch
    state_topic = settings.kafka.state_topic_name

    async def send_batch(batch: Any, topic: str, *, partition: int) -> Any:
        if topic == state_topic and partition == 1:
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            fut.set_exception(KafkaConnectionError("partition 1 unwritable (test)"))
            return fut
        return await real_send(batch, topic, partition=partition)

    monkeypatch.setattr(worker._producer, "send_batch", send_batch)
    await worker.start()
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await until(lambda: sum(pipeline.stats.processed.values()) >= len(sent))
        await until(
            lambda: (
                worker.stats.uncommitted
                <= {
                    (t, 1)
                    for t in (settings.kafka.mentions_topic, settings.kafka.interactions_topic)
                }
            )
        )
        await asyncio.sleep(1.0)
        ages = worker.stats.seconds_since_commit(time.monotonic())
    finally:
        stop.set()
        await task
        monkeypatch.undo()
        await worker.stop()
    stuck = {s for s, age in ages.items() if age > 0}
    assert stuck == {
        (t, 1) for t in (settings.kafka.mentions_topic, settings.kafka.interactions_topic)
    }
    assert worker.changelog.stats.flush_failures > 0
    # Partition 0 committed everything it read.
    consumer_tp = TopicPartition(settings.kafka.mentions_topic, 0)
    assert consumer_tp not in worker._positions


async def test_readiness_follows_a_rebalance(kafka_bootstrap: str, topic_prefix: str) -> None:
    settings = group_settings(kafka_bootstrap, topic_prefix)
    await create_group_topics(settings, 2)
    await _produce_demo(settings, 200, seed=13)
    first = Worker(settings, Pipeline(settings), kafka_bootstrap, lambda: NOW)
    # What the first worker reported while the group moved its partitions: at the moment the
    # new assignment arrives (after the revoke, before the restore) it must say "not ready".
    ready_on_assignment: list[bool] = []
    real_assigned = first.assigned

    async def assigned(tps: set[TopicPartition]) -> None:
        ready_on_assignment.append(first.stats.ready)
        await real_assigned(tps)

    first.assigned = assigned  # type: ignore[method-assign,assignment]
    await first.start()
    stop1 = asyncio.Event()
    task1 = asyncio.create_task(first.run(stop1))
    second = Worker(settings, Pipeline(settings), kafka_bootstrap, lambda: NOW)
    stop2 = asyncio.Event()
    task2: asyncio.Task[None] | None = None
    try:
        await until(lambda: first.stats.ready and len(first._owned) == 4)
        await second.start()
        task2 = asyncio.create_task(second.run(stop2))
        await until(lambda: second.stats.ready and len(second._owned) == 2 and first.stats.ready)
        assert len(first._owned) == 2
    finally:
        stop1.set()
        stop2.set()
        await task1
        if task2 is not None:
            await task2
        await first.stop()
        await second.stop()
    # The first assignment follows start-up; the second follows the revoke of the rebalance.
    assert len(ready_on_assignment) >= 2
    assert ready_on_assignment[1:] == [False] * (len(ready_on_assignment) - 1)
