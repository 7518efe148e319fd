"""Emerging terms per brand: burst scores of terms on mergeable sketches, one per time bucket.

Each bucket (``bucket_seconds`` of event time) of a brand holds an Apache DataSketches
count-min sketch of every term (the counts) and a frequent-strings sketch (the heavy hitters,
the candidates). Both are bounded in memory and merge by union, so buckets merge into windows
and the state of several workers merges into one. A bucket also counts the brand's mentions the
spam heuristics filtered, per reason, so the fleet's filtered counts travel and merge with the
sketches (``FleetTrends``). Until a bucket is read it also counts up to
``open_bucket_terms`` distinct terms exactly and folds them into its sketches in one go: a
pybind11 call per term and mention would cost more than the rest of the pipeline.

A term's burst score compares its count ``r`` in the recent window with ``e``, its baseline
rate scaled to the recent window: ``(r − e) / sqrt(e + noise_floor)``. The floor keeps the
score of a term never seen before finite (``r / sqrt(noise_floor)``), and a trend also needs
``r ≥ min_count`` and ``r ≥ min_lift × (e + noise_floor)``. The recent count is the heavy-hitter
lower bound (exact while a window has fewer distinct terms than the sketch holds); the baseline
is the count-min estimate, which never undercounts, so both errors make a burst look smaller.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import msgspec
from datasketches import count_min_sketch, frequent_items_error_type, frequent_strings_sketch

from socialpulse.core.native import COMPILED
from socialpulse.settings import TrendSettings

SNAPSHOT_VERSION: Final = 1
# Hash seed of every count-min sketch: workers must hash alike for their sketches to merge.
SEED: Final = 9001


@dataclass(frozen=True, slots=True)
class Trend:
    """A term whose recent count jumps against its own baseline."""

    term: str
    score: float
    recent: float
    expected: float


@dataclass(frozen=True, slots=True)
class PublishedBucket:
    """One partition's trend bucket of a brand, as the trends topic carries it."""

    source: tuple[str, int]
    brand: str
    index: int
    offset: int  # the partition's applied offset when the bucket was taken: its version
    latest: float  # the partition's latest event time then
    counts: bytes
    heavy: bytes
    # The bucket's filtered mentions per reason (none in a record of an older release).
    filtered: Mapping[str, int] = field(default_factory=dict)


class _BucketSnapshot(msgspec.Struct, array_like=True):
    index: int
    counts: bytes
    heavy: bytes
    # Filtered mentions per reason; absent from snapshots of older releases (none then).
    filtered: dict[str, int] = {}


class _BrandSnapshot(msgspec.Struct):
    version: int
    first_bucket: int | None
    buckets: list[_BucketSnapshot]


# ``Bucket.add``'s counting, compiled (``services/socialpulse-native``), where it is built.
_COUNT_TERMS: Final = COMPILED.count_terms if COMPILED is not None else None


@functools.cache
def _empty_sketches(depth: int, width: int, heavy_lg: int) -> tuple[bytes, bytes]:
    """The serialised sketches of a bucket that counted no term (what ``serialized`` sends)."""
    counts = count_min_sketch(depth, width, SEED)
    return bytes(counts.serialize()), bytes(frequent_strings_sketch(heavy_lg).serialize())


