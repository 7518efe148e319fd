"""dedup: count each event id once per source partition, and decide the same way on replay.

An event id is remembered with the offset it was first read at, in the one-minute bucket of its
event time. A record is a duplicate when its id was first seen at a *different* offset. Because
the decision depends only on the (id, first offset) pairs, a worker that restores this state
after a crash and re-reads records it had already applied decides exactly as it did the first
time: the original is still the original, a re-sent copy is still a copy.

Ids are held for a *horizon* of event time (``dedup_horizon_seconds``, at most the longest
window). An event older than the horizon cannot be told from a copy whose original was
forgotten, so it is not counted: ``past_horizon`` says so and the pipeline rejects it as
``late``. The oldest minute held only moves forward, so a wall clock stepping back cannot make a
forgotten minute count again.

Memory is bounded by the events within the horizon: an id costs 11 bytes once its minute is
sealed (a sorted array of 8-byte digests and one of 2-byte offsets above the minute's lowest,
with their growth headroom), as long as the minute's first offsets span less than 2^16 (a
partition reading under about 1,000 events a second, in event-time order); 13 bytes within
2^32, 17 beyond; about 100 bytes while its minute is open. The state topic stores 16 bytes per
id. Ids are 64-bit BLAKE2b digests, so two distinct ids collide with probability about n² / 2⁶⁵
within one partition-minute of n events (below 10⁻¹¹ for n = 10,000).

Given a ``ColdStore`` (the worker gives it files on local disk, ``app/spill.py``), a sealed minute
that has gone quiet (``SPILL_AFTER_MINUTES`` behind ``now`` and no new id for ``QUIET_PASSES``
calls of ``expire``) moves there: memory keeps every ``BLOCK``-th id (a fence, 0.125 bytes an
id, plus about 500 bytes a minute) and a lookup reads one block of 64 ids back. The longest
horizons then cost disk, not memory: a 7 d horizon at 200 events/s is 1.2 GB of disk and about
60 MB of memory. Ids a minute gains
after it moved stay in memory beside it, and move again, merged, once they are a quarter of it.
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Sequence
from typing import Final, Protocol, TypeVar

import msgspec
import numpy as np

from socialpulse.core.windows.timeline import Source, bucket_of, first_bucket

# Minutes further than this behind ``now`` are sealed into compact arrays.
OPEN_MINUTES: Final = 2
# Minutes of at least this many ids are sealed with numpy (the measured crossover).
_NUMPY_FROM: Final = 32
# Offsets of a sealed minute within these of its lowest are held as 16- or 32-bit deltas.
_DELTA16_MAX: Final = 2**16 - 1
_DELTA_MAX: Final = 2**32 - 1
# A minute of seen offsets is a bitmap when that costs at most this many bits per offset.
_BITMAP_BITS: Final = 16
# A quiet minute moves to the cold store once this far behind ``now`` ...
SPILL_AFTER_MINUTES: Final = 15
# ... and without a new id for this many calls of ``expire`` (the worker's: 10 s apart).
QUIET_PASSES: Final = 3
# Ids of a moved minute read back at once for a lookup; memory keeps the first of each block.
BLOCK: Final = 64
# Minutes of event time per cold-store segment: a segment is released when all have expired.
SEGMENT_MINUTES: Final = 360


class ColdStore(Protocol):
    """Bytes kept off the heap in numbered segments and read back by range.

    The worker's is files on local disk (``app/spill.py``); nothing in it outlives the process,
    since the state topic holds every id and a restore writes them again.
    """

    def put(self, segment: int, data: bytes) -> int:
        """Append ``data`` to ``segment``: the position it starts at."""
        ...

    def get(self, segment: int, position: int, size: int) -> bytes:
        """``size`` bytes of ``segment`` from ``position``."""
        ...

    def release(self, segment: int) -> None:
        """Forget ``segment`` whole (nothing in it is read again)."""
        ...


def id_hash(event_id: str) -> int:
    """A stable 64-bit digest of an event id (Python's ``hash`` differs per process)."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "little")


def _packed(offsets: Sequence[int] | np.ndarray) -> tuple[int, array[int]]:
    """First offsets as (base, 16- or 32-bit deltas), or (0, 64-bit offsets) past 32 bits.

    Ids are sealed by the million: 2 bytes of offset rather than 4 are a sixth of their memory.
    """
    if not len(offsets):
        return 0, array("H")
    if isinstance(offsets, np.ndarray):
        lo, hi = int(offsets.min()), int(offsets.max())
        if hi - lo > _DELTA_MAX:
            return 0, array("q", offsets.astype(np.int64).tobytes())
        code, dtype = ("H", np.uint16) if hi - lo <= _DELTA16_MAX else ("I", np.uint32)
        return lo, array(code, (offsets - lo).astype(dtype).tobytes())
    lo, hi = min(offsets), max(offsets)
    if hi - lo > _DELTA_MAX:
        return 0, array("q", offsets)
    return lo, array("H" if hi - lo <= _DELTA16_MAX else "I", [o - lo for o in offsets])


class _Sealable(Protocol):
    """What a minute of ``_ByMinute`` is: sealed into compact arrays once settled."""

    def seal(self) -> None: ...

    def __len__(self) -> int: ...


M = TypeVar("M", bound=_Sealable)


class _ByMinute(dict[Source, dict[int, M]]):
    """Per source partition, per minute of event time: one ``M``, made on first use.

    The dedup index and ``OffsetSet`` keep their minutes alike: found or made on every record,
    forgotten past the horizon, sealed once settled. A plain dict of dicts underneath, so an
    id costs nothing more here. Housekeeping touches only what changed: each source's minutes
    are also kept sorted (expiry cuts a prefix) and the minutes written since their last seal
    are noted (``touch``), so a pass over a week of minutes does not walk them all.
    """

    __slots__ = ("_fresh", "_make", "_order")

    def __init__(self, make: Callable[[], M]) -> None:
        super().__init__()
        self._make = make
        self._order: dict[Source, list[int]] = {}  # each source's minutes, sorted
        self._fresh: dict[Source, set[int]] = {}  # minutes written since they were sealed

    def at(self, source: Source, minute: int) -> M:
        """The minute's ``M``, made when missing."""
        per_source = self.get(source)
        if per_source is None:
            per_source = self[source] = {}
        m = per_source.get(minute)
        if m is None:
            m = per_source[minute] = self._make()
            insort(self._order.setdefault(source, []), minute)
        return m

    def touch(self, source: Source, minute: int) -> None:
        """Note that the minute was written to: the next ``expire`` past it seals it."""
        fresh = self._fresh.get(source)
        if fresh is None:
            fresh = self._fresh[source] = set()
        fresh.add(minute)

    def minute(self, source: Source, minute: int) -> M | None:
        """The minute's ``M`` if held."""
        return self.get(source, {}).get(minute)

    def put(self, source: Source, minute: int, m: M) -> None:
        """Hold ``m`` as the minute's, replacing any."""
        per_source = self.setdefault(source, {})
        if minute not in per_source:
            insort(self._order.setdefault(source, []), minute)
        per_source[minute] = m

    def forget(self, source: Source) -> list[M]:
        """Drop every minute of ``source``; returns them."""
        self._order.pop(source, None)
        self._fresh.pop(source, None)
        return list(self.pop(source, {}).values())

    def expire(
        self, oldest: int, settled: int, forgotten: Callable[[M], None] | None = None
    ) -> tuple[dict[Source, list[int]], dict[Source, list[int]]]:
        """Forget minutes before ``oldest``, seal written ones before ``settled``.

        Each minute forgotten is passed to ``forgotten``. Returns the minutes forgotten and
        the minutes sealed, per source.
        """
        stale: dict[Source, list[int]] = {}
        sealed: dict[Source, list[int]] = {}
        for source, per_source in self.items():
            order = self._order.get(source, [])
            cut = bisect_left(order, oldest)
            gone = stale[source] = order[:cut]
            del order[:cut]
            for index in gone:
                dropped = per_source.pop(index)
                if forgotten is not None:
                    forgotten(dropped)
            fresh = self._fresh.get(source)
            if not fresh:
                continue
            done = sealed[source] = []
            for index in [i for i in fresh if i < settled]:
                fresh.discard(index)
                m = per_source.get(index)
                if m is not None:
                    m.seal()
                    done.append(index)
        return stale, sealed

    def held(self) -> int:
        """Everything every minute holds."""
        return sum(len(m) for per_source in self.values() for m in per_source.values())


class _Cold:
    """A minute's sealed ids in a cold store: ids, then first offsets, as sealed in memory."""

    __slots__ = ("base", "code", "count", "fences", "position", "segment", "store")

    def __init__(
        self, store: ColdStore, segment: int, keys: array[int], base: int, offsets: array[int]
    ) -> None:
        self.store = store
        self.segment = segment
        self.count = len(keys)
        self.base = base
        self.code = offsets.typecode
        self.fences = keys[::BLOCK]  # the first id of each block, to find the one to read
        self.position = store.put(segment, keys.tobytes() + offsets.tobytes())

    def first_offset(self, h: int) -> int | None:
        i = bisect_right(self.fences, h) - 1
        if i < 0:
            return None
        lo = i * BLOCK
        n = min(BLOCK, self.count - lo)
        block = array("Q", self.store.get(self.segment, self.position + 8 * lo, 8 * n))
        j = bisect_left(block, h)
        if j == n or block[j] != h:
            return None
        size = array(self.code).itemsize
        at = self.position + 8 * self.count + size * (lo + j)
        return self.base + array(self.code, self.store.get(self.segment, at, size))[0]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, first offsets as int64), read back whole."""
        size = array(self.code).itemsize
        data = self.store.get(self.segment, self.position, (8 + size) * self.count)
        keys = np.frombuffer(data, dtype=np.uint64, count=self.count)
        rel = np.frombuffer(data, dtype=np.dtype(self.code), offset=8 * self.count)
        return keys, rel.astype(np.int64) + np.int64(self.base)


class _Minute:
    """The ids first seen in one partition-minute: sealed sorted arrays plus an open dict.

    A sealed id costs 8 bytes of digest and, in the usual case that the minute's first offsets
    span less than 2^16 (2^32), 2 (4) bytes of offset above the minute's lowest (``base``).
    Once moved to a cold store (``cold``), the sealed arrays hold only ids gained since.
    """

    __slots__ = ("base", "cold", "keys", "offsets", "recent", "touched")

    def __init__(self) -> None:
        self.keys = array("Q")  # sorted id hashes
        self.base = 0
        self.offsets: array[int] = array("H")  # first offset of keys[i], less ``base``
        self.recent: dict[int, int] = {}
        self.cold: _Cold | None = None
        self.touched = 0  # the ``expire`` pass of the last new id

    def first_offset(self, h: int) -> int | None:
        got = self.recent.get(h)
        if got is not None:
            return got
        i = bisect_left(self.keys, h)
        if i < len(self.keys) and self.keys[i] == h:
            return self.base + self.offsets[i]
        return None if self.cold is None else self.cold.first_offset(h)

    def spill(self, store: ColdStore, segment: int) -> None:
        """Move the sealed ids to ``store``, merged with any moved before (that copy is left).

        A refused write (``OSError``) leaves the minute as it was.
        """
        self.seal()
        keys, base, offsets = self.keys, self.base, self.offsets
        if self.cold is not None:
            if not keys:
                return
            merged_keys, merged_offsets = self._merged()
            keys = array("Q", merged_keys.tobytes())
            base, offsets = _packed(merged_offsets)
        self.cold = _Cold(store, segment, keys, base, offsets)
        self.keys, self.base, self.offsets = array("Q"), 0, array("H")

    def _merged(self) -> tuple[np.ndarray, np.ndarray]:
        """Every sealed id, in memory and cold, sorted, with its first offset (int64)."""
        mine = np.frombuffer(self.keys, dtype=np.uint64), self._offsets64()
        if self.cold is None:
            return mine
        cold = self.cold.arrays()
        if not len(mine[0]):
            return cold
        keys = np.concatenate((cold[0], mine[0]))
        offsets = np.concatenate((cold[1], mine[1]))
        order = np.argsort(keys, kind="stable")
        return keys[order], offsets[order]

    def _offsets64(self) -> np.ndarray:
        return np.frombuffer(self.offsets, dtype=np.dtype(self.offsets.typecode)).astype(
            np.int64
        ) + np.int64(self.base)

    def seal(self) -> None:
        if not self.recent:
            return
        if len(self.keys) + len(self.recent) < _NUMPY_FROM:
            base = self.base
            held = ((k, base + o) for k, o in zip(self.keys, self.offsets, strict=True))
            merged = sorted([*held, *self.recent.items()])
            self.keys = array("Q", [k for k, _ in merged])
            self.base, self.offsets = _packed([o for _, o in merged])
            self.recent = {}
            return
        # numpy merges large minutes in C; small ones are quicker in Python (a backfill seals
        # thousands of minutes of a few ids each per checkpoint).
        keys = np.concatenate(
            (
                np.frombuffer(self.keys, dtype=np.uint64),
                np.fromiter(self.recent.keys(), dtype=np.uint64, count=len(self.recent)),
            )
        )
        offsets = np.concatenate(
            (
                self._offsets64(),
                np.fromiter(self.recent.values(), dtype=np.int64, count=len(self.recent)),
            )
        )
        order = np.argsort(keys, kind="stable")
        self.keys = array("Q", keys[order].tobytes())
        self.base, self.offsets = _packed(offsets[order])
        self.recent = {}

    def __len__(self) -> int:
        return len(self.keys) + len(self.recent) + (0 if self.cold is None else self.cold.count)

    def arrays(self) -> tuple[bytes, bytes]:
        self.seal()
        keys, offsets = self._merged()
        return keys.tobytes(), offsets.astype(np.int64).tobytes()

    @classmethod
    def from_arrays(cls, keys: bytes, offsets: bytes) -> _Minute:
        if len(keys) != len(offsets) or len(keys) % 8:
            raise ValueError("corrupt dedup record: ids and offsets differ in length")
        k = np.frombuffer(keys, dtype=np.uint64)
        if bool(np.any(k[1:] < k[:-1])):
            raise ValueError("corrupt dedup record: ids not sorted")  # lookups bisect them
        m = cls()
        m.keys.frombytes(keys)
        m.base, m.offsets = _packed(np.frombuffer(offsets, dtype=np.int64))
        return m


def unpack_v2(data: bytes) -> tuple[bytes, bytes]:
    """(ids, first offsets) of a dedup record of state format 1 or 2 (msgpack pair of arrays)."""
    keys, offsets = msgspec.msgpack.decode(data, type=tuple[bytes, bytes])
    return keys, offsets


class Deduplicator:
    """Per-partition memory of event ids over the dedup horizon (quiet minutes in ``cold``)."""

    def __init__(self, horizon_seconds: int, cold: ColdStore | None = None) -> None:
        self._horizon = horizon_seconds
        self._state = _ByMinute(_Minute)
        self._dirty: dict[Source, set[int]] = {}
        self._expired: dict[Source, list[int]] = {}
        # The oldest minute whose ids are still held (raised by ``expire``, never lowered).
        self._floor = 0
        self._cold = cold
        self._segments: set[int] = set()  # cold-store segments written to
        self._warm: dict[Source, set[int]] = {}  # sealed minutes with ids in memory
        self._pass = QUIET_PASSES + 1  # calls of ``expire``, so a new minute starts quiet
        self.spill_failures = 0  # moves the cold store refused (the minute stays in memory)
        # Ids held and, of those, in the cold store: kept on each change, so a scrape reads
        # them without walking a week of minutes.
        self._held = 0
        self._held_cold = 0

    @property
    def horizon_seconds(self) -> int:
        """How long (event time) ids are held."""
        return self._horizon

    def past_horizon(self, event_time: float) -> bool:
        """True when ids of ``event_time``'s minute may be forgotten: the event must not count."""
        return bucket_of(event_time) < self._floor

    @property
    def floor(self) -> int:
        """The oldest minute whose ids are held: ``past_horizon`` is true before it."""
        return self._floor

    def is_duplicate(self, source: Source, event_time: float, event_id: str, offset: int) -> bool:
        """True when ``event_id`` was first read from ``source`` at another offset."""
        return self.is_duplicate_in(source, bucket_of(event_time), event_id, offset)

    def is_duplicate_in(self, source: Source, minute: int, event_id: str, offset: int) -> bool:
        """``is_duplicate`` of an event whose minute (``bucket_of`` its time) is known."""
        m = self._state.at(source, minute)
        h = id_hash(event_id)
        first = m.first_offset(h)
        if first is None:
            if not m.recent:
                self._state.touch(source, minute)
            m.recent[h] = offset
            m.touched = self._pass
            self._held += 1
            self._dirty.setdefault(source, set()).add(minute)
            return False
        return first != offset

    def take_dirty(self, source: Source) -> list[int]:
        """Minutes of ``source`` that gained ids since the last call."""
        minutes = self._dirty.pop(source, set())
        per_source = self._state.get(source, {})
        return sorted(m for m in minutes if m in per_source)

    def arrays(self, source: Source, minute: int) -> tuple[bytes, bytes] | None:
        """The ids of one partition-minute and their first offsets (sorted machine arrays)."""
        m = self._state.minute(source, minute)
        return None if m is None else m.arrays()

    def take_expired(self, source: Source) -> list[int]:
        """Minutes of ``source`` deleted by ``expire`` since the last call."""
        return self._expired.pop(source, [])

    def load(self, source: Source, minute: int, keys: bytes, offsets: bytes) -> None:
        """Install a minute restored from the changelog (what ``arrays`` gave).

        With a cold store it goes there at once: a restore of a long horizon never holds it all.
        """
        m = _Minute.from_arrays(keys, offsets)
        replaced = self._state.minute(source, minute)
        if replaced is not None:
            self._forgotten(replaced)
        self._held += len(m)
        if self._cold is not None and len(m) >= BLOCK:
            self._spill(minute, m)
        self._state.put(source, minute, m)

    def _forgotten(self, m: _Minute) -> None:
        """Count a minute's ids out of ``ids_held`` and ``ids_cold``."""
        self._held -= len(m)
        if m.cold is not None:
            self._held_cold -= m.cold.count

    def _spill(self, minute: int, m: _Minute) -> None:
        assert self._cold is not None  # noqa: S101 - callers check
        segment = minute // SEGMENT_MINUTES
        before = 0 if m.cold is None else m.cold.count
        try:
            m.spill(self._cold, segment)
        except OSError:  # a full or failing disk: the ids stay in memory, decisions unchanged
            self.spill_failures += 1
            return
        self._segments.add(segment)
        self._held_cold += (0 if m.cold is None else m.cold.count) - before

    def drop(self, sources: Iterable[Source]) -> None:
        """Forget partitions this worker no longer owns."""
        for s in sources:
            for m in self._state.forget(s):
                self._forgotten(m)
            self._warm.pop(s, None)
            self._dirty.pop(s, None)
            self._expired.pop(s, None)

    def expire(self, now: float) -> int:
        """Delete minutes older than the horizon and seal settled ones; returns deleted."""
        oldest = first_bucket(now, self._horizon)
        self._floor = max(self._floor, oldest)
        removed = 0
        gone, sealed = self._state.expire(oldest, bucket_of(now) - OPEN_MINUTES, self._forgotten)
        for source, stale in gone.items():
            if stale:
                self._expired.setdefault(source, []).extend(stale)
                for held in (self._dirty.get(source), self._warm.get(source)):
                    if held:
                        held.difference_update(stale)
            removed += len(stale)
        if self._cold is not None:
            for source, minutes in sealed.items():
                self._warm.setdefault(source, set()).update(minutes)
            self._cool(now)
        return removed

    def _cool(self, now: float) -> None:
        """Move quiet sealed minutes to the cold store; release segments wholly expired."""
        assert self._cold is not None  # noqa: S101 - the caller checks
        self._pass += 1
        before = bucket_of(now) - SPILL_AFTER_MINUTES
        quiet = self._pass - QUIET_PASSES
        for source, warm in self._warm.items():
            per_source = self._state.get(source, {})
            for index in [i for i in warm if i < before]:
                m = per_source.get(index)
                if m is None:
                    warm.discard(index)
                    continue
                if m.touched > quiet:
                    continue  # busy: looked at again next pass
                warm.discard(index)  # a minute too small to move is looked at once it grows
                cold = m.cold
                if len(m.keys) >= (BLOCK if cold is None else max(BLOCK, cold.count // 4)):
                    self._spill(index, m)
        for segment in [s for s in self._segments if (s + 1) * SEGMENT_MINUTES <= self._floor]:
            self._segments.discard(segment)
            self._cold.release(segment)

    def ids_held(self) -> int:
        """Event ids remembered, a measure of dedup memory."""
        return self._held

    def ids_cold(self) -> int:
        """Of those, the ids in the cold store (the rest are in memory)."""
        return self._held_cold


class _Offsets:
    """Offsets seen in one partition-minute: sealed ones plus an open set.

    Sealed offsets are a bitmap from the lowest when they are dense (a partition's records of
    one minute mostly are: at most ``_BITMAP_BITS`` bits per offset), else a sorted array.
    """

    __slots__ = ("base", "count", "recent", "sealed")

    def __init__(self) -> None:
        self.base = 0
        self.count = 0  # sealed offsets
        self.sealed: array[int] | bytes = array("I")  # less ``base``: sorted, or a bitmap
        self.recent: set[int] = set()

    def __contains__(self, offset: int) -> bool:
        if offset in self.recent:
            return True
        rel = offset - self.base
        sealed = self.sealed
        if isinstance(sealed, bytes):
            return 0 <= rel < 8 * len(sealed) and bool(sealed[rel >> 3] >> (rel & 7) & 1)
        i = bisect_left(sealed, rel)
        return i < len(sealed) and sealed[i] == rel

    def _held(self) -> np.ndarray:
        sealed = self.sealed
        if isinstance(sealed, bytes):
            bits = np.unpackbits(np.frombuffer(sealed, dtype=np.uint8), bitorder="little")
            return np.flatnonzero(bits).astype(np.int64) + self.base
        return np.frombuffer(sealed, dtype=np.dtype(sealed.typecode)).astype(np.int64) + self.base

    def seal(self) -> None:
        if not self.recent:
            return
        offsets = np.concatenate(
            (self._held(), np.fromiter(self.recent, dtype=np.int64, count=len(self.recent)))
        )
        lo = int(offsets.min())
        span = int(offsets.max()) - lo + 1
        self.count = len(offsets)
        self.recent = set()
        if span <= _BITMAP_BITS * len(offsets):
            bits = np.zeros(span, dtype=np.uint8)
            bits[offsets - lo] = 1
            self.base, self.sealed = lo, np.packbits(bits, bitorder="little").tobytes()
        else:
            self.base, self.sealed = _packed(np.sort(offsets))

    def nbytes(self) -> int:
        """Bytes the sealed offsets take."""
        sealed = self.sealed
        return len(sealed) if isinstance(sealed, bytes) else len(sealed) * sealed.itemsize

    def __len__(self) -> int:
        return self.count + len(self.recent)


class OffsetSet:
    """Input records seen, by partition and offset, per minute of event time over a horizon.

    What a reader of records that name their origin (the joins topic, ``core.joins``) needs to
    count each origin once: no digest and no first position, only the offset. Once its minute is
    sealed an offset costs a bit or two when the minute's offsets are dense (a bitmap: at most 2
    bytes each), else 4 bytes (32-bit above the minute's lowest; 8 when they span 2^32).
    """

    def __init__(self, horizon_seconds: int) -> None:
        self._horizon = horizon_seconds
        self._state = _ByMinute(_Offsets)

    def add(self, source: Source, event_time: float, offset: int) -> bool:
        """Remember ``offset`` of ``source``; False when it was seen already."""
        minute = bucket_of(event_time)
        m = self._state.at(source, minute)
        if offset in m:
            return False
        if not m.recent:
            self._state.touch(source, minute)
        m.recent.add(offset)
        return True

    def expire(self, now: float) -> None:
        """Forget minutes older than the horizon; seal the settled ones."""
        self._state.expire(first_bucket(now, self._horizon), bucket_of(now) - OPEN_MINUTES)

    def __len__(self) -> int:
        return self._state.held()
