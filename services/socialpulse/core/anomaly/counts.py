"""The detector's input: one brand's mention totals of one event-time minute, over all partitions.

A minute's totals are a vector of integers in a fixed layout (sentiment classes, the competitive
set's mentions, one slot per platform, unscored mentions), so the baseline can add, store and
compare them cheaply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import msgspec

from socialpulse.core.events import PLATFORMS
from socialpulse.core.windows.bucket import Bucket
from socialpulse.settings import BrandSettings

# Positions in a totals vector.
POSITIVE: Final = 0
NEUTRAL: Final = 1
NEGATIVE: Final = 2
VOICE_SET: Final = 3
PLATFORM_BASE: Final = 4
PLATFORM_INDEX: Final[Mapping[str, int]] = {p: PLATFORM_BASE + i for i, p in enumerate(PLATFORMS)}
# Mentions in a language no scorer covers: in the volume, in no share of sentiment.
UNSCORED: Final = PLATFORM_BASE + len(PLATFORMS)
WIDTH: Final = UNSCORED + 1


def scored(v: Sequence[float]) -> float:
    """Mentions of a totals vector that have a sentiment class: every share's denominator."""
    return v[POSITIVE] + v[NEUTRAL] + v[NEGATIVE]


def volume(v: Sequence[float]) -> float:
    """Every mention of a totals vector, unscored ones too."""
    return scored(v) + v[UNSCORED]


class MinuteCounts(msgspec.Struct, frozen=True, kw_only=True):
    """One brand's mentions in one minute, summed over every partition (the fleet-wide total).

    ``minute`` is the bucket index (event time in seconds // 60). Counts are ≥ 0; the platform
    counts add up to the mentions (each mention has one platform and one sentiment class);
    ``voice_set`` is the mentions of the brand's competitive set (itself included), 0 when the
    brand has no competitors configured.
    """

    brand: str
    minute: int
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    unscored: int = 0
    by_platform: dict[str, int] = {}
    voice_set: int = 0

    def __post_init__(self) -> None:
        """Reject counts no pipeline can produce, with the reason."""
        if min(self.positive, self.neutral, self.negative, self.unscored, self.voice_set) < 0:
            raise ValueError(f"{self.brand}@{self.minute}: counts must be ≥ 0")
        unknown = set(self.by_platform) - set(PLATFORM_INDEX)
        if unknown:
            raise ValueError(f"{self.brand}@{self.minute}: unknown platforms {sorted(unknown)}")
        if any(v < 0 for v in self.by_platform.values()):
            raise ValueError(f"{self.brand}@{self.minute}: platform counts must be ≥ 0")
        if sum(self.by_platform.values()) != self.mentions:
            raise ValueError(
                f"{self.brand}@{self.minute}: platform counts add up to "
                f"{sum(self.by_platform.values())}, not to the {self.mentions} mentions"
            )
        if self.voice_set and self.voice_set < self.mentions:
            raise ValueError(
                f"{self.brand}@{self.minute}: the competitive set ({self.voice_set}) has fewer "
                f"mentions than the brand ({self.mentions})"
            )

    @property
    def mentions(self) -> int:
        """Mentions of the brand (one sentiment class each, unscored included)."""
        return self.positive + self.neutral + self.negative + self.unscored

    def vector(self) -> list[int]:
        """The totals in the detector's fixed layout."""
        v = [0] * WIDTH
        v[POSITIVE] = self.positive
        v[NEUTRAL] = self.neutral
        v[NEGATIVE] = self.negative
        v[UNSCORED] = self.unscored
        v[VOICE_SET] = self.voice_set
        for platform, n in self.by_platform.items():
            v[PLATFORM_INDEX[platform]] = n
        return v


def minute_counts(
    minute: int, buckets: Mapping[str, Iterable[Bucket]], brands: Sequence[BrandSettings]
) -> dict[str, MinuteCounts]:
    """Every configured brand's totals of ``minute`` from its buckets of that minute.

    ``buckets`` maps a brand to its buckets of the minute from every partition (what
    ``WindowStore.buckets_at`` gives per partition); a brand without any gets zeros, which is
    what lets a silent source be seen. Share of voice counts mentions over the brand and its
    competitors, as the window store does.
    """
    own: dict[str, tuple[int, int, int, int, dict[str, int]]] = {}
    for b in brands:
        pos = neu = neg = unscored = 0
        platforms: dict[str, int] = {}
        for bucket in buckets.get(b.id, ()):
            pos += bucket.positive
            neu += bucket.neutral
            neg += bucket.negative
            unscored += bucket.unscored + bucket.filtered  # filtered: volume, no sentiment
            for platform, n in (bucket.mentions_by_platform or {}).items():
                platforms[platform] = platforms.get(platform, 0) + n
        own[b.id] = (pos, neu, neg, unscored, platforms)
    out: dict[str, MinuteCounts] = {}
    for b in brands:
        pos, neu, neg, unscored, platforms = own[b.id]
        voice_set = 0
        if b.competitors:
            voice_set = sum(sum(own[r][:4]) for r in (b.id, *b.competitors) if r in own)
        out[b.id] = MinuteCounts(
            brand=b.id,
            minute=minute,
            positive=pos,
            neutral=neu,
            negative=neg,
            unscored=unscored,
            by_platform=platforms,
            voice_set=voice_set,
        )
    return out
