"""The worker's dead-letter path: a refusal ends in a truncated letter or a held partition.

The worker runs against a fake producer whose batches fail the way Apache Kafka's do (a record
too large fails its whole batch) and a fake consumer that records pauses and seeks; positions
are what a checkpoint would commit.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import TopicPartition
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    MessageSizeTooLargeError,
    TopicAuthorizationFailedError,
)

from builders import ALPHA_BETA, encoded, mention
from socialpulse.core.pipeline import Pipeline
from socialpulse.kafka.deadletter import TRUNCATED_VALUE_BYTES, headers_as_dict
from socialpulse.kafka.worker import Worker
from socialpulse.settings import Settings

NOW = 1_800_000_030.0
SETTINGS = Settings(
    kafka={"bootstrap_servers": "127.0.0.1:9", "mentions_topic": "m", "dlq_topic": "dlq"},
    brands=ALPHA_BETA,
    windows=("5m",),
)
M0, M1 = TopicPartition("m", 0), TopicPartition("m", 1)
LIMIT = 4096  # the fake dead-letter topic's largest batch


@dataclass
class Rec:
    offset: int
    value: bytes | None
    key: bytes | None = b"k"


def _valid(event_id: str) -> bytes:
    return encoded(mention(NOW - 5, text="alpha", event_id=event_id))


@dataclass
class FakeProducer:
    """Sends resolve together at the next loop turn, as one batch: too large fails them all."""

    refuse: Callable[[bytes | None], KafkaError | None] = lambda _: None
    delivered: list[tuple[bytes | None, bytes | None, dict[str, str]]] = field(default_factory=list)
    _open: list[tuple[asyncio.Future[None], Any]] = field(default_factory=list)

    async def send(
        self, topic: str, value: bytes | None, key: bytes | None, headers: list[Any]
    ) -> asyncio.Future[None]:
        assert topic == "dlq"
        f: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self._open:
            asyncio.get_running_loop().call_soon(self._resolve)
        self._open.append((f, (key, value, headers_as_dict(headers))))
        return f

    def _resolve(self) -> None:
        batch, self._open = self._open, []
        size = sum(len(v or b"") for _, (_, v, _) in batch)
        errors = [self.refuse(v) for _, (_, v, _) in batch]
        for (f, letter), err in zip(batch, errors, strict=True):
            if size > LIMIT:
                f.set_exception(MessageSizeTooLargeError())
            elif err is not None:
                f.set_exception(err)
            else:
                self.delivered.append(letter)
                f.set_result(None)


@dataclass
class FakeConsumer:
    paused: set[TopicPartition] = field(default_factory=set)
    seeks: list[tuple[TopicPartition, int]] = field(default_factory=list)

    def pause(self, *tps: TopicPartition) -> None:
        self.paused |= set(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused -= set(tps)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    def assignment(self) -> set[TopicPartition]:
        return {M0, M1}


@dataclass
class Rig:
    worker: Worker
    producer: FakeProducer
    consumer: FakeConsumer

    async def handle(self, batch: dict[TopicPartition, list[Rec]]) -> None:
        await self.worker._handle(batch)  # type: ignore[arg-type]

    @property
    def positions(self) -> dict[TopicPartition, int]:
        return self.worker._positions


@pytest_asyncio.fixture
async def rig(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    monkeypatch.setattr("socialpulse.kafka.worker.asyncio.sleep", _no_sleep)
    worker = Worker(SETTINGS, Pipeline(SETTINGS), "127.0.0.1:9", lambda: NOW)
    real = worker._producer, worker._consumer
    producer, consumer = FakeProducer(), FakeConsumer()
    worker._producer, worker._consumer = producer, consumer
    worker._owned = {("m", 0), ("m", 1)}
    try:
        yield Rig(worker, producer, consumer)
    finally:
        await real[1].stop()
        await real[0].stop()


_real_sleep = asyncio.sleep


async def _no_sleep(_: float) -> None:
    await _real_sleep(0)


async def test_a_reject_too_large_goes_truncated_and_its_batch_mates_whole(rig: Rig) -> None:
    huge = b"{" * (LIMIT * 2)
    await rig.handle({M0: [Rec(0, b"{"), Rec(1, huge), Rec(2, _valid("ok")), Rec(3, b"[")]})
    by_offset = {int(h["socialpulse.source.offset"]): (v, h) for _, v, h in rig.producer.delivered}
    assert sorted(by_offset) == [0, 1, 3]
    assert by_offset[0][0] == b"{" and "socialpulse.truncated" not in by_offset[0][1]
    assert by_offset[3][0] == b"["
    value, h = by_offset[1]
    assert value == huge[:TRUNCATED_VALUE_BYTES]
    assert h["socialpulse.original.sha256"] == hashlib.sha256(huge).hexdigest()
    assert rig.positions == {M0: 4}
    assert rig.worker.stats.dead_lettered == 3
    assert rig.worker.stats.dead_letter_refusals["too_large"] == 1


async def test_a_final_refusal_holds_its_partition_and_the_others_go_on(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.producer.refuse = lambda v: TopicAuthorizationFailedError() if v == b"{m0" else None
    batch = {M0: [Rec(0, _valid("a")), Rec(1, b"{m0"), Rec(2, b"{x")], M1: [Rec(5, b"{m1")]}
    with caplog.at_level(logging.ERROR):
        await rig.handle(batch)
        assert rig.positions == {M0: 1, M1: 6}  # never past the undelivered reject at 1
        assert rig.consumer.paused == {M0}
        assert rig.worker.stats.held_partitions == 1
        assert rig.worker.stats.dead_letter_refusals["authorization"] == 1

        # Read again from the held reject; still refused: counted again, logged once only.
        rig.worker._read_held_again()
        assert rig.consumer.seeks == [(M0, 1)] and not rig.consumer.paused
        await rig.handle({M0: batch[M0][1:]})
    assert rig.positions[M0] == 1 and rig.consumer.paused == {M0}
    assert rig.worker.stats.dead_letter_refusals["authorization"] == 2
    assert len([r for r in caplog.records if "for good" in r.getMessage()]) == 1

    # Allowed again: the partition moves on and is no longer held.
    rig.producer.refuse = lambda _: None
    rig.worker._read_held_again()
    await rig.handle({M0: batch[M0][1:]})
    assert rig.positions == {M0: 3, M1: 6}
    assert rig.worker.stats.held_partitions == 0


async def test_positions_do_not_move_while_dead_letters_wait_for_the_broker(rig: Rig) -> None:
    rig.producer.refuse = lambda _: KafkaConnectionError()
    rig.positions[M0] = 3  # acknowledged earlier, not yet committed
    task = asyncio.create_task(rig.handle({M0: [Rec(3, _valid("a")), Rec(4, b"{")]}))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not task.done()  # a retriable error is retried...
    task.cancel()  # ...until shutdown cancels the batch
    await asyncio.wait([task])
    assert rig.positions == {M0: 3}  # what stop() would commit: nothing past the reject
    assert rig.worker.stats.dead_letter_refusals == dict.fromkeys(
        rig.worker.stats.dead_letter_refusals, 0
    )


async def test_long_texts_are_scored_in_a_helper_process_to_the_same_state(rig: Rig) -> None:
    """A text too long for the loop is scored elsewhere; the state is as if scored in line."""
    long = "alpha " + "😍 so good but BAD!! " * 120
    records = [
        Rec(0, encoded(mention(NOW - 5, text=long, event_id="long", language="en"))),
        Rec(1, _valid("short")),
    ]
    try:
        await rig.handle({M0: records})
        assert rig.worker._scoring_pool is not None  # the helper process did the scoring
    finally:
        if rig.worker._scoring_pool is not None:
            rig.worker._scoring_pool.shutdown()
    inline = Pipeline(SETTINGS)
    inline.process_batch("mentions", [(r.offset, r.value) for r in records], ("m", 0), NOW)
    assert rig.worker._pipeline.store.snapshot(NOW) == inline.store.snapshot(NOW)
    assert rig.positions == {M0: 2}


async def test_a_helper_that_fails_leaves_the_long_texts_scored_in_line(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(texts: list[str]) -> list[object]:
        raise RuntimeError("helper gone")

    class InLine:  # runs the submitted call at once, like a pool whose worker then dies
        def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
            f: Future[Any] = Future()
            try:
                f.set_result(fn(*args))
            except Exception as e:  # noqa: BLE001 - handed to the awaiting worker
                f.set_exception(e)
            return f

        def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
            pass

    monkeypatch.setattr("socialpulse.kafka.worker.score_texts", broken)
    rig.worker._scoring_pool = InLine()  # type: ignore[assignment]
    long = "alpha " + "so good but bad " * 200
    records = [Rec(0, encoded(mention(NOW - 5, text=long, event_id="long", language="en")))]
    await rig.handle({M0: records})
    assert rig.worker._scoring_pool is None
    inline = Pipeline(SETTINGS)
    inline.process_batch("mentions", [(0, records[0].value)], ("m", 0), NOW)
    assert rig.worker._pipeline.store.snapshot(NOW) == inline.store.snapshot(NOW)


async def test_a_poll_cancelled_under_the_worker_is_waited_out_and_a_real_cancel_stops_it(
    rig: Rig,
) -> None:
    """A client future cancelled mid-request (the cluster away) must not end the service."""
    stop = asyncio.Event()
    polls: list[int] = []

    async def getmany(timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Rec]]:
        polls.append(timeout_ms)
        if len(polls) == 2:
            stop.set()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(fut.cancel)
        await fut  # CancelledError, though nothing cancelled the worker
        return {}

    rig.consumer.getmany = getmany  # type: ignore[attr-defined]
    await rig.worker.run(stop)
    assert len(polls) == 2
    assert rig.worker.stats.errors["other"] == 2

    async def hanging(timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Rec]]:
        await _real_sleep(60)
        return {}

    rig.consumer.getmany = hanging  # type: ignore[attr-defined]
    task = asyncio.create_task(rig.worker.run(asyncio.Event()))
    await _real_sleep(0.05)
    task.cancel()
    await asyncio.wait([task])
    assert task.cancelled()


async def test_a_large_batch_lets_the_loop_go_between_slices_to_the_same_state(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other tasks (a scrape, a flush) run between slices of a partition's records."""
    monkeypatch.setattr("socialpulse.kafka.worker.FOLD_RECORDS", 10)
    records = [Rec(n, _valid(f"e{n % 37}")) for n in range(45)]  # resent ids across slices
    records[23] = Rec(23, b"not json")
    store = rig.worker._pipeline.store
    seen: list[int] = []

    async def scrape() -> None:  # what a scrape reads, each time the loop turns
        while True:
            counts = store.snapshot(NOW).get("a")
            seen.append(counts["5m"].mentions if counts else 0)
            await _real_sleep(0)

    watcher = asyncio.create_task(scrape())
    try:
        await rig.handle({M0: records})
    finally:
        watcher.cancel()
    final = store.snapshot(NOW)["a"]["5m"].mentions
    # It saw the partition's count grow slice by slice (the fifth slice holds resent ids only).
    assert len({n for n in seen if 0 < n < final}) >= 3, seen
    inline = Pipeline(SETTINGS)
    want = inline.process_batch("mentions", [(r.offset, r.value) for r in records], ("m", 0), NOW)
    assert store.snapshot(NOW) == inline.store.snapshot(NOW)
    assert [offset for offset, _ in want] == [23]
    assert len(rig.producer.delivered) == 1  # the reject, dead-lettered once
    assert rig.positions == {M0: 45}
