"""Dedup minutes moved to a cold store: the same decisions and records, a fraction of the memory."""

from __future__ import annotations

import random
import sys

import pytest

from socialpulse.core.dedup import (
    BLOCK,
    QUIET_PASSES,
    SEGMENT_MINUTES,
    SPILL_AFTER_MINUTES,
    Deduplicator,
)

T0 = 1_700_006_400.0  # a segment boundary: minute T0 // 60 is a multiple of SEGMENT_MINUTES
SOURCES = [("m", 0), ("m", 1), ("i", 0)]


class Bytes:
    """A cold store in memory that counts its reads, and may refuse writes."""

    def __init__(self, refuse: bool = False) -> None:
        self.segments: dict[int, bytearray] = {}
        self.released: list[int] = []
        self.reads = 0
        self.refuse = refuse

    def put(self, segment: int, data: bytes) -> int:
        if self.refuse:
            raise OSError(28, "No space left on device")
        held = self.segments.setdefault(segment, bytearray())
        held += data
        return len(held) - len(data)

    def get(self, segment: int, position: int, size: int) -> bytes:
        self.reads += 1
        return bytes(self.segments[segment][position : position + size])

    def release(self, segment: int) -> None:
        self.released.append(segment)
        del self.segments[segment]


def _quiet(d: Deduplicator, now: float) -> None:
    """Enough calls of ``expire`` at ``now`` for untouched minutes to count as quiet."""
    for _ in range(QUIET_PASSES + 1):
        d.expire(now)


def _traffic(rng: random.Random, n: int, minutes: int) -> list[tuple[tuple[str, int], float, str]]:
    """Events over ``minutes`` of event time, some ids sent again (same time, new offset)."""
    out: list[tuple[tuple[str, int], float, str]] = []
    for k in range(n):
        if out and rng.random() < 0.1:
            source, t, i = rng.choice(out)
        else:
            source, t, i = rng.choice(SOURCES), T0 + rng.uniform(0, 60 * minutes), f"e{k}"
        out.append((source, t, i))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_decision_and_record_equals_the_memory_only_dedup(seed: int) -> None:
    """Interleaved traffic, replays and expiry: cold and warm decide alike, write alike."""
    rng = random.Random(seed)
    warm, store = Deduplicator(7200), Bytes()
    cold = Deduplicator(7200, store)
    events = _traffic(rng, 12_000, 30)
    offsets = dict.fromkeys(SOURCES, 0)
    log: list[tuple[tuple[str, int], float, str, int]] = []
    for k, (source, t, i) in enumerate(events):
        offsets[source] += 1
        log.append((source, t, i, offsets[source]))
        assert cold.is_duplicate(source, t, i, offsets[source]) == warm.is_duplicate(
            source, t, i, offsets[source]
        )
        if k % 400 == 0:
            now = T0 + 60 * 30 * k / len(events) + 60 * SPILL_AFTER_MINUTES
            assert cold.expire(now) == warm.expire(now)
        if k % 1500 == 0:  # a crash replays records already applied: same decisions
            for source_, t_, i_, o_ in rng.sample(log, min(200, len(log))):
                assert cold.is_duplicate(source_, t_, i_, o_) == warm.is_duplicate(
                    source_, t_, i_, o_
                )
    _quiet(cold, T0 + 60 * 60)
    _quiet(warm, T0 + 60 * 60)
    assert cold.ids_cold() > 0.5 * cold.ids_held()
    assert cold.ids_held() == warm.ids_held()
    for source in SOURCES:
        assert cold.take_dirty(source) == warm.take_dirty(source)
        for minute in warm._state[source]:
            assert cold.arrays(source, minute) == warm.arrays(source, minute)
    reads = store.reads
    for source, t, i, o in log:  # every original still counts, every copy still does not
        assert cold.is_duplicate(source, t, i, o) == warm.is_duplicate(source, t, i, o)
        assert cold.is_duplicate(source, t, i, o + 1) == warm.is_duplicate(source, t, i, o + 1)
    assert store.reads > reads  # lookups went to the store


