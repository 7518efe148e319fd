"""The topic reader: a whole topic from its start, caught up against its first ends, outages."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError

from socialpulse.kafka import topic_reader
from socialpulse.kafka.topic_reader import Batch, Record, TopicReader, apply_sliced

T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)
log = logging.getLogger("test.topic_reader")


def _record(tp: TopicPartition, offset: int) -> Record:
    key = f"{tp.partition}:{offset}".encode()
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, key, b"v", None, 3, 1, ())


@dataclass
class FakeConsumer:
    """A topic's records per partition, read from a position; ``failures`` getmany calls fail."""

    log: dict[TopicPartition, list[Record]]
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    failures: int = 0
    stopped: bool = False

    async def getmany(
        self, *tps: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Record]]:
        if self.failures:
            self.failures -= 1
            raise KafkaConnectionError("brokers away")
        out: dict[TopicPartition, list[Record]] = {}
        room = max_records or 1_000_000
        for tp in tps or sorted(self.log):
            at = self.positions.get(tp, 0)
            take = self.log[tp][at : at + min(room, 2)]  # two at most: several batches
            if take:
                out[tp] = take
                self.positions[tp] = at + len(take)
                room -= len(take)
        return out

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.log[tp]) for tp in tps}

    async def position(self, tp: TopicPartition) -> int:
        return self.positions.get(tp, 0)

    async def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def topic(monkeypatch: pytest.MonkeyPatch) -> dict[TopicPartition, list[Record]]:
    """The topic the readers open: partitions 0 and 1, three records and one."""
    records = {T0: [_record(T0, o) for o in range(3)], T1: [_record(T1, 0)]}
    opened: list[FakeConsumer] = []

    async def read_from_start(
        opts: dict[str, Any], name: str, partitions: set[int]
    ) -> tuple[Any, dict[TopicPartition, int]]:
        assert name == "t"
        tps = [TopicPartition(name, p) for p in sorted(partitions)]
        consumer = FakeConsumer({tp: records[tp] for tp in tps})
        opened.append(consumer)
        return consumer, await consumer.end_offsets(tps)

    async def no_sleep(_: float) -> None:
        return None

    monkeypatch.setattr(topic_reader, "read_from_start", read_from_start)
    monkeypatch.setattr("socialpulse.kafka.topic_reader.asyncio.sleep", no_sleep)
    return records


async def test_read_to_end_hands_on_every_record_up_to_the_current_end(
    topic: dict[TopicPartition, list[Record]],
) -> None:
    reader = TopicReader("t", {})
    assert not reader.opened
    await reader.open([1, 0])
    assert reader.start_ends == {T0: 3, T1: 1}
    assert not await reader.reached_start_ends()
    seen: list[bytes | None] = []
    await reader.read_to_end(lambda r: seen.append(r.key), timeout_ms=10)
    assert sorted(k or b"" for k in seen) == [b"0:0", b"0:1", b"0:2", b"1:0"]
    assert [k for k in seen if k and k.startswith(b"0:")] == [b"0:0", b"0:1", b"0:2"]
    assert await reader.reached_start_ends()
    assert await reader.lag() == {T0: 0, T1: 0}
    topic[T0].append(_record(T0, 3))  # published meanwhile
    assert await reader.lag() == {T0: 1, T1: 0}
    assert await reader.reached_start_ends()  # caught up stays measured at the first ends
    await reader.stop()
    await reader.stop()
    assert not reader.opened


async def test_caught_up_is_measured_against_the_ends_of_the_first_open(
    topic: dict[TopicPartition, list[Record]],
) -> None:
    reader = TopicReader("t", {})
    await reader.open([0, 1])
    await reader.stop()
    topic[T0].append(_record(T0, 3))
    await reader.open([0, 1])
    assert reader.start_ends == {T0: 3, T1: 1}
    with pytest.raises(RuntimeError, match="not open"):
        await TopicReader("t", {}).getmany(10)


