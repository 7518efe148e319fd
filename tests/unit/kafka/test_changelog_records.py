"""State records of format 3: one per partition-minute, older formats restored, epochs fence.

The changelog runs against an in-memory state topic: a producer that appends every record batch
to a log, and a restore that reads the log back (the last value of each key, as compaction
keeps it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest

from builders import ALPHA_BETA, encoded, mention
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.windows.bucket import decode_minute, encode_minute
from socialpulse.kafka.changelog import (
    FORMAT_VERSION,
    Changelog,
    StateFormatError,
    decode_record,
    encode_record,
)
from socialpulse.settings import Settings

NOW = 1_800_000_030.0
SETTINGS = Settings(brands=ALPHA_BETA, windows=("5m", "1h"))
SRC = ("m", 0)
MINUTE = int((NOW - 120) // 60)


@dataclass
class Rec:
    key: bytes
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class _Batch:
    records: list[Rec] = field(default_factory=list)

    def append(
        self, *, key: bytes, value: bytes | None, timestamp: None, headers: list[Any]
    ) -> object:
        self.records.append(Rec(key, value, list(headers)))
        return object()


@dataclass
class FakeStateTopic:
    """A one-partition state topic: every record batch appended to ``log``."""

    log: list[Rec] = field(default_factory=list)

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> Any:
        self.log.extend(batch.records)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    def send_raw(self, key: list[Any], value: bytes | None, version: int | None) -> None:
        """A record as an older release wrote it (no headers for version 1)."""
        headers = [] if version is None else [("socialpulse.state.version", str(version).encode())]
        self.log.append(Rec(msgspec.msgpack.encode(key), value, headers))

    def live(self) -> dict[bytes, Rec]:
        """What compaction would keep: the last record of each key, tombstones removed."""
        last = {r.key: r for r in self.log}
        return {k: r for k, r in last.items() if r.value is not None}


def changelog_on(topic: FakeStateTopic, pipeline: Pipeline, **options: Any) -> Changelog:
    """A changelog of ``pipeline`` over ``topic`` (``options`` as for ``Changelog``)."""
    c = Changelog("state", {}, pipeline.store, pipeline.dedup, topic, **options)
    c._partitions = 1

    async def read(sources: set[Any]) -> Any:
        found: dict[Any, Any] = {}
        for r in topic.log:
            c._note(found, sources, r)
        return found

    c._read = read  # type: ignore[method-assign]
    return c


def _feed(p: Pipeline, events: list[tuple[float, str]], first_offset: int = 0) -> None:
    for n, (ts, event_id) in enumerate(events):
        got = p.process(
            "mentions",
            encoded(mention(ts, f"u{n}", text="alpha", event_id=event_id)),
            SRC,
            NOW,
            first_offset + n,
        )
        assert got is None


async def _checkpoint(c: Changelog) -> None:
    c.collect({SRC})
    assert not await c.flush()


def _kinds(topic: FakeStateTopic) -> list[str]:
    return sorted(msgspec.msgpack.decode(k)[0] for k in topic.live())


EVENTS = [(NOW - 120 + i, f"e{i}") for i in range(5)] + [(NOW - 30, "late-minute")]


async def test_one_record_per_partition_minute_round_trips() -> None:
    topic = FakeStateTopic()
    p = Pipeline(SETTINGS)
    c = changelog_on(topic, p)
    await c.restore({SRC}, generation=1)
    _feed(p, EVENTS)
    await _checkpoint(c)
    # Two minutes touched: two records, each with the minute's buckets and ids.
    assert _kinds(topic) == ["w", "w"]
    assert c.stats.records_written == 2
    assert {r.headers[0] for r in topic.live().values()} == {
        ("socialpulse.state.version", str(FORMAT_VERSION).encode())
    }
    fresh = Pipeline(SETTINGS)
    await changelog_on(topic, fresh).restore({SRC}, generation=2)
    assert fresh.store.snapshot(NOW) == p.store.snapshot(NOW)
    assert fresh.dedup.ids_held() == p.dedup.ids_held() == len(EVENTS)
    # The restored ids decide like the original: a re-sent copy is a duplicate, a replay is not.
    assert fresh.dedup.is_duplicate(SRC, NOW - 120, "e3", 99)
    assert not fresh.dedup.is_duplicate(SRC, NOW - 120, "e3", 3)


def test_the_value_codec_round_trips_and_refuses_garbage() -> None:
    p = Pipeline(SETTINGS)
    _feed(p, EVENTS)
    buckets = encode_minute(p.store.buckets_at(SRC, MINUTE))
    ids = p.dedup.arrays(SRC, MINUTE)
    assert ids is not None and len(ids[0]) == 8 * 5
    assert decode_record(encode_record(buckets, ids)) == (buckets, *ids)
    assert decode_record(encode_record(buckets, None)) == (buckets, b"", b"")
    with pytest.raises(msgspec.DecodeError):
        decode_record(b"\x93\xc4")


async def test_records_of_format_2_restore_and_are_replaced_by_format_3() -> None:
    p = Pipeline(SETTINGS)
    _feed(p, EVENTS[:5])
    topic = FakeStateTopic()
    # What the previous release wrote: a window record and a dedup record of the same minute.
    ids = p.dedup.arrays(SRC, MINUTE)
    assert ids is not None
    topic.send_raw(["w", *SRC, MINUTE, 3, 0, 0], encode_minute(p.store.buckets_at(SRC, MINUTE)), 2)
    topic.send_raw(["d", *SRC, MINUTE, 3, 0, 0], msgspec.msgpack.encode(ids), 2)
    upgraded = Pipeline(SETTINGS)
    c = changelog_on(topic, upgraded)
    await c.restore({SRC}, generation=4)
    assert upgraded.store.snapshot(NOW) == p.store.snapshot(NOW)
    assert upgraded.dedup.ids_held() == 5
    assert upgraded.dedup.is_duplicate(SRC, NOW - 120, "e1", 50)
    assert _kinds(topic) == ["d", "w"]
    # The minute changes: a format-3 record is written under the new epoch; the older window
    # record and the dedup record go only in the checkpoint after it landed whole.
    _feed(upgraded, [(NOW - 100, "e-new")], first_offset=5)
    await _checkpoint(c)
    assert _kinds(topic) == ["d", "w", "w"]
    await _checkpoint(c)
    assert _kinds(topic) == ["w"]
    again = Pipeline(SETTINGS)
    await changelog_on(topic, again).restore({SRC}, generation=5)
    assert again.store.snapshot(NOW) == upgraded.store.snapshot(NOW)
    assert again.dedup.ids_held() == 6
    assert again.dedup.is_duplicate(SRC, NOW - 120, "e1", 51)


async def test_a_dedup_record_of_format_2_left_beside_format_3_is_not_loaded() -> None:
    # The format-3 record of a minute holds its ids; an older dedup record beside it (a crash
    # before its tombstone) is deleted, never loaded over them.
    topic = FakeStateTopic()
    p = Pipeline(SETTINGS)
    c = changelog_on(topic, p)
    await c.restore({SRC}, generation=4)
    _feed(p, EVENTS[:5])
    await _checkpoint(c)
    stale = msgspec.msgpack.encode((b"\x00" * 8, b"\x00" * 8))  # one id no event has
    topic.send_raw(["d", *SRC, MINUTE, 3, 0, 0], stale, 2)
    fresh = Pipeline(SETTINGS)
    fc = changelog_on(topic, fresh)
    await fc.restore({SRC}, generation=5)
    assert fresh.dedup.ids_held() == 5
    assert fc.stats.records_fenced == 1
    assert not await fc.flush()
    assert _kinds(topic) == ["w"]


async def test_a_fenced_writer_does_not_win_over_its_successor() -> None:
    topic = FakeStateTopic()
    old = Pipeline(SETTINGS)
    old_log = changelog_on(topic, old)
    await old_log.restore({SRC}, generation=1)
    _feed(old, EVENTS[:3])
    await _checkpoint(old_log)
    # The partition moves on (generation 2) while the old owner is paused.
    new = Pipeline(SETTINGS)
    new_log = changelog_on(topic, new)
    await new_log.restore({SRC}, generation=2)
    _feed(new, EVENTS[3:5], first_offset=3)
    await _checkpoint(new_log)
    # The old owner wakes and writes what it read meanwhile, under its old epoch.
    _feed(old, [(NOW - 110, "zombie")], first_offset=3)
    await _checkpoint(old_log)
    assert old_log.epoch(SRC) is not None and new_log.epoch(SRC) is not None
    assert old_log.epoch(SRC) < new_log.epoch(SRC)  # type: ignore[operator]
    third = Pipeline(SETTINGS)
    await changelog_on(topic, third).restore({SRC}, generation=3)
    assert third.store.snapshot(NOW) == new.store.snapshot(NOW)
    assert not third.dedup.is_duplicate(SRC, NOW - 110, "zombie", 40)  # never seen by the owner


async def test_unknown_formats_and_unreadable_values_stop_the_restore() -> None:
    topic = FakeStateTopic()
    topic.send_raw(["w", *SRC, MINUTE, 1, 0, 0], b"\x80", FORMAT_VERSION + 1)
    with pytest.raises(StateFormatError, match="format version"):
        await changelog_on(topic, Pipeline(SETTINGS)).restore({SRC}, generation=2)
    topic = FakeStateTopic()
    topic.send_raw(["w", *SRC, MINUTE, 1, 0, 0], b"\x93\x80\xc4\x01x\xc4\x00", FORMAT_VERSION)
    with pytest.raises(StateFormatError, match="unreadable"):
        await changelog_on(topic, Pipeline(SETTINGS)).restore({SRC}, generation=2)


async def test_ids_past_the_dedup_horizon_leave_the_record_and_expiry_deletes_it() -> None:
    settings = Settings(brands=ALPHA_BETA, windows=("5m", "1h"), dedup_horizon_seconds=300)
    topic = FakeStateTopic()
    p = Pipeline(settings)
    c = changelog_on(topic, p)
    await c.restore({SRC}, generation=1)
    _feed(p, EVENTS[:5])
    await _checkpoint(c)
    p.store.expire(NOW + 600)
    p.dedup.expire(NOW + 600)  # the minute is past the dedup horizon, still in the 1 h window
    await _checkpoint(c)
    (rec,) = topic.live().values()
    assert rec.value is not None and decode_record(rec.value)[1:] == (b"", b"")
    fresh = Pipeline(settings)
    await changelog_on(topic, fresh).restore({SRC}, generation=2)
    assert fresh.store.snapshot(NOW) == p.store.snapshot(NOW)
    assert fresh.dedup.ids_held() == 0
    p.store.expire(NOW + 3600 + 120)
    p.dedup.expire(NOW + 3600 + 120)
    await _checkpoint(c)
    assert topic.live() == {}


async def test_a_brand_no_longer_configured_is_left_out_of_a_restore_and_its_records() -> None:
    """Stopping tracking a brand must not stop the worker restoring (it failed on a KeyError)."""
    both = Settings(brands=ALPHA_BETA, windows=("5m", "1h"))
    alone = Settings(brands=[{**ALPHA_BETA[0], "competitors": []}], windows=("5m", "1h"))
    now, src = 1_800_000_030.0, ("m", 0)
    topic = FakeStateTopic()
    p = Pipeline(both)
    c = changelog_on(topic, p)
    await c.restore({src}, generation=1)
    events = [(i, encoded(mention(now - 3000 + 60 * i, f"u{i}", 2, text=t))) for i, t in
              enumerate(["beta only"] * 10 + ["alpha and beta"] * 10)]  # fmt: skip
    p.process_batch("mentions", events, src, now)
    c.collect({src})
    assert not await c.flush()
    q = Pipeline(alone)
    d = changelog_on(topic, q)
    await d.restore({src}, generation=2)
    assert q.store.snapshot(now)["a"]["1h"].mentions == 10
    d.collect({src})
    assert not await d.flush()
    # Every minute's newest version (the one a restore takes) is written again without b.
    newest: dict[int, tuple[int, set[str]]] = {}
    for k, rec in topic.live().items():
        key = msgspec.msgpack.decode(k)
        assert rec.value is not None  # live: no tombstones
        held = set(decode_minute(decode_record(rec.value)[0]))
        if key[3] not in newest or newest[key[3]][0] < key[4]:
            newest[key[3]] = (key[4], held)
    assert len(newest) == 20 and {e for e, _ in newest.values()} == {2}
    assert set().union(*(held for _, held in newest.values())) == {"a"}
    r = Pipeline(alone)
    await changelog_on(topic, r).restore({src}, generation=3)
    assert r.store.snapshot(now)["a"]["1h"].mentions == 10
