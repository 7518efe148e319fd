"""Seasonal baselines: what a brand's minute should hold at this time of day and week.

History is kept as totals per time-of-day slot (``slot_minutes`` long) for as many days as the
baselines look back, plus the last minutes themselves for the rolling windows. The expected
value of a slot is the median of the same slot on recent days, or, once weeks of history exist,
the median of the same slot of recent weeks scaled by the trend (how this day compares with the
same day a week earlier). Medians keep a past incident from becoming the new normal.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Final

import msgspec

from socialpulse.core.anomaly.counts import POSITIVE, WIDTH, scored, volume
from socialpulse.settings import AnomalySettings

MINUTES_PER_DAY: Final = 1440
# MAD × this estimates a normal standard deviation.
MAD_SCALE: Final = 1.4826
# Relative spread assumed while fewer than three days give a median absolute deviation.
EARLY_SPREAD: Final = 0.3
# The trend is the median of slot-over-week ratios, and never leaves these bounds.
TREND_BOUNDS: Final = (0.5, 2.0)
# A gap longer than this is a service outage, not a quiet brand: its slots stay unknown.
MAX_ZERO_FILL_MINUTES: Final = MINUTES_PER_DAY
# A past slot's value is the mean of it and this many neighbours on each side.
NEIGHBOUR_SLOTS: Final = 1


class BrandHistory(msgspec.Struct):
    """One brand's closed slots, its open slot and its last minutes; persisted as it is."""

    first_minute: int
    last_minute: int
    open_slot: int
    open_totals: list[int]
    # Closed slot index (minute // slot_minutes) -> totals over the slot's minutes.
    slots: dict[int, list[int]] = {}
    # The last minutes' totals, oldest first; as many as the longest window needs.
    recent: list[list[int]] = []


@dataclass(frozen=True, slots=True)
class Expectation:
    """Expected totals per minute during one slot, and the relative spread of each count."""

    per_minute: tuple[float, ...]
    spread: tuple[float, ...]
    mentions_spread: float
    positive_share: float | None


