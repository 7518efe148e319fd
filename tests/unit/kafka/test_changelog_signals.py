"""Signals state records (format 4): a partition's spam window and trends via the state topic."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from aiokafka.errors import KafkaError

from builders import ALPHA_BETA, encoded, mention
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.signals import _decode_state
from socialpulse.kafka import changelog as changelog_module
from socialpulse.kafka.changelog import FORMAT_VERSION, Changelog, StateFormatError
from socialpulse.settings import Settings

from .test_changelog_records import FakeStateTopic, _Batch, changelog_on

NOW = 1_800_000_030.0
SETTINGS = Settings(brands=ALPHA_BETA, windows=("5m", "1h"))
SRC = ("m", 0)
CAMPAIGN = "alpha gave me a free gift card for testing the new phone, claim yours at the link"


def _changelog(topic: FakeStateTopic, p: Pipeline, interval: float = 10.0) -> Changelog:
    return changelog_on(topic, p, signals=p.signals, signals_interval=interval)


def _records(n: int, seed: int = 5) -> list[tuple[int, bytes]]:
    """Campaign posts from new accounts among fans' posts, one partition, offsets 0..n-1."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ts = NOW - 900 + i + rng.uniform(-5, 5)
        if rng.random() < 0.5:
            words = CAMPAIGN.split()
            words.insert(rng.randrange(len(words)), rng.choice(["wow", "omg", "pls"]))
            m = mention(ts, f"new{rng.randrange(30)}", 2, text=" ".join(words))
        else:
            m = mention(ts, f"fan{i}", 500, text=f"alpha store {rng.random():.6f} visit {i}")
        out.append((i, encoded(m)))
    return out


def _kpis(p: Pipeline) -> Any:
    return p.store.snapshot(NOW)["a"]["1h"]


def _kinds(topic: FakeStateTopic) -> list[str]:
    return sorted(msgspec.msgpack.decode(k)[0] for k in topic.live())


async def test_a_restore_resumes_the_spam_window_and_gives_uninterrupted_kpis() -> None:
    records = _records(400)
    whole = Pipeline(SETTINGS)
    whole.process_batch("mentions", records, SRC, NOW)
    assert 0 < _kpis(whole).filtered < 400

    topic = FakeStateTopic()
    p = Pipeline(SETTINGS)
    c = _changelog(topic, p)
    await c.restore({SRC}, generation=1)
    p.process_batch("mentions", records[:150], SRC, NOW)
    c.collect({SRC})
    assert not await c.flush()
    assert _kinds(topic).count("s") == 1
    # Read on and checkpoint the window store, not the signals (their interval is not up),
    # then die: the commit (offset 250) is ahead of the signals state (offset 150).
    p.process_batch("mentions", records[150:250], SRC, NOW)
    c.collect({SRC})
    assert not await c.flush()
    assert _kinds(topic).count("s") == 1
    p.process_batch("mentions", records[250:300], SRC, NOW)  # lost with the process

    fresh = Pipeline(SETTINGS)
    await _changelog(topic, fresh).restore({SRC}, generation=2)
    resume = fresh.signals.resume_offset(SRC)
    assert resume == 150
    fresh.signals.replay(SRC, 250)
    fresh.process_batch("mentions", records[resume:], SRC, NOW)
    assert _kpis(fresh) == _kpis(whole)
    # Filtered mentions re-read below the commit were counted by the first process.
    counted = sum(sum(r.values()) for r in fresh.signals.filtered.values())
    assert 0 < counted < sum(sum(r.values()) for r in whole.signals.filtered.values())


async def test_a_handover_writes_the_signals_state_whatever_the_interval() -> None:
    topic = FakeStateTopic()
    p = Pipeline(SETTINGS)
    c = _changelog(topic, p, interval=3600)
    await c.restore({SRC}, generation=1)
    records = _records(60)
    p.process_batch("mentions", records[:30], SRC, NOW)
    c.collect({SRC})
    assert not await c.flush()
    p.process_batch("mentions", records[30:], SRC, NOW)
    c.collect({SRC})
    assert not await c.flush()
    fresh = Pipeline(SETTINGS)
    await _changelog(topic, fresh).restore({SRC}, generation=2)
    assert fresh.signals.resume_offset(SRC) == 30
    c.collect({SRC}, handover=True)
    assert not await c.flush()
    again = Pipeline(SETTINGS)
    await _changelog(topic, again).restore({SRC}, generation=3)
    assert again.signals.resume_offset(SRC) == 60
    assert {r.headers[0] for r in topic.live().values()} == {
        ("socialpulse.state.version", str(FORMAT_VERSION).encode())
    }