async def test_follow_waits_for_the_topic_retries_an_outage_and_hands_on_every_batch(
    topic: dict[TopicPartition, list[Record]], caplog: pytest.LogCaptureFixture
) -> None:
    reader = TopicReader("t", {})
    stop = asyncio.Event()
    asked: list[int] = []
    opened: list[dict[TopicPartition, int]] = []
    seen: list[bytes | None] = []

    async def partitions() -> set[int] | None:
        asked.append(1)
        if len(asked) == 1:
            return None  # missing: asked again after wait_seconds
        return {0, 1}

    def on_open() -> None:
        opened.append(dict(reader.start_ends))
        reader._consumer.failures = 1  # type: ignore[union-attr]

    async def handle(batch: Batch) -> None:
        await apply_sliced(batch, lambda r: seen.append(r.key))
        if await reader.reached_start_ends():
            stop.set()

    with caplog.at_level(logging.WARNING, logger=log.name):
        await reader.follow(
            stop,
            partitions,
            handle,
            log=log,
            what="test",
            max_records=3,
            wait_seconds=0.5,
            opened=on_open,
        )
    assert len(asked) == 2
    assert opened == [{T0: 3, T1: 1}]
    assert sorted(k or b"" for k in seen) == [b"0:0", b"0:1", b"0:2", b"1:0"]
    assert [r.getMessage() for r in caplog.records] == [
        "test topic t: KafkaConnectionError('brokers away'); retrying in 1 s"
    ]


async def test_follow_raises_what_it_is_told_is_fatal(
    topic: dict[TopicPartition, list[Record]],
) -> None:
    class Missing(RuntimeError):
        pass

    async def partitions() -> set[int] | None:
        raise Missing("no topic")

    async def handle(batch: Batch) -> None:
        raise AssertionError("never read")

    with pytest.raises(Missing):
        await TopicReader("t", {}).follow(
            asyncio.Event(),
            partitions,
            handle,
            log=log,
            what="test",
            max_records=1,
            wait_seconds=0.1,
            fatal=(Missing,),
        )


async def test_follow_waits_out_a_client_call_cancelled_under_it_but_stops_when_cancelled(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A connection closed mid-request can cancel the client's future: retried, not fatal."""
    monkeypatch.setattr(topic_reader, "RETRY_SECONDS", 0.0)
    stop = asyncio.Event()
    calls: list[int] = []

    class Flaky(TopicReader):
        async def getmany(self, timeout_ms: int, max_records: int | None = None) -> Batch:
            calls.append(timeout_ms)
            if len(calls) == 1:
                fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                asyncio.get_running_loop().call_soon(fut.cancel)
                await fut  # raises CancelledError, though nobody cancelled the task
            if len(calls) == 3:
                stop.set()
            return {}

    async def partitions() -> set[int] | None:
        return {0}

    handled: list[Batch] = []

    async def handle(batch: Batch) -> None:
        handled.append(batch)

    reader = Flaky("t", {})
    reader._consumer = object()  # open: follow goes to getmany
    with caplog.at_level(logging.WARNING, logger=log.name):
        await reader.follow(
            stop, partitions, handle, log=log, what="test", max_records=1, wait_seconds=0.1
        )
    assert len(calls) == 3 and len(handled) == 2
    assert [r.getMessage() for r in caplog.records] == [
        "test topic t: a client call was cancelled; retrying in 1 s"
    ]

    # A real cancel of the task still stops it.
    class Slow(TopicReader):
        async def getmany(self, timeout_ms: int, max_records: int | None = None) -> Batch:
            await asyncio.sleep(60)
            return {}

    slow = Slow("t", {})
    slow._consumer = object()
    stop.clear()
    task = asyncio.create_task(
        slow.follow(stop, partitions, handle, log=log, what="test", max_records=1, wait_seconds=0.1)
    )
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.wait([task])
    assert task.cancelled()
