"""The joins topic's publisher and reader without a broker: failed sends wait, bad records count."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaTimeoutError
from aiokafka.partitioner import DefaultPartitioner

from builders import interaction, mention
from socialpulse.core.joins import (
    JoinView,
    decode_input,
    encode_input,
    interaction_input,
    mention_input,
)
from socialpulse.kafka import joins
from socialpulse.kafka.joins import JoinPublisher, JoinReader, JoinStats
from socialpulse.settings import BrandSettings

NOW = 1_800_000_000.0
BRANDS = [BrandSettings(id="a", name="A", terms=("alpha",))]


@dataclass
class FakeBatch:
    """A record batch of at most ``room`` records."""

    room: int
    records: list[tuple[bytes, bytes]] = field(default_factory=list)

    def append(self, *, key: bytes, value: bytes, timestamp: None) -> object | None:
        if len(self.records) >= self.room:
            return None
        self.records.append((key, value))
        return object()


@dataclass
class FakeProducer:
    """Acknowledges every batch at once, but those holding a key in ``failing``."""

    failing: set[bytes] = field(default_factory=set)
    landed: list[tuple[bytes, bytes]] = field(default_factory=list)
    # Records per batch, and (partition, records) of each batch sent.
    room: int = 100
    batches: list[tuple[int, int]] = field(default_factory=list)

    async def partitions_for(self, topic: str) -> set[int]:
        assert topic == "g.joins"
        return {0, 1, 2}

    def create_batch(self) -> FakeBatch:
        return FakeBatch(self.room)

    async def send_batch(
        self, batch: FakeBatch, topic: str, *, partition: int
    ) -> asyncio.Future[None]:
        assert topic == "g.joins"
        self.batches.append((partition, len(batch.records)))
        f: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if any(key in self.failing for key, _ in batch.records):
            f.set_exception(KafkaTimeoutError())
        else:
            self.landed.extend(batch.records)
            f.set_result(None)
        return f


def _inputs() -> list[Any]:
    like = interaction_input(("i", 1), 7, interaction(NOW, "like", post="p1"))
    assert like is not None
    return [mention_input(("m", 0), 3, ["a"], mention(NOW, text="alpha")), like]


async def test_a_source_whose_inputs_did_not_land_is_reported_and_sent_again() -> None:
    producer = FakeProducer(failing={b"i:1"})
    stats = JoinStats()
    publisher = JoinPublisher("g.joins", producer, stats)
    assert await publisher.flush() == set()
    publisher.add(_inputs())
    assert await publisher.flush() == {("i", 1)}  # its offsets must not be committed
    assert [k for k, _ in producer.landed] == [b"m:0"]
    assert (stats.sent, stats.send_failures) == (1, 1)
    producer.failing.clear()
    assert await publisher.flush() == set()
    assert [k for k, _ in producer.landed] == [b"m:0", b"i:1"]
    assert decode_input(producer.landed[1][1]).offset == 7
    assert stats.sent == 2


def _record(partition: int, offset: int, value: bytes | None) -> Any:
    return ConsumerRecord("g.joins", partition, offset, 0, 0, None, value, None, -1, -1, ())


async def test_an_unreadable_record_is_counted_and_skipped() -> None:
    view = JoinView(BRANDS, {"1h": 3600})
    stats = JoinStats()
    reader = JoinReader("g.joins", {}, view, lambda: NOW, stats)
    reader._next_lag = reader._next_expire = float("inf")  # no broker to ask for the lag
    good = FakeProducer()
    publisher = JoinPublisher("g.joins", good, JoinStats())
    publisher.add(_inputs())
    await publisher.flush()
    records = [_record(0, 0, b"\xc1 not msgpack"), _record(0, 1, None)]
    records += [_record(0, offset, v) for offset, (_, v) in enumerate(good.landed, start=2)]
    again = [_record(1, 0, good.landed[0][1])]  # the same input sent again: counted once
    await reader._handle(
        {TopicPartition("g.joins", 0): records, TopicPartition("g.joins", 1): again}
    )
    assert (stats.read, stats.unreadable, stats.applied, stats.duplicates) == (5, 2, 2, 1)


async def test_a_batch_is_applied_in_slices_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every input of a batch is applied once, in order, the loop let run when a slice is up."""
    view = JoinView(BRANDS, {"1h": 3600})
    stats = JoinStats()
    reader = JoinReader("g.joins", {}, view, lambda: NOW, stats)
    reader._next_lag = reader._next_expire = float("inf")
    n = 40
    values = [
        encode_input(mention_input(("m", p), o, ["a"], mention(NOW, f"u{o % 9}", o, text="alpha")))
        for p in range(2)
        for o in range(n)
    ]
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    counter = asyncio.create_task(count_turns())
    await asyncio.sleep(0)
    monkeypatch.setattr(joins, "SLICE_SECONDS", 0.0)  # every input is a slice of its own
    applied: list[tuple[str, int, int]] = []
    one = JoinView(BRANDS, {"1h": 3600})  # the same inputs applied one by one
    one_by_one: list[tuple[str, int, int]] = []
    for v, log in ((view, applied), (one, one_by_one)):
        add = v.store.add_joined_mention

        def recording(
            source: tuple[str, int], brand: str, m: Any, offset: int, add: Any = add, log: Any = log
        ) -> None:
            log.append((*source, offset))
            add(source, brand, m, offset)

        monkeypatch.setattr(v.store, "add_joined_mention", recording)
    batch = {
        TopicPartition("g.joins", p): [_record(p, o, values[p * n + o]) for o in range(n)]
        for p in range(2)
    }
    await reader._handle(batch)
    counter.cancel()
    assert (stats.read, stats.applied, stats.duplicates) == (2 * n, 2 * n, 0)
    assert turns == 2 * n  # the loop ran after each
    for value in values:
        assert one.apply(decode_input(value), NOW)
    assert len(applied) == 2 * n and applied == one_by_one  # each once, in the batch's order
    top = view.store.top_authors(NOW, "a", "1h")
    assert len(top) > 1 and top == one.store.top_authors(NOW, "a", "1h")


async def test_inputs_go_out_in_batches_on_the_default_partitioner_s_partitions() -> None:
    """One batch per partition (a full one is sent and another begun); each key's order kept."""
    producer = FakeProducer(room=4)
    publisher = JoinPublisher("g.joins", producer, JoinStats())
    for offset in range(10):
        publisher.add([mention_input(("m", 0), offset, ["a"], mention(NOW, text="alpha"))])
        like = interaction_input(("i", 1), offset, interaction(NOW, "like", post="p1"))
        assert like is not None
        publisher.add([like])
    assert await publisher.flush() == set()
    parts = [0, 1, 2]
    expected = {key: DefaultPartitioner()(key, parts, parts) for key in (b"m:0", b"i:1")}
    assert sorted(producer.batches) == sorted(
        [(expected[b"m:0"], n) for n in (4, 4, 2)] + [(expected[b"i:1"], n) for n in (4, 4, 2)]
    )
    for key in (b"m:0", b"i:1"):
        offsets = [decode_input(v).offset for k, v in producer.landed if k == key]
        assert offsets == list(range(10))
