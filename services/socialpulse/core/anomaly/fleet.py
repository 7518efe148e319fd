"""Fleet-wide minutes for the detector: partition contributions summed once every partition closed.

Each worker reports, per input partition it owns, that partition's per-brand totals of a minute
(a ``Contribution``) and how far the partition has closed (a ``Watermark``). Keyed by
(partition, minute), a contribution sent again (a replay, a rebalance, a restart) replaces the
one before instead of adding to it, so the sum over every partition is the fleet's total
whatever the number of workers. A minute is complete when every partition's watermark has
passed it; a partition the caller calls silent (nothing heard from it for a while: an owner
down, a partition held) is left out of that test rather than holding every minute back. Only
then is it summed, and the competitive set is counted over brand sums, as ``minute_counts``
does. With the watermark that closes a minute go the partition's sample posts of it
(``Samples``), the alert evidence no count carries. Pure: no Kafka, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Literal, get_args

import msgspec

from socialpulse.core.alerts.event import SamplePost
from socialpulse.core.anomaly.counts import PLATFORM_INDEX, MinuteCounts
from socialpulse.core.windows.bucket import Bucket
from socialpulse.core.windows.timeline import Source
from socialpulse.settings import BrandSettings


class BrandMinute(msgspec.Struct, frozen=True, array_like=True):
    """One brand's mentions of one partition in one minute."""

    positive: int = 0
    neutral: int = 0
    negative: int = 0
    by_platform: dict[str, int] = {}
    unscored: int = 0


class Contribution(msgspec.Struct, frozen=True, tag="c"):
    """What one input partition held of one minute, per brand (brands with mentions)."""

    topic: str
    partition: int
    minute: int
    brands: dict[str, BrandMinute] = {}


class Watermark(msgspec.Struct, frozen=True, tag="w"):
    """Partition ``(topic, partition)`` has reported every minute up to ``minute``."""

    topic: str
    partition: int
    minute: int


class Samples(msgspec.Struct, frozen=True, tag="s"):
    """Sample posts of one input partition's closed minute, per brand: alert evidence.

    Sent once, with the watermark that closes the minute, and deleted (a tombstone under its
    key) once older than any alert window, so the compacted topic keeps no texts for long.
    """

    topic: str
    partition: int
    minute: int
    brands: dict[str, tuple[SamplePost, ...]] = {}


MinuteRecord = Contribution | Watermark | Samples
_DECODER: Final = msgspec.msgpack.Decoder(MinuteRecord)
# Why a record of the minutes topic was skipped: a bounded set, fit for a Prometheus label.
MinuteReject = Literal["undecodable", "invalid", "unknown_partition"]
MINUTE_REJECTS: Final[tuple[MinuteReject, ...]] = get_args(MinuteReject)


def record_key(r: MinuteRecord) -> bytes:
    """The compaction key: one per partition and minute, one watermark per partition."""
    if isinstance(r, Contribution):
        return f"c\x1f{r.topic}\x1f{r.partition}\x1f{r.minute}".encode()
    if isinstance(r, Samples):
        return samples_key((r.topic, r.partition), r.minute)
    return f"w\x1f{r.topic}\x1f{r.partition}".encode()


def samples_key(source: Source, minute: int) -> bytes:
    """The key of a partition-minute's ``Samples`` (its tombstone's too)."""
    return f"s\x1f{source[0]}\x1f{source[1]}\x1f{minute}".encode()


def encode_record(r: MinuteRecord) -> bytes:
    """The msgpack bytes of a contribution or a watermark."""
    return msgspec.msgpack.encode(r)


def decode_record(data: bytes) -> MinuteRecord:
    """A record back from ``encode_record``; ``msgspec.DecodeError`` for anything else.

    ``msgspec.ValidationError`` (a ``DecodeError``) for a well-formed record no worker writes:
    a negative count or partition, an unknown platform, platform counts that do not add up
    to the mentions. Summed into a minute, such a record would fail the detector's input.
    """
    r = _DECODER.decode(data)
    if r.partition < 0:
        raise msgspec.ValidationError(f"partition {r.partition} is negative")
    if isinstance(r, Contribution):
        for brand, m in r.brands.items():
            _check(brand, m)
    return r


def _check(brand: str, m: BrandMinute) -> None:
    counts = (m.positive, m.neutral, m.negative, m.unscored)
    if min(counts) < 0 or any(n < 0 for n in m.by_platform.values()):
        raise msgspec.ValidationError(f"{brand}: counts must be ≥ 0")
    unknown = set(m.by_platform) - set(PLATFORM_INDEX)
    if unknown:
        raise msgspec.ValidationError(f"{brand}: unknown platforms {sorted(unknown)}")
    if sum(m.by_platform.values()) != sum(counts):
        raise msgspec.ValidationError(
            f"{brand}: platform counts add up to {sum(m.by_platform.values())}, "
            f"not to the {sum(counts)} mentions"
        )


