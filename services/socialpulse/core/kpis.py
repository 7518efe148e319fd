"""KPI formulas: one brand's window counts in, ratios and the author influence score out.

Everything here is arithmetic on counts the window store gathered. A ratio whose denominator is
zero (or unknown) is ``None``, never NaN and never 0, so the exporter can leave it out.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, get_args

from socialpulse.core.catalogue import KPIS, RATIO_KINDS, Kpi
from socialpulse.core.events import ENGAGEMENT_TYPES, MentionKind

# Bases of share of voice: what the brand's part and its competitive set's total are counted in.
SOV_BASES: Final[tuple[str, ...]] = ("mentions", "reach", "engagement", "positive", "negative")
# Sentiment classes: the three a scorer gives, and `unscored` (no scorer for the language).
SCORED_SENTIMENTS: Final[tuple[str, ...]] = ("positive", "neutral", "negative")
SENTIMENTS: Final[tuple[str, ...]] = (*SCORED_SENTIMENTS, "unscored")
MENTION_KINDS: Final[tuple[str, ...]] = get_args(MentionKind)
# A video view is complete when at least this share of the video was watched.
VIDEO_COMPLETE_SHARE: Final = 0.95
# Survey ratings (1..5) that count as satisfied for CSAT.
SATISFIED_RATING: Final = 4


def ratio(numerator: float, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when the denominator is zero or unknown."""
    if not denominator:
        return None
    return numerator / denominator


def influence(followers: int, verified: bool, engagement_received: int) -> float:
    """Author influence 0..100: 60 from audience size, 10 from verification, 30 from engagement.

    ``100 × (0.6·min(1, log10(1+followers)/7) + 0.1·verified + 0.3·min(1, log10(1+eng)/4))``:
    10 M followers and 10 k engagements received each reach their part's maximum.
    """
    audience = min(1.0, math.log10(1 + followers) / 7)
    engaged = min(1.0, math.log10(1 + engagement_received) / 4)
    return 100 * (0.6 * audience + 0.1 * verified + 0.3 * engaged)


@dataclass(frozen=True, slots=True)
class AuthorKpis:
    """One mention author over one window, for the top-authors lists (JSON only, never labels)."""

    id: str
    handle: str
    followers: int
    verified: bool
    mentions: int
    engagement_received: int

    @property
    def influence(self) -> float:
        """The 0..100 influence score."""
        return influence(self.followers, self.verified, self.engagement_received)


