"""The signals' rules: a window's totals against their expectation give a score and a verdict.

Every score is in robust standard deviations and signed so that positive points the way that
alerts (negative share up, net sentiment down, volume up, a source falling silent). Counts
combine Poisson noise with the day-to-day spread of the baseline, so a brand with two mentions
a minute needs far more than a doubling of its noise to alert; shares combine the binomial
spread of the window with a floor. Each rule also asks for a minimum volume and a minimum lift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from socialpulse.settings import AnomalySettings

# Scores are clamped to this magnitude: a brand's first mentions against an expected zero
# would otherwise be "infinitely" anomalous.
SCORE_LIMIT: Final = 100.0


@dataclass(frozen=True, slots=True)
class Reading:
    """One signal at one minute: observed and expected value, the noise band, score, verdict."""

    observed: float
    expected: float
    lower: float
    upper: float
    score: float
    breach: bool


def _clamp(score: float) -> float:
    return max(-SCORE_LIMIT, min(SCORE_LIMIT, score))


def volume_spike(
    observed: int,
    expected: float,
    spread: float,
    s: AnomalySettings,
    *,
    positive_share: float | None,
    expected_positive_share: float | None,
) -> Reading:
    """Mentions (of the brand, or on one platform) far above the seasonal expectation.

    A surge markedly more positive than usual (a launch) does not breach unless
    ``alert_on_positive_surge`` is set.
    """
    sd = math.sqrt(max(expected, 1.0) + (spread * expected) ** 2)
    score = _clamp((observed - expected) / sd)
    breach = score >= s.threshold and volume_may_breach(observed, expected, s)
    if breach and not s.alert_on_positive_surge and positive_share is not None:
        baseline = expected_positive_share if expected_positive_share is not None else 0.0
        breach = positive_share < baseline + s.positive_surge_margin
    band = s.threshold * sd
    return Reading(observed, expected, max(0.0, expected - band), expected + band, score, breach)


def volume_may_breach(observed: int, expected: float, s: AnomalySettings) -> bool:
    """False only when ``volume_spike`` cannot breach: its volume and lift guards fail."""
    return observed >= s.min_volume and observed >= expected * (1 + s.min_volume_lift)


def _probability(x: float) -> float:
    return min(max(x, 0.0), 1.0)


def _net(x: float) -> float:
    return min(max(x, -1.0), 1.0)


def _risen(share: float, p: float, s: AnomalySettings) -> bool:
    return share >= p * (1 + s.min_share_lift) and share - p >= s.min_share_delta


def negative_share_may_breach(
    negative: int, mentions: int, expected_share: float, s: AnomalySettings
) -> bool:
    """False only when ``negative_share_rise`` cannot breach: its floor or guards fail."""
    return mentions >= s.min_sentiment_mentions and _risen(
        negative / mentions, _probability(expected_share), s
    )


def net_sentiment_may_breach(
    positive: int, negative: int, expected_net: float, s: AnomalySettings
) -> bool:
    """False only when ``net_sentiment_drop`` cannot breach: its floor or its drop fail."""
    polar = positive + negative
    return (
        polar >= s.min_sentiment_mentions
        and _net(expected_net) - (positive - negative) / polar >= s.min_net_sentiment_drop
    )


def voice_may_breach(
    mentions: int, voice_set: int, expected_share: float, s: AnomalySettings
) -> bool:
    """False only when ``voice_shift`` cannot breach: its floor or its delta fail."""
    return (
        voice_set >= s.min_sentiment_mentions
        and abs(mentions / voice_set - _probability(expected_share)) >= s.min_share_delta
    )


def negative_share_rise(
    negative: int, mentions: int, expected_share: float, s: AnomalySettings
) -> Reading | None:
    """The share of negative mentions far above its usual value; None below the volume floor."""
    if mentions < s.min_sentiment_mentions:
        return None
    p = _probability(expected_share)
    sd = math.sqrt(p * (1 - p) / mentions + s.min_ratio_spread**2)
    share = negative / mentions
    score = _clamp((share - p) / sd)
    breach = score >= s.threshold and _risen(share, p, s)
    band = s.threshold * sd
    return Reading(share, p, max(0.0, p - band), min(1.0, p + band), score, breach)


def net_sentiment_drop(
    positive: int, negative: int, expected_net: float, s: AnomalySettings
) -> Reading | None:
    """(positive − negative) ÷ (positive + negative) far below usual; None below the floor."""
    polar = positive + negative
    if polar < s.min_sentiment_mentions:
        return None
    e = _net(expected_net)
    sd = math.sqrt((1 - e * e) / polar + s.min_ratio_spread**2)
    net = (positive - negative) / polar
    score = _clamp((e - net) / sd)
    breach = score >= s.threshold and e - net >= s.min_net_sentiment_drop
    band = s.threshold * sd
    return Reading(net, e, max(-1.0, e - band), min(1.0, e + band), score, breach)


def voice_shift(
    mentions: int, voice_set: int, expected_share: float, s: AnomalySettings
) -> Reading | None:
    """The brand's share of its competitive set's mentions moved the configured way."""
    if voice_set < s.min_sentiment_mentions:
        return None
    p = _probability(expected_share)
    sd = math.sqrt(p * (1 - p) / voice_set + s.min_ratio_spread**2)
    share = mentions / voice_set
    deviation = (share - p) / sd
    direction = s.share_of_voice_direction
    score = _clamp(
        -deviation if direction == "down" else deviation if direction == "up" else abs(deviation)
    )
    breach = score >= s.threshold and abs(share - p) >= s.min_share_delta
    band = s.threshold * sd
    return Reading(share, p, max(0.0, p - band), min(1.0, p + band), score, breach)


def source_silent(observed: int, expected: float, s: AnomalySettings) -> Reading:
    """A platform that should have delivered ``expected`` mentions delivered (almost) none.

    The caller picks the stretch so that ``expected`` ≥ ``silent_min_expected``: at 30 expected,
    Poisson noise gives three or fewer about once in ten billion stretches.
    """
    sd = math.sqrt(max(expected, 1.0))
    score = _clamp((expected - observed) / sd)
    breach = silent_may_breach(observed, expected, s)
    lower = max(0.0, expected - s.threshold * sd)
    return Reading(observed, expected, lower, expected + s.threshold * sd, score, breach)


def silent_limit(expected: float, s: AnomalySettings) -> float:
    """The most a stretch expected to hold ``expected`` mentions may hold and be silent."""
    return s.silent_max_fraction * expected


def silent_may_breach(observed: int, expected: float, s: AnomalySettings) -> bool:
    """``source_silent``'s verdict alone: False when it cannot breach."""
    return observed <= silent_limit(expected, s)