async def test_a_large_state_is_written_in_parts_and_restored_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(changelog_module, "CHUNK_BYTES", 4096)
    topic = FakeStateTopic()
    p = Pipeline(SETTINGS)
    c = _changelog(topic, p, interval=0.0)
    await c.restore({SRC}, generation=1)
    records = _records(300)
    for lo in range(0, 300, 100):
        p.process_batch("mentions", records[lo : lo + 100], SRC, NOW)
        c.collect({SRC})
        assert not await c.flush()
    assert c.stats.records_split >= 3
    fresh = Pipeline(SETTINGS)
    await _changelog(topic, fresh).restore({SRC}, generation=2)
    got, want = _decode_state(fresh.signals.snapshot(SRC)), _decode_state(p.signals.snapshot(SRC))
    assert (got.offset, got.spam, got.campaign_brands) == (
        want.offset,
        want.spam,
        want.campaign_brands,
    )
    assert fresh.signals.trends_of("a", NOW) == p.signals.trends_of("a", NOW)
    # Superseded versions are deleted by the next flush: compaction keeps one state, in parts.
    assert not await c.flush()
    live = [msgspec.msgpack.decode(k) for k in topic.live()]
    assert len({tuple(k[4:6]) for k in live if k[0] == "s"}) == 1


async def test_state_of_format_3_restores_with_empty_signals() -> None:
    topic = FakeStateTopic()
    p = Pipeline(SETTINGS)
    old = Changelog("state", {}, p.store, p.dedup, topic)  # writes no signals records
    old._partitions = 1
    await _changelog(topic, p).restore({SRC}, generation=1)
    p.process_batch("mentions", _records(50), SRC, NOW)
    old._epochs = {SRC: 1}
    old.collect({SRC})
    assert not await old.flush()
    assert set(_kinds(topic)) == {"w"}
    fresh = Pipeline(SETTINGS)
    await _changelog(topic, fresh).restore({SRC}, generation=2)
    assert fresh.signals.resume_offset(SRC) is None
    assert _kpis(fresh) == _kpis(p)


async def test_an_unreadable_signals_record_stops_the_restore() -> None:
    topic = FakeStateTopic()
    topic.send_raw(["s", *SRC, 0, 1, 0, 0], b"\x93\x01", FORMAT_VERSION)
    p = Pipeline(SETTINGS)
    with pytest.raises(StateFormatError, match="unreadable"):
        await _changelog(topic, p).restore({SRC}, generation=2)
    assert p.signals.partitions == []


def _snapshots(topic: FakeStateTopic) -> int:
    """Signals snapshots written so far (each as its part 0 and maybe more parts)."""
    keys = [msgspec.msgpack.decode(r.key) for r in topic.log if r.value is not None]
    return sum(1 for k in keys if k[0] == "s" and k[6] == 0)


async def test_a_snapshot_waits_until_the_partition_read_a_quarter_of_its_window() -> None:
    topic = FakeStateTopic()
    p = Pipeline(SETTINGS)
    c = changelog_on(topic, p, signals=p.signals, signals_interval=0.0, signals_max_interval=3600)
    await c.restore({SRC}, generation=1)
    records = _records(600)
    p.process_batch("mentions", records[:300], SRC, NOW)
    c.collect({SRC})
    assert not await c.flush()
    assert _snapshots(topic) == 1  # the first is written at once
    written_at, gaps = 299, []
    for offset, value in records[300:]:
        p.process_batch("mentions", [(offset, value)], SRC, NOW)
        held = len(p.signals._partitions[SRC].spam.index)
        before = _snapshots(topic)
        c.collect({SRC})
        assert not await c.flush()
        if _snapshots(topic) > before:
            gaps.append(offset - written_at)
            assert offset - written_at >= held / 4
            written_at = offset
        else:
            assert offset - written_at < held / 4
    assert len(gaps) >= 2, gaps  # it does write again, a quarter of the window apart

    # With no longest interval of its own, every collect past the interval writes, as before.
    every = FakeStateTopic()
    q = Pipeline(SETTINGS)
    c = changelog_on(every, q, signals=q.signals, signals_interval=0.0)
    await c.restore({SRC}, generation=1)
    for offset, value in records[:20]:
        q.process_batch("mentions", [(offset, value)], SRC, NOW)
        c.collect({SRC})
        assert not await c.flush()
    assert _snapshots(every) == 20