def new_history(minute: int, slot_minutes: int) -> BrandHistory:
    """An empty history whose first minute is ``minute``."""
    return BrandHistory(minute, minute - 1, minute // slot_minutes, [0] * WIDTH)


def retention_slots(s: AnomalySettings) -> int:
    """Closed slots kept: enough for the daily and weekly baselines and the week-ago trend."""
    per_day = MINUTES_PER_DAY // s.slot_minutes
    return max(s.baseline_days * per_day, (s.baseline_weeks * 7 + 1) * per_day) + 1


def observe(h: BrandHistory, minute: int, totals: list[int], s: AnomalySettings, keep: int) -> bool:
    """Add ``minute``'s totals; False (and nothing changes) for a minute already observed.

    Minutes skipped since the last one count as zeros up to a day; a longer gap leaves its
    slots unknown and empties the recent minutes.
    """
    if minute <= h.last_minute:
        return False
    gap = minute - h.last_minute - 1
    if gap > MAX_ZERO_FILL_MINUTES:
        _close(h, s)
        h.recent = []
        h.open_slot = minute // s.slot_minutes
        h.open_totals = [0] * WIDTH
    else:
        zeros = [0] * WIDTH
        for m in range(h.last_minute + 1, minute):
            _push(h, m, zeros, s, keep)
    _push(h, minute, totals, s, keep)
    h.last_minute = minute
    return True


def _push(h: BrandHistory, minute: int, totals: list[int], s: AnomalySettings, keep: int) -> None:
    slot = minute // s.slot_minutes
    if slot != h.open_slot:
        _close(h, s)
        h.open_slot = slot
        h.open_totals = [0] * WIDTH
    acc = h.open_totals
    for i, v in enumerate(totals):
        if v:
            acc[i] += v
    h.recent.append(totals)
    if len(h.recent) > keep:
        del h.recent[: len(h.recent) - keep]


def _close(h: BrandHistory, s: AnomalySettings) -> None:
    """Store the open slot if the history saw all of it; drop slots too old to matter."""
    start = h.open_slot * s.slot_minutes
    if start >= h.first_minute:
        h.slots[h.open_slot] = h.open_totals
    oldest = h.open_slot - retention_slots(s)
    for k in [k for k in h.slots if k < oldest]:
        del h.slots[k]


def history_minutes(h: BrandHistory) -> int:
    """Minutes observed since the history began."""
    return h.last_minute - h.first_minute + 1


def expectation(h: BrandHistory, slot: int, s: AnomalySettings) -> Expectation | None:
    """The baseline for ``slot``, or None while no earlier day has the same slot."""
    per_day = MINUTES_PER_DAY // s.slot_minutes
    week = 7 * per_day
    daily = [v for d in range(1, s.baseline_days + 1) if (v := _around(h, slot - d * per_day))]
    if not daily:
        return None
    weekly = [v for k in range(1, s.baseline_weeks + 1) if (v := _around(h, slot - k * week))]
    trend = _trend(h, slot, per_day, week) if weekly else 1.0
    per_minute: list[float] = []
    spread: list[float] = []
    for f in range(WIDTH):
        day_values = [v[f] for v in daily]
        day_median = statistics.median(day_values)
        expected = day_median
        if weekly:
            candidates = [v[f] * trend for v in weekly]
            if len(candidates) < 3:
                candidates.append(day_median)
            expected = statistics.median(candidates)
        per_minute.append(expected / s.slot_minutes)
        spread.append(_relative_spread(day_values, day_median, s.min_relative_spread))
    day_mentions = [volume(v) for v in daily]
    mentions_spread = _relative_spread(
        day_mentions, statistics.median(day_mentions), s.min_relative_spread
    )
    polar = scored(per_minute)
    positive_share = per_minute[POSITIVE] / polar if polar > 0 else None
    return Expectation(tuple(per_minute), tuple(spread), mentions_spread, positive_share)


def _around(h: BrandHistory, slot: int) -> list[float] | None:
    """A past slot's totals, averaged with its neighbours to halve their Poisson noise.

    None when the slot itself is unknown. Three slots (45 minutes at the default) blur the
    daily curve by far less than the noise they remove at a few mentions per slot.
    """
    centre = h.slots.get(slot)
    if centre is None:
        return None
    parts = [centre]
    for k in range(1, NEIGHBOUR_SLOTS + 1):
        parts += [v for v in (h.slots.get(slot - k), h.slots.get(slot + k)) if v is not None]
    n = len(parts)
    return [sum(col) / n for col in zip(*parts, strict=True)]


def _relative_spread(values: list[float], median: float, floor: float) -> float:
    """Day-to-day variation of a slot beyond its Poisson noise, relative to the median."""
    if median <= 0:
        return floor
    if len(values) < 3:
        return max(floor, EARLY_SPREAD)
    mad = MAD_SCALE * statistics.median(abs(v - median) for v in values)
    # A value is the mean of three slots: its Poisson variance is a third of its mean.
    excess = max(0.0, mad * mad - median / (2 * NEIGHBOUR_SLOTS + 1))
    return min(1.0, max(floor, math.sqrt(excess) / median))


def _trend(h: BrandHistory, slot: int, per_day: int, week: int) -> float:
    """Median ratio of the last day's slots to the same slots a week earlier, bounded."""
    ratios = []
    for j in range(1, per_day + 1):
        now, then = h.slots.get(slot - j), h.slots.get(slot - j - week)
        if now is None or then is None:
            continue
        a, b = volume(now), volume(then)
        if a > 0 and b > 0:
            ratios.append(a / b)
    if len(ratios) < per_day // 4:
        return 1.0
    low, high = TREND_BOUNDS
    return min(high, max(low, statistics.median(ratios)))