class Bucket:
    """The mentions of one brand in one bucket: terms in a count-min and a heavy-hitter sketch.

    Beside them, how many of the brand's mentions the spam heuristics filtered, per reason
    (``filtered``): a bucket of filtered mentions only makes no sketches, so the counts cost
    a dict where trends are off or a minute holds spam alone.
    """

    __slots__ = ("_counts", "_heavy", "_open", "_open_cap", "_settings", "filtered")

    def __init__(self, settings: TrendSettings) -> None:
        self._settings = settings
        self._counts: count_min_sketch | None = None
        self._heavy: frequent_strings_sketch | None = None
        self._open: dict[str, int] = {}
        self._open_cap = settings.open_bucket_terms
        self.filtered: dict[str, int] = {}

    @property
    def counts(self) -> count_min_sketch:
        """The count-min sketch of every term (made at first use)."""
        if self._counts is None:
            s = self._settings
            self._counts = count_min_sketch(s.sketch_depth, s.sketch_width, SEED)
        return self._counts

    @property
    def heavy(self) -> frequent_strings_sketch:
        """The frequent-strings sketch of the heavy hitters (made at first use)."""
        if self._heavy is None:
            self._heavy = frequent_strings_sketch(self._settings.heavy_hitters_lg)
        return self._heavy

    @property
    def sketched(self) -> bool:
        """Whether the bucket counted any term (its sketches exist)."""
        return self._counts is not None or bool(self._open)

    def add(self, terms: Iterable[str], excluded: frozenset[str] = frozenset()) -> None:
        """Count each of ``terms`` once, those in ``excluded`` left out.

        A tuple (what ``Tokeniser.terms`` gives) is counted by the compiled loop where it is
        built, at a third of this loop's cost per term; the Python loop is its reference.
        """
        pending = self._open
        if _COUNT_TERMS is not None and type(terms) is tuple:
            held = _COUNT_TERMS(pending, terms, excluded)
        else:
            get = pending.get
            for t in terms:
                if t not in excluded:
                    pending[t] = get(t, 0) + 1
            held = len(pending)
        if held >= self._open_cap:
            self.fold()

    def add_filtered(self, reason: str) -> None:
        """Count one filtered mention under ``reason``."""
        self.filtered[reason] = self.filtered.get(reason, 0) + 1

    def fold(self) -> None:
        """Move the exact counts into the sketches (before any read, merge or snapshot)."""
        if not self._open:
            return
        counts, heavy = self.counts, self.heavy
        for term, n in self._open.items():
            counts.update(term, n)
            heavy.update(term, n)
        self._open.clear()

    def merge(self, other: Bucket) -> None:
        """Add ``other``'s counts to this bucket (the union of their mentions)."""
        other.fold()
        if other._counts is not None and other._heavy is not None:
            self.fold()
            self.counts.merge(other._counts)
            self.heavy.merge(other._heavy)
        for reason, n in other.filtered.items():
            self.filtered[reason] = self.filtered.get(reason, 0) + n

    def serialized(self) -> tuple[bytes, bytes]:
        """Both sketches as bytes (count-min, heavy hitters), the open counts folded first."""
        self.fold()
        if self._counts is None or self._heavy is None:
            s = self._settings
            return _empty_sketches(s.sketch_depth, s.sketch_width, s.heavy_hitters_lg)
        return bytes(self._counts.serialize()), bytes(self._heavy.serialize())

    @classmethod
    def deserialized(
        cls,
        settings: TrendSettings,
        counts: bytes,
        heavy: bytes,
        filtered: Mapping[str, int] | None = None,
    ) -> Bucket:
        """A bucket from ``serialized`` bytes (and filtered counts) taken with the same settings.

        ValueError for sketches taken with another ``sketch_depth`` or ``sketch_width`` (changed
        since, or on another worker): they cannot be merged with this build's.
        """
        out = cls(settings)
        empty = _empty_sketches(
            settings.sketch_depth, settings.sketch_width, settings.heavy_hitters_lg
        )
        if (counts, heavy) != empty:
            cms = count_min_sketch.deserialize(counts)
            if (cms.num_hashes, cms.num_buckets) != (settings.sketch_depth, settings.sketch_width):
                raise ValueError(
                    f"a trend bucket sketched {cms.num_hashes} × {cms.num_buckets}, not "
                    f"{settings.sketch_depth} × {settings.sketch_width} (trends.sketch_depth, "
                    "sketch_width)"
                )
            out._counts = cms
            out._heavy = frequent_strings_sketch.deserialize(heavy)
        out.filtered = dict(filtered or {})
        return out

    def sketch_bytes(self) -> int:
        """Serialised size of both sketches: the bucket's memory, bounded by the settings."""
        self.fold()
        if self._counts is None or self._heavy is None:
            return 0
        return int(self._counts.get_serialized_size_bytes()) + int(
            self._heavy.get_serialized_size_bytes()
        )