async def test_partitions_due_together_take_turns_and_a_handover_writes_them_all() -> None:
    """Each snapshot encodes a whole spam window: one a checkpoint, unless at a handover."""
    topic = FakeStateTopic()
    p = Pipeline(SETTINGS)
    c = changelog_on(topic, p, signals=p.signals, signals_interval=0.0)
    sources = [("m", n) for n in range(4)]
    await c.restore(set(sources), generation=1)
    records = _records(40)
    for source in sources:
        p.process_batch("mentions", records[:10], source, NOW)
    c.collect(set(sources))  # never written: every one at once
    assert not await c.flush()
    assert _snapshots(topic) == 4
    for source in sources:
        p.process_batch("mentions", records[10:], source, NOW)
    written = []
    for _ in sources:
        before = _snapshots(topic)
        c.collect(set(sources))
        assert not await c.flush()
        written.append(_snapshots(topic) - before)
    assert written == [1, 1, 1, 1]
    fresh = Pipeline(SETTINGS)
    await _changelog(topic, fresh).restore(set(sources), generation=2)
    assert {fresh.signals.resume_offset(s) for s in sources} == {40}  # each had its turn

    for source in sources:  # all changed again: a handover writes every one at once
        p.process_batch("mentions", _records(50)[40:], source, NOW)
    before = _snapshots(topic)
    c.collect(set(sources), handover=True)
    assert not await c.flush()
    assert _snapshots(topic) - before == 4


def test_the_longest_snapshot_interval_is_at_least_the_shortest() -> None:
    with pytest.raises(ValueError, match="must be at least"):
        Settings(
            brands=ALPHA_BETA,
            kafka={
                "signals_snapshot_interval_seconds": 60,
                "signals_snapshot_max_interval_seconds": 30,
            },
        )


async def test_a_brand_no_longer_configured_raises_no_campaign_after_a_restore() -> None:
    both = Settings(brands=ALPHA_BETA, windows=("5m", "1h"))
    alone = Settings(brands=[{**ALPHA_BETA[0], "competitors": []}], windows=("5m", "1h"))
    text = CAMPAIGN.replace("alpha", "beta")
    records = [
        (i, encoded(mention(NOW - 600 + i, f"new{i % 30}", 2, text=f"{text} {i % 2}")))
        for i in range(300)
    ]
    topic = FakeStateTopic()
    p = Pipeline(both)
    c = _changelog(topic, p)
    await c.restore({SRC}, generation=1)
    p.process_batch("mentions", records, SRC, NOW)
    assert [x.brand for x in p.signals.campaigns()] == ["b"]
    c.collect({SRC}, handover=True)
    assert not await c.flush()
    q = Pipeline(alone)
    await _changelog(topic, q).restore({SRC}, generation=2)
    q.process_batch("mentions", [(300 + i, v) for i, (_, v) in enumerate(records[:50])], SRC, NOW)
    assert q.signals.campaigns() == [] and q.signals.campaign_parts(SRC) == []


@dataclass
class _OneRecordBatch(_Batch):
    """A batch full with one record: every record is a batch of its own."""

    def append(
        self, *, key: bytes, value: bytes | None, timestamp: None, headers: list[Any]
    ) -> object | None:
        return (
            None
            if self.records
            else super().append(key=key, value=value, timestamp=timestamp, headers=headers)
        )


@dataclass
class _DyingStateTopic(FakeStateTopic):
    """Lands its first ``lands`` record batches and no more: a process killed mid-flush."""

    lands: int = 0

    def create_batch(self) -> _Batch:
        return _OneRecordBatch()

    async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> Any:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.lands > 0:
            self.lands -= 1
            self.log.extend(batch.records)
            fut.set_result(None)
        else:
            fut.set_exception(KafkaError("the process was killed"))
        return fut


async def _restore_and_read_on(
    topic: FakeStateTopic, records: list[tuple[int, bytes]], committed: int, generation: int
) -> tuple[Pipeline, Changelog]:
    """A new owner restored from ``topic`` that read the partition on, as the worker does.

    It re-reads from the signals state's offset when that stands before the commit.
    """
    fresh = Pipeline(SETTINGS)
    changelog = _changelog(topic, fresh)
    await changelog.restore({SRC}, generation=generation)
    start = committed
    resume = fresh.signals.resume_offset(SRC)
    if resume is not None and resume < committed:
        fresh.signals.replay(SRC, committed)
        start = resume
    fresh.process_batch("mentions", records[start:], SRC, NOW)
    return fresh, changelog


async def test_a_kill_at_any_point_of_a_flush_leaves_kpis_exact_after_the_restore() -> None:
    """Whatever prefix of a flush lands, the restored worker counts as an uninterrupted one.

    A signals state that landed before a window record of the same flush would have seen
    events the restored buckets still lack: re-read, they were counted as genuine posts,
    spam included (one positive mention too many, seen under kill -9).
    """
    records = _records(400)
    whole = Pipeline(SETTINGS)
    whole.process_batch("mentions", records, SRC, NOW)
    sent = 0
    for lands in range(12):
        topic = FakeStateTopic()
        p = Pipeline(SETTINGS)
        c = _changelog(topic, p, interval=0.0)
        await c.restore({SRC}, generation=1)
        p.process_batch("mentions", records[:150], SRC, NOW)
        c.collect({SRC})
        assert not await c.flush()  # committed: 150
        p.process_batch("mentions", records[150:300], SRC, NOW)
        c._producer = _DyingStateTopic(log=topic.log, lands=lands)
        sent = max(sent, c.collect({SRC}))
        committed = 150 if await c.flush() else 300
        fresh, _ = await _restore_and_read_on(topic, records, committed, generation=2)
        assert _kpis(fresh) == _kpis(whole), f"{lands} of {sent} records landed"
    assert 2 < sent < 12  # every kill point was tried: before, between and after them all