def test_a_cold_id_costs_under_a_byte_of_memory_and_one_block_a_lookup() -> None:
    n = 10_000
    store = Bytes()
    d = Deduplicator(7200, store)
    for i in range(n):
        d.is_duplicate(SOURCES[0], T0, f"id-{i}", i)
    _quiet(d, T0 + 60 * (SPILL_AFTER_MINUTES + 1))
    m = d._state[SOURCES[0]][int(T0 // 60)]
    assert m.cold is not None and m.cold.count == n
    parts = (m, m.keys, m.offsets, m.recent, m.cold, m.cold.fences)
    in_memory = sum(map(sys.getsizeof, parts))
    # The README's figures: 0.125 bytes an id of block index, about 500 bytes a minute.
    assert sys.getsizeof(m.cold.fences) <= 8 * -(-n // BLOCK) + 80
    assert in_memory - sys.getsizeof(m.cold.fences) <= 500
    assert sum(map(len, store.segments.values())) == 10 * n  # 8-byte id, 16-bit offset
    store.reads = 0
    assert not d.is_duplicate(SOURCES[0], T0, "id-77", 77)
    assert store.reads == 2  # its block of ids, then its offset
    assert d.is_duplicate(SOURCES[0], T0, "id-77", 78)


def test_ids_gained_after_the_move_stay_warm_until_a_quarter_then_move_merged() -> None:
    store = Bytes()
    d = Deduplicator(7200, store)
    src, minute = SOURCES[0], int(T0 // 60)
    for i in range(4 * BLOCK):
        d.is_duplicate(src, T0, f"a{i}", i)
    late = T0 + 60 * (SPILL_AFTER_MINUTES + 1)
    _quiet(d, late)
    m = d._state[src][minute]
    assert m.cold is not None and not m.keys
    for i in range(BLOCK - 1):  # a late trickle: kept in memory beside the cold ids
        assert not d.is_duplicate(src, T0, f"b{i}", 1000 + i)
    _quiet(d, late)
    assert m.cold.count == 4 * BLOCK and len(m.keys) == BLOCK - 1
    assert not d.is_duplicate(src, T0, "b-last", 2000)
    _quiet(d, late)
    assert m.cold.count == 5 * BLOCK and not m.keys  # moved again, merged
    assert d.is_duplicate(src, T0, "a3", 99) and not d.is_duplicate(src, T0, "b-last", 2000)


def test_a_recent_or_busy_minute_stays_in_memory() -> None:
    store = Bytes()
    d = Deduplicator(7200, store)
    src = SOURCES[0]
    for i in range(BLOCK):
        d.is_duplicate(src, T0, f"a{i}", i)
    _quiet(d, T0 + 60 * (SPILL_AFTER_MINUTES - 1))  # too recent
    assert d.ids_cold() == 0
    for k in range(QUIET_PASSES + 2):  # busy: a new id between every pass
        d.is_duplicate(src, T0, f"busy{k}", 100 + k)
        d.expire(T0 + 60 * (SPILL_AFTER_MINUTES + 1))
    assert d.ids_cold() == 0
    _quiet(d, T0 + 60 * (SPILL_AFTER_MINUTES + 1))
    assert d.ids_cold() == BLOCK + QUIET_PASSES + 2


def test_a_restore_goes_straight_to_the_store_and_decides_alike() -> None:
    warm = Deduplicator(7200)
    for i in range(500):
        warm.is_duplicate(SOURCES[1], T0 + i % 120, f"r{i}", i)
    store = Bytes()
    restored = Deduplicator(7200, store)
    for minute in warm.take_dirty(SOURCES[1]):
        ids = warm.arrays(SOURCES[1], minute)
        assert ids is not None
        restored.load(SOURCES[1], minute, *ids)
    assert restored.ids_cold() == 500
    for i in range(500):
        assert not restored.is_duplicate(SOURCES[1], T0 + i % 120, f"r{i}", i)
        assert restored.is_duplicate(SOURCES[1], T0 + i % 120, f"r{i}", i + 1)


def test_segments_are_released_once_all_their_minutes_expired() -> None:
    store = Bytes()
    d = Deduplicator(7200, store)
    for i in range(BLOCK):
        d.is_duplicate(SOURCES[0], T0, f"a{i}", i)  # segment of T0
    _quiet(d, T0 + 60 * (SPILL_AFTER_MINUTES + 1))
    for i in range(BLOCK):
        d.is_duplicate(SOURCES[0], T0 + 60 * (SEGMENT_MINUTES + 100), f"b{i}", 100 + i)  # next
    _quiet(d, T0 + 60 * (SEGMENT_MINUTES + 118))  # the last minute of T0's segment is held
    first = int(T0 // 60) // SEGMENT_MINUTES
    assert store.released == [] and set(store.segments) == {first, first + 1}
    _quiet(d, T0 + 60 * (SEGMENT_MINUTES + 120))  # and now past the 2 h horizon
    assert store.released == [first]
    assert set(store.segments) == {first + 1}
    assert d.ids_held() == d.ids_cold() == BLOCK


def test_a_refusing_store_keeps_the_ids_in_memory_and_says_so() -> None:
    d = Deduplicator(7200, Bytes(refuse=True))
    for i in range(BLOCK):
        d.is_duplicate(SOURCES[0], T0, f"a{i}", i)
    _quiet(d, T0 + 60 * (SPILL_AFTER_MINUTES + 1))
    assert d.spill_failures > 0 and d.ids_cold() == 0
    assert d.is_duplicate(SOURCES[0], T0, "a5", 99) and not d.is_duplicate(SOURCES[0], T0, "a5", 5)


def test_a_merge_the_store_refuses_leaves_the_minute_as_it_was() -> None:
    store = Bytes()
    d, warm = Deduplicator(7200, store), Deduplicator(7200)
    src, minute = SOURCES[0], int(T0 // 60)
    late = T0 + 60 * (SPILL_AFTER_MINUTES + 1)
    for i in range(4 * BLOCK):
        for x in (d, warm):
            x.is_duplicate(src, T0, f"a{i}", i)
    _quiet(d, late)
    for i in range(BLOCK):  # enough to move again, merged
        for x in (d, warm):
            x.is_duplicate(src, T0, f"b{i}", 1000 + i)
    store.refuse = True
    _quiet(d, late)
    m = d._state[src][minute]
    assert d.spill_failures == 1 and m.cold is not None and m.cold.count == 4 * BLOCK
    assert len(m) == d.ids_held() == 5 * BLOCK
    assert d.arrays(src, minute) == warm.arrays(src, minute)
    assert all(d.is_duplicate(src, T0, f"b{i}", 5) for i in range(BLOCK))


def _walked(d: Deduplicator) -> tuple[int, int]:
    """Ids held and ids cold, counted by walking every minute (what the counters replace)."""
    minutes = [m for per_source in d._state.values() for m in per_source.values()]
    return sum(map(len, minutes)), sum(m.cold.count for m in minutes if m.cold is not None)


@pytest.mark.parametrize("seed", [4, 5])
def test_held_and_cold_counts_follow_every_change_without_a_walk(seed: int) -> None:
    """New ids, moves, merged moves, expiry, restores over a held minute, dropped partitions."""
    rng = random.Random(seed)
    d = Deduplicator(3600, Bytes())
    offsets = dict.fromkeys(SOURCES, 0)
    events = sorted(_traffic(rng, 12_000, 40), key=lambda e: e[1])
    most_cold = 0
    for k, (source, t, i) in enumerate(events):
        offsets[source] += 1
        d.is_duplicate(source, t, i, offsets[source])
        if k % 300 == 0:
            _quiet(d, t + 60 * SPILL_AFTER_MINUTES)
            assert (d.ids_held(), d.ids_cold()) == _walked(d)
            most_cold = max(most_cold, d.ids_cold())
        if k % 700 == 0:  # a late trickle into moved minutes: merged moves
            for late in range(BLOCK):
                d.is_duplicate(source, t - 60 * SPILL_AFTER_MINUTES, f"late{k}-{late}", -late)
        if k == 6_000:  # a restore over minutes already held replaces them
            for minute in list(d._state[SOURCES[0]])[:5]:
                held = d.arrays(SOURCES[0], minute)
                assert held is not None
                d.load(SOURCES[0], minute, *held)
            assert (d.ids_held(), d.ids_cold()) == _walked(d)
    assert most_cold > d.ids_held() / 2
    d.drop([SOURCES[1]])
    assert (d.ids_held(), d.ids_cold()) == _walked(d)
    _quiet(d, T0 + 60 * 200)
    assert (d.ids_held(), d.ids_cold()) == _walked(d) == (0, 0)
