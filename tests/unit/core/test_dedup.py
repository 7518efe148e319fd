"""Event-id dedup: once per partition, the same decision on replay, bounded by the horizon."""

from __future__ import annotations

import random
import sys
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialpulse.core.dedup import Deduplicator, OffsetSet, id_hash

SRC = ("m", 0)
T0 = 1_700_000_000.0  # any event time; minutes are what matter


def _persist(live: Deduplicator, into: Deduplicator) -> None:
    """What a checkpoint writes of ``live``'s changed minutes, restored into ``into``."""
    for minute in live.take_dirty(SRC):
        ids = live.arrays(SRC, minute)
        assert ids is not None
        into.load(SRC, minute, *ids)


def test_first_copy_counts_and_later_copies_do_not() -> None:
    d = Deduplicator(3600)
    assert not d.is_duplicate(SRC, T0, "a", 10)
    assert d.is_duplicate(SRC, T0, "a", 11)
    assert not d.is_duplicate(SRC, T0, "b", 12)
    assert not d.is_duplicate(("m", 1), T0, "a", 10)  # another partition keeps its own ids


def test_replaying_the_original_is_not_a_duplicate() -> None:
    d = Deduplicator(3600)
    assert not d.is_duplicate(SRC, T0, "a", 10)
    assert d.is_duplicate(SRC, T0, "a", 11)
    # After a crash the same records are read again: same offsets, same decisions.
    assert not d.is_duplicate(SRC, T0, "a", 10)
    assert d.is_duplicate(SRC, T0, "a", 11)


def test_restored_state_decides_like_the_original() -> None:
    rng = random.Random(7)
    ids = [f"e{rng.randrange(300)}" for _ in range(1000)]
    times = [T0 + int(i[1:]) * 2 for i in ids]  # a re-sent event keeps its event time
    first = Deduplicator(3600)
    decisions = [
        first.is_duplicate(SRC, t, i, o) for o, (t, i) in enumerate(zip(times, ids, strict=True))
    ]
    assert sum(not dup for dup in decisions) == len(set(ids))
    # Persist, restore into a fresh worker and replay everything.
    restored = Deduplicator(3600)
    _persist(first, restored)
    first.expire(T0 + 900)  # seals minutes; decisions must not change
    replay = [
        restored.is_duplicate(SRC, t, i, o) for o, (t, i) in enumerate(zip(times, ids, strict=True))
    ]
    again = [
        first.is_duplicate(SRC, t, i, o) for o, (t, i) in enumerate(zip(times, ids, strict=True))
    ]
    assert replay == decisions
    assert again == decisions