async def test_a_flush_cancelled_while_sending_the_signals_state_keeps_every_record() -> None:
    """Cancelled in its second round, a flush keeps what it took: the next one writes it all."""
    records = _records(200)
    topic = FakeStateTopic()
    p = Pipeline(SETTINGS)
    c = _changelog(topic, p, interval=0.0)
    await c.restore({SRC}, generation=1)
    p.process_batch("mentions", records, SRC, NOW)
    c.collect({SRC})

    class Cancelling(FakeStateTopic):
        async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> Any:
            if any(msgspec.msgpack.decode(r.key)[0] == "s" for r in batch.records):
                raise asyncio.CancelledError  # the shutdown's deadline, mid-flush
            return await super().send_batch(batch, topic, partition=partition)

    c._producer = Cancelling(log=topic.log)
    with pytest.raises(asyncio.CancelledError):
        await c.flush()
    assert c.pending_sources() == {SRC}
    assert "s" not in _kinds(topic)  # the signals state never went ahead of the windows
    c._producer = topic
    assert not await c.flush()
    fresh = Pipeline(SETTINGS)
    await _changelog(topic, fresh).restore({SRC}, generation=2)
    assert fresh.signals.resume_offset(SRC) == 200
    assert _kpis(fresh) == _kpis(p)


async def test_a_fenced_writers_signals_state_never_stands_ahead_of_newer_windows() -> None:
    """A paused owner's late signals state is not restored over its successor's windows.

    The paused owner (generation 1) reads on after its successor (generation 2) restored, and
    writes windows and signals under its old epoch; the successor's newer windows land, and it
    dies before its own signals state does. Restored, the stale signals state would stand past
    events the successor's buckets lack: re-read, they would count as genuine, spam included.
    """
    records = _records(400)
    whole = Pipeline(SETTINGS)
    whole.process_batch("mentions", records, SRC, NOW)
    topic = FakeStateTopic()
    paused = Pipeline(SETTINGS)
    old = _changelog(topic, paused, interval=0.0)
    await old.restore({SRC}, generation=1)
    paused.process_batch("mentions", records[:150], SRC, NOW)
    old.collect({SRC})
    assert not await old.flush()  # committed: 150

    successor = Pipeline(SETTINGS)
    new = _changelog(topic, successor, interval=0.0)
    await new.restore({SRC}, generation=2)
    # The paused owner wakes, reads on and writes under its old epoch (its commits now fail).
    paused.process_batch("mentions", records[150:300], SRC, NOW)
    old.collect({SRC})
    assert not await old.flush()
    # The successor reads from the commit; its windows land, then it dies before its signals.
    successor.process_batch("mentions", records[150:250], SRC, NOW)
    sent = new.collect({SRC})
    new._producer = _DyingStateTopic(log=topic.log, lands=sent - 1)
    assert await new.flush()  # not flushed: the commit stays at 150
    assert _kinds(topic).count("w") >= 1

    fresh, third = await _restore_and_read_on(topic, records, committed=150, generation=3)
    assert _kpis(fresh) == _kpis(whole)
    assert third.stats.records_fenced >= 1


async def test_a_restored_signals_state_is_written_again_under_the_new_epoch() -> None:
    """The new owner's first flush re-writes what it restored, before it reads anything.

    From then on no late write of the previous owner (an older epoch) can be the newest
    signals record of the partition, and a restore never has to set one aside.
    """
    topic = FakeStateTopic()
    first = Pipeline(SETTINGS)
    c = _changelog(topic, first)
    await c.restore({SRC}, generation=1)
    first.process_batch("mentions", _records(50), SRC, NOW)
    c.collect({SRC})
    assert not await c.flush()
    successor = Pipeline(SETTINGS)
    new = _changelog(topic, successor, interval=3600)
    await new.restore({SRC}, generation=2)
    for _ in range(2):  # the second flush sends the older version's tombstones
        new.collect({SRC})
        assert not await new.flush()
    keys = [msgspec.msgpack.decode(k) for k in topic.live()]
    assert {k[4] for k in keys if k[0] == "s"} == {new.epoch(SRC)} != {c.epoch(SRC)}
    assert _snapshots(topic) == 2  # once: nothing changed since
