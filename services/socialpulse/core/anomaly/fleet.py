"""Fleet-wide minutes for the detector: partition contributions summed once every partition closed.

Each worker reports, per input partition it owns, that partition's per-brand totals of a closed
minute (a ``Contribution``) and how far the partition has closed (its watermark). Keyed by
(partition, minute), a contribution sent again (a replay, a rebalance, a restart) replaces the
one before instead of adding to it, so the sum over every partition is the fleet's total
whatever the number of workers. A minute is complete when every partition's watermark has
passed it; only then is it summed, and the competitive set is counted over brand sums, as
``minute_counts`` does. Pure: no Kafka, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import msgspec

from socialpulse.core.anomaly.counts import MinuteCounts
from socialpulse.core.windows.bucket import Bucket
from socialpulse.core.windows.timeline import Source
from socialpulse.settings import BrandSettings


class BrandMinute(msgspec.Struct, frozen=True, array_like=True):
    """One brand's mentions of one partition in one minute."""

    positive: int = 0
    neutral: int = 0
    negative: int = 0
    by_platform: dict[str, int] = {}


class Contribution(msgspec.Struct, frozen=True):
    """What one input partition held of one closed minute, per brand (brands with mentions)."""

    topic: str
    partition: int
    minute: int
    brands: dict[str, BrandMinute] = {}


def contribution(source: Source, minute: int, buckets: Mapping[str, Bucket]) -> Contribution:
    """The contribution of ``source`` from its buckets of ``minute`` (``store.buckets_at``)."""
    return Contribution(
        source[0],
        source[1],
        minute,
        {
            brand: BrandMinute(
                b.positive, b.neutral, b.negative, dict(b.mentions_by_platform or {})
            )
            for brand, b in sorted(buckets.items())
            if b.positive or b.neutral or b.negative
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

    def complete(self) -> list[list[MinuteCounts]]:
        """Every minute that every partition has closed and that was not emitted, in order.

        The first call starts at the oldest minute any contribution holds; a minute in between
        that no partition contributed to is all zeros (brands without mentions).
        """
        if len(self._watermarks) < len(self._sources):
            return []
        done = min(self._watermarks.values())
        if self._next is None:
            if not self._parts:
                return []
            self._next = min(self._parts)
        out = []
        while self._next <= done:
            out.append(self._sum(self._next, self._parts.pop(self._next, {}).values()))
            self._next += 1
        return out

    def _sum(self, minute: int, parts: Iterable[Contribution]) -> list[MinuteCounts]:
        totals: dict[str, list[int]] = {b.id: [0, 0, 0] for b in self._brands}
        platforms: dict[str, dict[str, int]] = {b.id: {} for b in self._brands}
        for c in sorted(parts, key=lambda c: (c.topic, c.partition)):
            for brand, m in c.brands.items():
                if brand not in totals:
                    continue  # a brand no longer configured
                t = totals[brand]
                t[0] += m.positive
                t[1] += m.neutral
                t[2] += m.negative
                per = platforms[brand]
                for p, n in m.by_platform.items():
                    per[p] = per.get(p, 0) + n
        out = []
        for b in self._brands:
            pos, neu, neg = totals[b.id]
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
                    by_platform={p: n for p, n in platforms[b.id].items() if n},
                    voice_set=voice_set,
                )
            )
        return out