@dataclass(frozen=True, slots=True)
class WindowKpis:
    """One brand's counts over one window; every ratio is derived from them as a property."""

    # Every catalogue measure that reads as one number over the window (counts, sums, distinct
    # counts, sketch estimates), by measure name.
    numbers: Mapping[str, int | float]
    mentions_by_platform: Mapping[str, int]  # platforms seen, sorted
    mentions_by_kind: Mapping[str, int]
    mentions_by_language: Mapping[str, int]  # language labels seen, sorted
    potential_reach: int
    unique_authors: int
    # Every interaction type, zeros included.
    interactions: Mapping[str, int]
    followers_at_window_start: int | None
    ugc_engagements: int
    dm_first_response_seconds: Sequence[float]
    customer_lifetime_windows: float
    # basis -> the brand's part, and the sum over its competitive set (itself and competitors).
    share_of_voice_base: Mapping[str, float]
    share_of_voice_set_base: Mapping[str, float]

    # -- measures summed over the window ----------------------------------------------------

    def _count(self, measure: str) -> int:
        return int(self.numbers[measure])

    def _total(self, measure: str) -> float:
        return float(self.numbers[measure])

    @property
    def tagged(self) -> int:
        """Mentions that tagged the brand."""
        return self._count("tagged")

    @property
    def positive(self) -> int:
        """Mentions classed positive."""
        return self._count("positive")

    @property
    def neutral(self) -> int:
        """Mentions classed neutral."""
        return self._count("neutral")

    @property
    def negative(self) -> int:
        """Mentions classed negative."""
        return self._count("negative")

    @property
    def unscored(self) -> int:
        """Mentions in a language no configured scorer covers."""
        return self._count("unscored")

    @property
    def compound_sum(self) -> float:
        """Sum of the scored mentions' compound scores."""
        return self._total("compound_sum")

    @property
    def owned_posts(self) -> int:
        """Posts by the brand's own accounts."""
        return self._count("owned_posts")

    @property
    def ugc_mentions(self) -> int:
        """User-generated-content mentions."""
        return self._count("ugc_mentions")

    @property
    def sessions(self) -> int:
        """Social-referred sessions."""
        return self._count("sessions")

    @property
    def sessions_bounced(self) -> int:
        """Social-referred sessions that bounced."""
        return self._count("sessions_bounced")

    @property
    def session_seconds_sum(self) -> float:
        """Seconds of social-referred sessions."""
        return self._total("session_seconds_sum")

    @property
    def video_views_completed(self) -> int:
        """Video views watched to at least 95 %."""
        return self._count("video_views_completed")

    @property
    def video_watch_seconds_sum(self) -> float:
        """Seconds of video watched."""
        return self._total("video_watch_seconds_sum")

    @property
    def survey_responses_satisfied(self) -> int:
        """Survey responses rated 4 or 5."""
        return self._count("survey_responses_satisfied")

    @property
    def purchase_value_sum(self) -> float:
        """Order value of the purchases."""
        return self._total("purchase_value_sum")

    @property
    def reach(self) -> int:
        """Distinct users with an impression (HyperLogLog estimate)."""
        return self._count("reach")

    @property
    def purchasing_customers(self) -> int:
        """Distinct customers who purchased."""
        return self._count("customers")

    @property
    def mentions_by_every_kind(self) -> dict[str, int]:
        """Mention kind -> mentions, every kind (zeros included)."""
        return {kind: self.mentions_by_kind.get(kind, 0) for kind in MENTION_KINDS}

    @property
    def mentions_by_sentiment(self) -> dict[str, int]:
        """Sentiment class -> mentions."""
        return {s: self._count(s) for s in SENTIMENTS}

    # -- counts derived from counts ---------------------------------------------------------

    @property
    def filtered(self) -> int:
        """Mentions the spam heuristics flagged: in every volume, in no sentiment figure."""
        return self._count("filtered")

    @property
    def mentions(self) -> int:
        """Mentions matching the brand: one sentiment class each (unscored too), or filtered."""
        return self.scored + self.unscored + self.filtered

    @property
    def scored(self) -> int:
        """Mentions a scorer covered: the denominator of every share of sentiment."""
        return self.positive + self.neutral + self.negative

    @property
    def untagged(self) -> int:
        """Mentions that did not tag the brand."""
        return self.mentions - self.tagged

    @property
    def impressions(self) -> int:
        """Impression interactions."""
        return self.interactions.get("impression", 0)

    @property
    def engagements(self) -> int:
        """Likes, comments, shares, saves and link clicks."""
        return sum(self.interactions.get(t, 0) for t in ENGAGEMENT_TYPES)

    def _n(self, kind: str) -> int:
        return self.interactions.get(kind, 0)

    # -- ratios: None when the denominator is zero or unknown -------------------------------

    @property
    def compound_mean(self) -> float | None:
        """Mean compound score of the scored mentions."""
        return ratio(self.compound_sum, self.scored)

    @property
    def engagement_rate(self) -> float | None:
        """Engagements ÷ reach."""
        return ratio(self.engagements, self.reach)

    @property
    def engagement_rate_by_impressions(self) -> float | None:
        """Engagements ÷ impressions."""
        return ratio(self.engagements, self.impressions)

    @property
    def comments_per_post(self) -> float | None:
        """Conversation rate: comments ÷ owned posts."""
        return ratio(self._n("comment"), self.owned_posts)

    @property
    def shares_per_post(self) -> float | None:
        """Amplification rate: shares ÷ owned posts."""
        return ratio(self._n("share"), self.owned_posts)

    @property
    def click_through(self) -> float | None:
        """Link clicks ÷ impressions."""
        return ratio(self._n("link_click"), self.impressions)

    @property
    def conversion(self) -> float | None:
        """Conversions ÷ link clicks."""
        return ratio(self._n("conversion"), self._n("link_click"))

    @property
    def bounce(self) -> float | None:
        """Bounced ÷ all social-referred sessions."""
        return ratio(self.sessions_bounced, self.sessions)

    @property
    def session_seconds_mean(self) -> float | None:
        """Mean length of social-referred sessions (time on site)."""
        return ratio(self.session_seconds_sum, self.sessions)

    @property
    def follower_growth(self) -> float | None:
        """(Follows − unfollows) ÷ followers at the window's start."""
        return ratio(self._n("follow") - self._n("unfollow"), self.followers_at_window_start)

    @property
    def net_sentiment(self) -> float | None:
        """(Positive − negative) ÷ (positive + negative), −1..1."""
        return ratio(self.positive - self.negative, self.positive + self.negative)

    @property
    def share_of_voice_by(self) -> dict[str, float | None]:
        """Basis -> the brand's part of its competitive set's total."""
        return {
            b: ratio(self.share_of_voice_base[b], self.share_of_voice_set_base[b])
            for b in SOV_BASES
        }

    @property
    def share_of_voice(self) -> float | None:
        """Share of voice on mentions, the classic one."""
        return ratio(self.share_of_voice_base["mentions"], self.share_of_voice_set_base["mentions"])

    @property
    def passion(self) -> float | None:
        """Mentions per unique author."""
        return ratio(self.mentions, self.unique_authors)

    @property
    def video_watch_seconds_mean(self) -> float | None:
        """Mean seconds watched per video view."""
        return ratio(self.video_watch_seconds_sum, self._n("video_view"))

    @property
    def video_completion(self) -> float | None:
        """Completed views (≥ 95 % watched) ÷ views."""
        return ratio(self.video_views_completed, self._n("video_view"))

    @property
    def csat(self) -> float | None:
        """Survey responses rated 4 or 5 ÷ all responses."""
        return ratio(self.survey_responses_satisfied, self._n("survey_response"))

    @property
    def customer_lifetime_value(self) -> float | None:
        """Mean order value × purchases per customer × expected lifetime in windows."""
        purchases = self._n("purchase")
        aov = ratio(self.purchase_value_sum, purchases)
        per_customer = ratio(purchases, self.purchasing_customers)
        if aov is None or per_customer is None:
            return None
        return aov * per_customer * self.customer_lifetime_windows

    @property
    def dm_first_response_seconds_median(self) -> float | None:
        """Median seconds from a direct message to the brand's first reply."""
        if not self.dm_first_response_seconds:
            return None
        return statistics.median(self.dm_first_response_seconds)


