"""aggregate: rolling event-time windows of brand KPIs in one-minute buckets per source partition.

State is keyed by the Kafka partition the events came from, so a worker can drop exactly what a
rebalance takes away and export only what it owns. Time is always an argument, never read here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from socialpulse.events import ENGAGEMENT_TYPES, Interaction, Mention
from socialpulse.sentiment import Sentiment
from socialpulse.settings import BrandSettings

BUCKET_SECONDS: Final = 60

# (topic, partition) the events of a piece of state were read from.
Source = tuple[str, int]


def bucket_of(ts: float) -> int:
    """Index of the one-minute bucket holding event time ``ts`` (seconds since the epoch)."""
    return int(ts // BUCKET_SECONDS)


def first_bucket(now: float, length_seconds: int) -> int:
    """Oldest bucket inside a window of ``length_seconds`` that ends in the bucket holding ``now``.

    Buckets newer than ``now`` (events from clocks up to the allowed skew ahead) are inside too.
    """
    return bucket_of(now) - length_seconds // BUCKET_SECONDS + 1


@dataclass(slots=True)
class Bucket:
    """Everything one brand gathered from one partition in one minute."""

    mentions_by_platform: dict[str, int] = field(default_factory=dict)
    tagged: int = 0
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    compound_sum: float = 0.0
    # author id -> largest follower count seen; an author counts once per window.
    authors: dict[str, int] = field(default_factory=dict)
    impressions: int = 0
    engagements: int = 0


@dataclass(frozen=True, slots=True)
class WindowKpis:
    """One brand's KPIs over one window; ratios are None when their denominator is zero."""

    mentions: int
    mentions_by_platform: Mapping[str, int]
    tagged: int
    positive: int
    neutral: int
    negative: int
    compound_sum: float
    compound_mean: float | None
    potential_reach: int
    unique_authors: int
    impressions: int
    engagements: int
    share_of_voice: float | None


class _Accumulator:
    """Sums buckets newest to oldest so nested windows are read in one pass."""

    __slots__ = (
        "by_platform",
        "tagged",
        "positive",
        "neutral",
        "negative",
        "compound_sum",
        "authors",
        "impressions",
        "engagements",
    )

    def __init__(self) -> None:
        self.by_platform: dict[str, int] = {}
        self.tagged = self.positive = self.neutral = self.negative = 0
        self.compound_sum = 0.0
        self.authors: dict[str, int] = {}
        self.impressions = self.engagements = 0

    def add(self, b: Bucket) -> None:
        for platform, n in b.mentions_by_platform.items():
            self.by_platform[platform] = self.by_platform.get(platform, 0) + n
        self.tagged += b.tagged
        self.positive += b.positive
        self.neutral += b.neutral
        self.negative += b.negative
        self.compound_sum += b.compound_sum
        authors = self.authors
        for author, followers in b.authors.items():
            if authors.get(author, -1) < followers:
                authors[author] = followers
        self.impressions += b.impressions
        self.engagements += b.engagements

    def freeze(self) -> WindowKpis:
        mentions = self.positive + self.neutral + self.negative
        return WindowKpis(
            mentions=mentions,
            mentions_by_platform=dict(self.by_platform),
            tagged=self.tagged,
            positive=self.positive,
            neutral=self.neutral,
            negative=self.negative,
            compound_sum=self.compound_sum,
            compound_mean=self.compound_sum / mentions if mentions else None,
            potential_reach=sum(self.authors.values()),
            unique_authors=len(self.authors),
            impressions=self.impressions,
            engagements=self.engagements,
            share_of_voice=None,
        )