def closed_minute(
    now: float, caught_up: bool, newest_event: float | None, grace: float
) -> int | None:
    """The last minute a partition can call closed, or None while nothing says so.

    Caught up (nothing left to read), a minute is closed ``grace`` seconds after it ended by
    the clock. Behind (a backlog, a backfill), event time is the clock: a minute is closed
    once an event ``grace`` seconds past its end has been read.
    """
    t = now if caught_up else newest_event
    if t is None:
        return None
    return math.floor((t - grace) / 60) - 1


def contribution(source: Source, minute: int, buckets: Mapping[str, Bucket]) -> Contribution:
    """The contribution of ``source`` from its buckets of ``minute`` (``store.buckets_at``)."""
    return Contribution(
        source[0],
        source[1],
        minute,
        {
            # A mention the signals stage filtered is unscored here: it counts in the volume
            # (and in its platform's count, as in the mentions KPI), never in a sentiment class.
            brand: BrandMinute(
                b.positive,
                b.neutral,
                b.negative,
                dict(b.mentions_by_platform or {}),
                b.unscored + b.filtered,
            )
            for brand, b in sorted(buckets.items())
            if b.positive or b.neutral or b.negative or b.unscored or b.filtered
        },
    )


class MinuteAssembler:
    """Collects contributions of every input partition and yields each complete minute once."""

    def __init__(self, sources: Iterable[Source], brands: Sequence[BrandSettings]) -> None:
        self._sources = frozenset(sources)
        if not self._sources:
            raise ValueError("at least one input partition is required")
        self._brands = tuple(brands)
        self._parts: dict[int, dict[Source, Contribution]] = {}
        self._watermarks: dict[Source, int] = {}
        self._next: int | None = None  # the first minute not yet emitted
        self.incomplete = 0  # minutes emitted without a silent partition's report

    @property
    def sources(self) -> frozenset[Source]:
        """The input partitions whose contributions make a minute."""
        return self._sources

    def feed(self, r: MinuteRecord) -> None:
        """``add`` a contribution or ``close`` to a watermark (samples are not counts)."""
        if isinstance(r, Contribution):
            self.add(r)
        elif isinstance(r, Watermark):
            self.close((r.topic, r.partition), r.minute)

    def add(self, c: Contribution) -> None:
        """Record (or replace) one partition's contribution; a minute already emitted is ignored."""
        source = (c.topic, c.partition)
        if source not in self._sources:
            raise ValueError(f"{source} is not one of the input partitions")
        if self._next is not None and c.minute < self._next:
            return
        self._parts.setdefault(c.minute, {})[source] = c

    def close(self, source: Source, minute: int) -> None:
        """``source`` has reported every minute up to and including ``minute``."""
        if source not in self._sources:
            raise ValueError(f"{source} is not one of the input partitions")
        self._watermarks[source] = max(minute, self._watermarks.get(source, minute))

    def complete(self, silent: Iterable[Source] = ()) -> list[list[MinuteCounts]]:
        """Every minute every partition has closed and that was not emitted, in order.

        ``silent`` partitions do not hold minutes back: a minute the others have closed is
        emitted without them (counted in ``incomplete``), and what they send for it later is
        ignored. The first call starts at the oldest minute any contribution holds; a minute
        in between that no partition contributed to is all zeros (brands without mentions).
        """
        waiting = self._sources - set(silent)
        if not waiting or not all(s in self._watermarks for s in waiting):
            return []
        done = min(self._watermarks[s] for s in waiting)
        every = (
            min(self._watermarks.values()) if len(self._watermarks) == len(self._sources) else None
        )
        if self._next is None:
            if not self._parts:
                return []
            self._next = min(self._parts)
        out = []
        while self._next <= done:
            if every is None or self._next > every:
                self.incomplete += 1
            out.append(self._sum(self._next, self._parts.pop(self._next, {}).values()))
            self._next += 1
        return out

    def _sum(self, minute: int, parts: Iterable[Contribution]) -> list[MinuteCounts]:
        totals: dict[str, list[int]] = {b.id: [0, 0, 0, 0] for b in self._brands}
        platforms: dict[str, dict[str, int]] = {b.id: {} for b in self._brands}
        for c in sorted(parts, key=lambda c: (c.topic, c.partition)):
            for brand, m in c.brands.items():
                if brand not in totals:
                    continue  # a brand no longer configured
                t = totals[brand]
                t[0] += m.positive
                t[1] += m.neutral
                t[2] += m.negative
                t[3] += m.unscored
                per = platforms[brand]
                for p, n in m.by_platform.items():
                    per[p] = per.get(p, 0) + n
        out = []
        for b in self._brands:
            pos, neu, neg, unscored = totals[b.id]
            voice_set = 0
            if b.competitors:
                voice_set = sum(sum(totals[r]) for r in (b.id, *b.competitors) if r in totals)
            out.append(
                MinuteCounts(
                    brand=b.id,
                    minute=minute,
                    positive=pos,
                    neutral=neu,
                    negative=neg,
                    unscored=unscored,
                    by_platform={p: n for p, n in platforms[b.id].items() if n},
                    voice_set=voice_set,
                )
            )
        return out