def kpi_value(k: WindowKpis, kpi: Kpi) -> Any:
    """One KPI of one window: a number (None when undefined), or label value -> number."""
    if kpi.measure is not None:
        return k.numbers[kpi.measure]
    assert kpi.attr is not None  # noqa: S101 - the catalogue's tests hold every KPI to one
    return getattr(k, kpi.attr)


def _reader(kpi: Kpi) -> Callable[[WindowKpis], Any]:
    return lambda k: kpi_value(k, kpi)


_PLAIN: Final = tuple(kpi for kpi in KPIS if kpi.label is None and kpi.kind != "level")

# Ratio KPIs with no extra label: metric name (0..1 or a unit in the name), JSON name, reader.
RATIOS: Final[tuple[tuple[str, str, Callable[[WindowKpis], float | None]], ...]] = tuple(
    (kpi.metric, kpi.json, _reader(kpi)) for kpi in _PLAIN if kpi.kind in RATIO_KINDS
)

# Plain counts per brand and window (no extra label): metric name, JSON name, reader.
COUNTS: Final[tuple[tuple[str, str, Callable[[WindowKpis], float]], ...]] = tuple(
    (kpi.metric, kpi.json, _reader(kpi)) for kpi in _PLAIN if kpi.kind not in RATIO_KINDS
)