class WindowStore:
    """Rolling-window state for every tracked brand, partitioned by event source."""

    def __init__(self, brands: Sequence[BrandSettings], windows: Mapping[str, int]) -> None:
        self._brands = {b.id: b for b in brands}
        self._windows = dict(sorted(windows.items(), key=lambda kv: kv[1]))
        self._horizon = max(self._windows.values())
        self._state: dict[Source, dict[str, dict[int, Bucket]]] = {}

    @property
    def horizon_seconds(self) -> int:
        """Length of the longest window: older buckets are expired."""
        return self._horizon

    def _bucket(self, source: Source, brand: str, ts: float) -> Bucket:
        per_brand = self._state.setdefault(source, {}).setdefault(brand, {})
        idx = bucket_of(ts)
        b = per_brand.get(idx)
        if b is None:
            b = per_brand[idx] = Bucket()
        return b

    def add_mention(
        self, source: Source, brand: str, mention: Mention, sentiment: Sentiment, tagged: bool
    ) -> None:
        """Fold one matched mention into its brand's bucket."""
        b = self._bucket(source, brand, mention.created_at.timestamp())
        b.mentions_by_platform[mention.platform] = (
            b.mentions_by_platform.get(mention.platform, 0) + 1
        )
        if tagged:
            b.tagged += 1
        label = sentiment.label
        if label == "positive":
            b.positive += 1
        elif label == "negative":
            b.negative += 1
        else:
            b.neutral += 1
        b.compound_sum += sentiment.compound
        author = mention.author
        if b.authors.get(author.id, -1) < author.followers:
            b.authors[author.id] = author.followers

    def add_interaction(self, source: Source, interaction: Interaction) -> bool:
        """Fold one interaction into its brand's bucket; False when the brand is not tracked."""
        if interaction.brand not in self._brands:
            return False
        b = self._bucket(source, interaction.brand, interaction.created_at.timestamp())
        kind = interaction.type
        if kind == "impression":
            b.impressions += 1
        elif kind in ENGAGEMENT_TYPES:
            b.engagements += 1
        return True

    def sources(self) -> set[Source]:
        """The partitions this store holds state for."""
        return set(self._state)

    def drop(self, sources: Iterable[Source]) -> None:
        """Forget the state of partitions this worker no longer owns."""
        for s in sources:
            self._state.pop(s, None)

    def expire(self, now: float) -> int:
        """Delete buckets that have left the longest window; returns how many went."""
        oldest = first_bucket(now, self._horizon)
        removed = 0
        for per_brand in self._state.values():
            for buckets in per_brand.values():
                stale = [idx for idx in buckets if idx < oldest]
                for idx in stale:
                    del buckets[idx]
                removed += len(stale)
        return removed

    def bucket_count(self) -> int:
        """Live buckets held, a measure of state size."""
        return sum(len(b) for per_brand in self._state.values() for b in per_brand.values())

    def snapshot(self, now: float) -> dict[str, dict[str, WindowKpis]]:
        """KPIs of every brand over every window ending at ``now`` (brand -> window -> KPIs)."""
        starts = {label: first_bucket(now, length) for label, length in self._windows.items()}
        result: dict[str, dict[str, WindowKpis]] = {}
        for brand in self._brands:
            merged: dict[int, list[Bucket]] = {}
            for per_brand in self._state.values():
                for idx, b in per_brand.get(brand, {}).items():
                    merged.setdefault(idx, []).append(b)
            acc = _Accumulator()
            order = sorted(merged, reverse=True)
            pos = 0
            per_window: dict[str, WindowKpis] = {}
            for label, start in starts.items():  # shortest window first
                while pos < len(order) and order[pos] >= start:
                    for b in merged[order[pos]]:
                        acc.add(b)
                    pos += 1
                per_window[label] = acc.freeze()
            result[brand] = per_window
        return _with_share_of_voice(result, self._brands)


def _with_share_of_voice(
    kpis: dict[str, dict[str, WindowKpis]], brands: Mapping[str, BrandSettings]
) -> dict[str, dict[str, WindowKpis]]:
    """Brand mentions over the mentions of its whole competitive set (itself and competitors)."""
    out: dict[str, dict[str, WindowKpis]] = {}
    for brand, per_window in kpis.items():
        rivals = brands[brand].competitors
        out[brand] = {}
        for label, k in per_window.items():
            total = k.mentions + sum(kpis[r][label].mentions for r in rivals)
            sov = k.mentions / total if total else None
            out[brand][label] = replace(k, share_of_voice=sov)
    return out