def test_dirty_minutes_are_reported_once() -> None:
    d = Deduplicator(3600)
    d.is_duplicate(SRC, T0, "a", 1)
    d.is_duplicate(SRC, T0 + 60, "b", 2)
    assert d.take_dirty(SRC) == [int(T0 // 60), int(T0 // 60) + 1]
    assert d.take_dirty(SRC) == []
    d.is_duplicate(SRC, T0, "a", 3)  # a duplicate changes nothing
    assert d.take_dirty(SRC) == []


def test_minutes_past_the_horizon_are_expired_and_reported() -> None:
    d = Deduplicator(300)
    d.is_duplicate(SRC, T0, "a", 1)
    d.is_duplicate(SRC, T0 + 600, "b", 2)
    assert d.expire(T0 + 600) == 1
    assert d.take_expired(SRC) == [int(T0 // 60)]
    assert d.take_dirty(SRC) == [int((T0 + 600) // 60)]
    assert d.ids_held() == 1
    # Past the horizon an id is forgotten, and its minute is said to be past it for good.
    assert not d.is_duplicate(SRC, T0, "a", 5)
    assert d.past_horizon(T0) and not d.past_horizon(T0 + 600)
    d.expire(T0)  # a clock stepping back does not bring the minute back
    assert d.past_horizon(T0)


def test_an_id_costs_11_bytes_in_memory_and_16_on_the_state_topic() -> None:
    """The figures the README states: sealed arrays with their growth headroom, record arrays."""
    from socialpulse.kafka.changelog import encode_record

    n = 10_000
    d = Deduplicator(3600)
    for i in range(n):
        d.is_duplicate(SRC, T0, f"id-{i}", i)
    d.expire(T0 + 600)  # seals the minute
    (minute,) = d.take_dirty(SRC)
    m = d._state[SRC][minute]
    in_memory = sys.getsizeof(m.keys) + sys.getsizeof(m.offsets) + sys.getsizeof(m.recent)
    assert 10 * n <= in_memory <= 11 * n
    assert m.offsets.typecode == "H"  # offsets within 2^16 of the minute's lowest
    ids = d.arrays(SRC, minute)
    assert ids is not None
    on_topic = len(encode_record(b"\x80", ids))
    assert 16 * n <= on_topic <= 16 * n + 32


@pytest.mark.parametrize(("far", "code"), [(2**16 - 1, "H"), (2**16, "I"), (2**32 - 1, "I")])
@pytest.mark.parametrize("ids", [3, 40])  # below and past the numpy crossover
def test_offsets_at_each_width_keep_their_decisions(far: int, code: str, ids: int) -> None:
    """A minute's offsets held as 16- or 32-bit deltas decide as before, sealed and restored."""
    d = Deduplicator(3600)
    base = 7
    assert not d.is_duplicate(SRC, T0, "a", base)
    assert not d.is_duplicate(SRC, T0, "b", base + far)
    for i in range(ids):
        d.is_duplicate(SRC, T0, f"n{i}", base + i + 1)
    d.expire(T0 + 600)
    minute = int(T0 // 60)
    m = d._state[SRC][minute]
    assert m.offsets.typecode == code
    assert not d.is_duplicate(SRC, T0, "a", base)
    assert not d.is_duplicate(SRC, T0, "b", base + far)
    assert d.is_duplicate(SRC, T0, "b", base + 1)
    assert all(not d.is_duplicate(SRC, T0, f"n{i}", base + i + 1) for i in range(ids))
    restored = Deduplicator(3600)
    arrays = d.arrays(SRC, minute)
    assert arrays is not None
    restored.load(SRC, minute, *arrays)
    assert restored._state[SRC][minute].offsets.typecode == code
    assert not restored.is_duplicate(SRC, T0, "b", base + far)
    assert restored.is_duplicate(SRC, T0, "a", base + far)
    assert not restored.is_duplicate(SRC, T0, "n0", base + 1)


def test_offsets_spanning_more_than_32_bits_keep_their_decisions() -> None:
    d = Deduplicator(3600)
    far = 2**40
    assert not d.is_duplicate(SRC, T0, "a", 5)
    assert not d.is_duplicate(SRC, T0, "b", far)
    for i in range(40):  # past the numpy crossover too
        d.is_duplicate(SRC, T0, f"n{i}", far + i)
    d.expire(T0 + 600)
    m = d._state[SRC][int(T0 // 60)]
    assert m.offsets.typecode == "q"
    assert not d.is_duplicate(SRC, T0, "a", 5)
    assert not d.is_duplicate(SRC, T0, "b", far)
    assert d.is_duplicate(SRC, T0, "b", 6)
    restored = Deduplicator(3600)
    ids = d.arrays(SRC, int(T0 // 60))
    assert ids is not None
    restored.load(SRC, int(T0 // 60), *ids)
    assert not restored.is_duplicate(SRC, T0, "b", far)
    assert restored.is_duplicate(SRC, T0, "a", far)


def test_drop_forgets_a_partition() -> None:
    d = Deduplicator(3600)
    d.is_duplicate(SRC, T0, "a", 1)
    d.drop([SRC])
    assert d.ids_held() == 0
    assert d.take_dirty(SRC) == []


def test_id_hash_is_stable_across_processes() -> None:
    # A fixed value: Python's hash() would change with PYTHONHASHSEED and break restores.
    assert id_hash("event-1") == 0x1D79_51FB_BF03_411D


@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(st.integers(0, 40), min_size=1, max_size=200),
    cut=st.integers(0, 200),
    seal_at=st.integers(0, 1200),
)
def test_any_crash_point_gives_the_decisions_of_an_uninterrupted_run(
    events: list[int], cut: int, seal_at: int
) -> None:
    """Persist after ``cut`` events, crash, restore, replay from an earlier offset."""
    events_at = [(i, i * 20) for i in events]  # an id keeps its event time
    reference = Deduplicator(3600)
    want = [reference.is_duplicate(SRC, T0 + t, f"id{i}", o) for o, (i, t) in enumerate(events_at)]
    live = Deduplicator(3600)
    cut = min(cut, len(events_at))
    for o, (i, t) in enumerate(events_at[:cut]):
        live.is_duplicate(SRC, T0 + t, f"id{i}", o)
    live.expire(T0 + seal_at)
    new = Deduplicator(3600)
    _persist(live, new)
    replay_from = cut // 2  # the committed offset may be behind the flushed state
    got = [new.is_duplicate(SRC, T0 + t, f"id{i}", o) for o, (i, t) in enumerate(events_at)]
    assert got[replay_from:] == want[replay_from:]


@pytest.mark.parametrize("spread", [5000, 200])  # sparse minutes (arrays), dense (bitmaps)
def test_an_offset_set_counts_each_offset_once_sealed_or_open(spread: int) -> None:
    seen = OffsetSet(3600)
    rng = random.Random(3)
    offsets = [rng.randrange(spread) for _ in range(3000)] + [2**40, 2**40 + 1, 2**40 + 9]
    truth: set[tuple[int, int]] = set()
    for k, o in enumerate(offsets):
        source = ("j", o % 2)
        minute = T0 + (o // 50) % 3 * 60  # a record's event time is its own
        assert seen.add(source, minute, o) == ((o % 2, o) not in truth)
        truth.add((o % 2, o))
        if k % 500 == 0:
            seen.expire(T0 + 600)  # seals every minute so far; later offsets reopen them
    seen.expire(T0 + 600)
    assert len(seen) == len(truth)
    kinds = {type(m.sealed) for per in seen._state.values() for m in per.values()}
    assert (bytes if spread == 200 else array) in kinds
    for o in offsets:
        assert not seen.add(("j", o % 2), T0 + (o // 50) % 3 * 60, o)
    for o in range(spread):  # nothing unseen is taken for seen
        if (o % 2, o) not in truth:
            assert seen.add(("j", o % 2), T0 + (o // 50) % 3 * 60, o)
    seen.expire(T0 + 3 * 3600)
    assert len(seen) == 0


def test_a_seen_offset_costs_4_bytes_when_sparse_and_a_few_bits_when_dense() -> None:
    n = 10_000
    for step, low, high in ((1000, 4.0, 4.3), (3, 0.37, 0.38)):
        seen = OffsetSet(3600)
        for i in range(n):
            seen.add(SRC, T0, 1_000_000 + step * i)
        seen.expire(T0 + 600)
        m = seen._state[SRC][int(T0 // 60)]
        assert low * n <= m.nbytes() <= high * n, step
        assert len(m) == n


def test_housekeeping_seals_only_minutes_written_since_their_last_seal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pass over a week of held minutes must not walk them all (it held the loop 20-70 ms)."""
    from socialpulse.core import dedup

    d = Deduplicator(7 * 86400)
    for minute in range(2000):
        d.is_duplicate(SRC, T0 + 60 * minute, f"id{minute}", minute)
    now = T0 + 60 * 2010
    d.expire(now)
    sealed: list[int] = []
    seal = dedup._Minute.seal

    def counted(m: dedup._Minute) -> None:
        sealed.append(len(m))
        seal(m)

    monkeypatch.setattr(dedup._Minute, "seal", counted)
    d.expire(now)
    assert sealed == []
    assert not d.is_duplicate(SRC, T0 + 60 * 5, "late", 9000)
    d.expire(now)
    assert sealed == [2]  # the one minute written to, now two ids
    assert d.is_duplicate(SRC, T0 + 60 * 5, "late", 9001)
    assert d.expire(T0 + 60 * 2010 + 8 * 86400) == 2000  # expiry still finds every minute
    assert d.ids_held() == 0