class BrandTrends:
    """One brand's buckets over the recent window and its baseline; older ones are dropped."""

    def __init__(self, settings: TrendSettings, excluded: frozenset[str] = frozenset()) -> None:
        self.settings = settings
        self.excluded = excluded
        self.buckets: dict[int, Bucket] = {}
        self.first_bucket: int | None = None
        self._span = settings.recent_buckets + settings.baseline_buckets
        self._seconds = settings.bucket_seconds  # read per mention: a model's field costs more
        self.late = 0
        # Buckets added to since the last ``take_changed`` (what the trends topic gets next).
        self.changed: set[int] = set()

    def bucket_of(self, ts: float) -> int:
        """Index of the bucket holding event time ``ts``."""
        return int(ts // self._seconds)

    def _bucket(self, ts: float) -> Bucket | None:
        """The bucket of event time ``ts``, made if new (None for one past the span: late)."""
        index = self.bucket_of(ts)
        bucket = self.buckets.get(index)
        if bucket is None:
            newest = max(self.buckets, default=index)
            if index <= newest - self._span:
                self.late += 1
                return None
            bucket = self.buckets[index] = Bucket(self.settings)
            if self.first_bucket is None or index < self.first_bucket:
                self.first_bucket = index
            self._expire(max(newest, index))
        self.changed.add(index)
        return bucket

    def add(self, ts: float, terms: Iterable[str]) -> None:
        """Count the terms of one mention created at ``ts`` (the brand's own terms excluded).

        Runs per mention and brand: a bucket that exists is found inline, ``_bucket`` makes
        the others.
        """
        index = int(ts // self._seconds)
        bucket = self.buckets.get(index)
        if bucket is None:
            bucket = self._bucket(ts)
            if bucket is None:
                return
        else:
            self.changed.add(index)
        bucket.add(terms, self.excluded)

    def add_filtered(self, ts: float, reason: str) -> None:
        """Count one mention created at ``ts`` that the spam heuristics filtered for ``reason``."""
        bucket = self._bucket(ts)
        if bucket is not None:
            bucket.add_filtered(reason)

    def filtered(self, now: float) -> dict[str, int]:
        """Filtered mentions per reason in the recent window at event time ``now``."""
        current = self.bucket_of(now)
        lo = current - self.settings.recent_buckets + 1
        out: dict[str, int] = {}
        for index, bucket in self.buckets.items():
            if lo <= index <= current:
                for reason, n in bucket.filtered.items():
                    out[reason] = out.get(reason, 0) + n
        return out

    def take_changed(self) -> list[tuple[int, Bucket]]:
        """The live buckets added to since the last call, oldest first."""
        changed, self.changed = self.changed, set()
        return [(i, self.buckets[i]) for i in sorted(changed) if i in self.buckets]

    def _expire(self, newest: int) -> None:
        for index in [i for i in self.buckets if i <= newest - self._span]:
            del self.buckets[index]
            self.changed.discard(index)  # unbounded otherwise where nothing publishes

    def _merged(self, lo: int, hi: int) -> Bucket:
        out = Bucket(self.settings)
        for index, bucket in self.buckets.items():
            if lo <= index <= hi:
                out.merge(bucket)
        return out

    def warm(self, now: float) -> bool:
        """Whether the brand has a full baseline behind the recent window at event time ``now``."""
        s = self.settings
        base_lo = self.bucket_of(now) - s.recent_buckets + 1 - s.baseline_buckets
        return self.first_bucket is not None and self.first_bucket <= base_lo

    def trends(self, now: float) -> list[Trend]:
        """The brand's top trends at event time ``now``: highest burst score first.

        Empty until the brand has a full baseline behind the recent window.
        """
        s = self.settings
        current = self.bucket_of(now)
        self._expire(current)
        recent_lo = current - s.recent_buckets + 1
        base_lo = recent_lo - s.baseline_buckets
        if not self.warm(now):
            return []
        recent = self._merged(recent_lo, current)
        baseline = self._merged(base_lo, recent_lo - 1)
        scale = s.recent_buckets / s.baseline_buckets
        found: list[Trend] = []
        rows = recent.heavy.get_frequent_items(frequent_items_error_type.NO_FALSE_NEGATIVES)
        for term, _estimate, lower, _upper in rows:
            r = float(lower)
            if r < s.min_count or term in self.excluded:
                continue
            e = float(baseline.counts.get_estimate(term)) * scale
            if r < s.min_lift * (e + s.noise_floor):
                continue
            score = (r - e) / math.sqrt(e + s.noise_floor)
            if score >= s.threshold:
                found.append(Trend(term, score, r, e))
        found.sort(key=lambda t: (-t.score, t.term))
        return found[: s.top_k]

    def memory_bytes(self) -> int:
        """Serialised size of every bucket's sketches."""
        return sum(b.sketch_bytes() for b in self.buckets.values())

    def merge(self, other: BrandTrends) -> None:
        """Add another worker's (or a restored) state of the same brand: the union per bucket."""
        for index, bucket in other.buckets.items():
            mine = self.buckets.get(index)
            if mine is None:
                mine = self.buckets[index] = Bucket(self.settings)
            mine.merge(bucket)
        if other.first_bucket is not None:
            self.first_bucket = min(self.first_bucket or other.first_bucket, other.first_bucket)
        if self.buckets:
            self._expire(max(self.buckets))

    def snapshot(self) -> bytes:
        """The state as bytes: the serialised sketches of every bucket."""
        buckets = []
        for index, b in sorted(self.buckets.items()):
            buckets.append(_BucketSnapshot(index, *b.serialized(), dict(b.filtered)))
        return msgspec.msgpack.encode(_BrandSnapshot(SNAPSHOT_VERSION, self.first_bucket, buckets))

    @classmethod
    def restore(
        cls, data: bytes, settings: TrendSettings, excluded: frozenset[str] = frozenset()
    ) -> BrandTrends:
        """Rebuild a brand's state from ``snapshot`` bytes.

        Buckets sketched under other sketch settings (changed since) are left out: the
        brand's trends then warm up again from the mentions that follow.
        """
        snap = msgspec.msgpack.decode(data, type=_BrandSnapshot)
        if snap.version != SNAPSHOT_VERSION:
            raise ValueError(f"trend snapshot version {snap.version} is not {SNAPSHOT_VERSION}")
        out = cls(settings, excluded)
        out.first_bucket = snap.first_bucket
        for b in snap.buckets:
            try:
                bucket = Bucket.deserialized(settings, b.counts, b.heavy, b.filtered)
            except ValueError:
                continue
            out.buckets[b.index] = bucket
        # Restored buckets are announced again: their last version may never have been.
        out.changed = set(out.buckets)
        return out


class TrendDetector:
    """Every brand's trends; brands come with the terms that name them (never trends)."""

    def __init__(self, settings: TrendSettings, excluded: Mapping[str, frozenset[str]]) -> None:
        self.settings = settings
        self.brands = {brand: BrandTrends(settings, ex) for brand, ex in excluded.items()}

    def add(self, brand: str, ts: float, terms: Iterable[str]) -> None:
        """Count one mention of ``brand`` created at ``ts``; unknown brands are ignored."""
        state = self.brands.get(brand)
        if state is not None:
            state.add(ts, terms)

    def add_filtered(self, brand: str, ts: float, reason: str) -> None:
        """Count one filtered mention of ``brand`` created at ``ts``; unknown brands are ignored."""
        state = self.brands.get(brand)
        if state is not None:
            state.add_filtered(ts, reason)

    def trends(self, brand: str, now: float) -> list[Trend]:
        """The top trends of ``brand`` at event time ``now``."""
        state = self.brands.get(brand)
        return state.trends(now) if state is not None else []


class FleetTrends:
    """Every input partition's trend buckets, as the trends topic carries them; merged at read.

    Each (partition, brand, bucket) holds the newest version published, by the partition's
    offset when it was taken: a re-sent or a fenced writer's older version never replaces a
    newer one. A brand's trends are those of the union of every partition's buckets, so every
    worker that reads the whole topic answers alike.
    """

    def __init__(self, settings: TrendSettings, excluded: Mapping[str, frozenset[str]]) -> None:
        self.settings = settings
        self.excluded = dict(excluded)
        self._buckets: dict[str, dict[tuple[str, int, int], tuple[int, Bucket]]] = {
            brand: {} for brand in excluded
        }
        self._span = settings.recent_buckets + settings.baseline_buckets
        self.latest = float("-inf")
        self.applied = 0
        self.stale = 0

    def apply(self, b: PublishedBucket) -> bool:
        """Take one published bucket; False when older than the version held (or unknown)."""
        held = self._buckets.get(b.brand)
        if held is None:
            return False
        key = (b.source[0], b.source[1], b.index)
        have = held.get(key)
        if have is not None and have[0] > b.offset:
            self.stale += 1
            return False
        held[key] = (b.offset, Bucket.deserialized(self.settings, b.counts, b.heavy, b.filtered))
        self.latest = max(self.latest, b.latest)
        self.applied += 1
        return True

    def expire(self) -> None:
        """Drop buckets older than the recent window and baseline at the latest event time."""
        if self.latest == float("-inf"):
            return
        oldest = int(self.latest // self.settings.bucket_seconds) - self._span
        for held in self._buckets.values():
            for key in [k for k in held if k[2] <= oldest]:
                del held[key]

    def brand(self, brand: str) -> BrandTrends | None:
        """The brand's buckets merged over every partition (None for an unknown brand)."""
        held = self._buckets.get(brand)
        if held is None:
            return None
        out = BrandTrends(self.settings, self.excluded[brand])
        for (_, _, index), (_, bucket) in held.items():
            mine = out.buckets.get(index)
            if mine is None:
                mine = out.buckets[index] = Bucket(self.settings)
            mine.merge(bucket)
            if out.first_bucket is None or index < out.first_bucket:
                out.first_bucket = index
        return out
