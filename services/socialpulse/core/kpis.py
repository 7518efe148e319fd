"""KPI formulas: one brand's window counts in, ratios and the author influence score out.

Everything here is arithmetic on counts the window store gathered. A ratio whose denominator is
zero (or unknown) is ``None``, never NaN and never 0, so the exporter can leave it out.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, get_args

from socialpulse.core.events import ENGAGEMENT_TYPES, MentionKind

# Bases of share of voice: what the brand's part and its competitive set's total are counted in.
SOV_BASES: Final[tuple[str, ...]] = ("mentions", "reach", "engagement", "positive", "negative")
SENTIMENTS: Final[tuple[str, ...]] = ("positive", "neutral", "negative")
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

    mentions_by_platform: Mapping[str, int]
    mentions_by_kind: Mapping[str, int]
    tagged: int
    positive: int
    neutral: int
    negative: int
    compound_sum: float
    potential_reach: int
    unique_authors: int
    reach: int
    owned_posts: int
    # Every interaction type, zeros included.
    interactions: Mapping[str, int]
    sessions: int
    sessions_bounced: int
    session_seconds_sum: float
    video_views_completed: int
    video_watch_seconds_sum: float
    followers_at_window_start: int | None
    survey_responses_satisfied: int
    purchase_value_sum: float
    purchasing_customers: int
    ugc_mentions: int
    ugc_engagements: int
    dm_first_response_seconds: Sequence[float]
    customer_lifetime_windows: float
    # basis -> the brand's part, and the sum over its competitive set (itself and competitors).
    share_of_voice_base: Mapping[str, float]
    share_of_voice_set_base: Mapping[str, float]

    # -- counts derived from counts ---------------------------------------------------------

    @property
    def mentions(self) -> int:
        """Mentions matching the brand (each has exactly one sentiment class)."""
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
        """Mean VADER compound score of the mentions."""
        return ratio(self.compound_sum, self.mentions)

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


# Ratio KPIs: metric name (0..1 or a unit in the name), JSON name, and how to read it. The JSON
# API also gives ``_percent`` for the ``_ratio`` ones. Shared by the exporter and the API.
RATIOS: Final[tuple[tuple[str, str, Callable[[WindowKpis], float | None]], ...]] = (
    ("socialpulse_sentiment_compound_mean", "sentiment_compound_mean", lambda k: k.compound_mean),
    ("socialpulse_engagement_rate_ratio", "engagement_rate", lambda k: k.engagement_rate),
    (
        "socialpulse_engagement_rate_by_impressions_ratio",
        "engagement_rate_by_impressions",
        lambda k: k.engagement_rate_by_impressions,
    ),
    (
        "socialpulse_conversation_comments_per_post",
        "conversation_comments_per_post",
        lambda k: k.comments_per_post,
    ),
    (
        "socialpulse_amplification_shares_per_post",
        "amplification_shares_per_post",
        lambda k: k.shares_per_post,
    ),
    ("socialpulse_click_through_ratio", "click_through_rate", lambda k: k.click_through),
    ("socialpulse_conversion_ratio", "conversion_rate", lambda k: k.conversion),
    ("socialpulse_bounce_ratio", "bounce_rate", lambda k: k.bounce),
    ("socialpulse_session_seconds_mean", "session_seconds_mean", lambda k: k.session_seconds_mean),
    ("socialpulse_follower_growth_ratio", "follower_growth_rate", lambda k: k.follower_growth),
    ("socialpulse_net_sentiment_ratio", "net_sentiment", lambda k: k.net_sentiment),
    (
        "socialpulse_passion_mentions_per_author",
        "passion_mentions_per_author",
        lambda k: k.passion,
    ),
    (
        "socialpulse_video_watch_seconds_mean",
        "video_watch_seconds_mean",
        lambda k: k.video_watch_seconds_mean,
    ),
    ("socialpulse_video_completion_ratio", "video_completion_rate", lambda k: k.video_completion),
    ("socialpulse_csat_ratio", "csat", lambda k: k.csat),
    (
        "socialpulse_customer_lifetime_value",
        "customer_lifetime_value",
        lambda k: k.customer_lifetime_value,
    ),
    (
        "socialpulse_dm_first_response_seconds_median",
        "dm_first_response_seconds_median",
        lambda k: k.dm_first_response_seconds_median,
    ),
)

# Plain counts per brand and window (no extra label): metric name, JSON name, reader.
COUNTS: Final[tuple[tuple[str, str, Callable[[WindowKpis], float]], ...]] = (
    ("socialpulse_mentions_tagged", "mentions_tagged", lambda k: k.tagged),
    ("socialpulse_mentions_untagged", "mentions_untagged", lambda k: k.untagged),
    ("socialpulse_sentiment_compound_sum", "sentiment_compound_sum", lambda k: k.compound_sum),
    ("socialpulse_potential_reach", "potential_reach", lambda k: k.potential_reach),
    ("socialpulse_unique_authors", "unique_authors", lambda k: k.unique_authors),
    ("socialpulse_reach", "reach", lambda k: k.reach),
    ("socialpulse_owned_posts", "owned_posts", lambda k: k.owned_posts),
    ("socialpulse_impressions", "impressions", lambda k: k.impressions),
    ("socialpulse_engagements", "engagements", lambda k: k.engagements),
    ("socialpulse_sessions", "sessions", lambda k: k.sessions),
    ("socialpulse_sessions_bounced", "sessions_bounced", lambda k: k.sessions_bounced),
    ("socialpulse_session_seconds_sum", "session_seconds_sum", lambda k: k.session_seconds_sum),
    (
        "socialpulse_video_views_completed",
        "video_views_completed",
        lambda k: k.video_views_completed,
    ),
    (
        "socialpulse_video_watch_seconds_sum",
        "video_watch_seconds_sum",
        lambda k: k.video_watch_seconds_sum,
    ),
    (
        "socialpulse_survey_responses_satisfied",
        "survey_responses_satisfied",
        lambda k: k.survey_responses_satisfied,
    ),
    ("socialpulse_purchase_value_sum", "purchase_value_sum", lambda k: k.purchase_value_sum),
    (
        "socialpulse_purchasing_customers",
        "purchasing_customers",
        lambda k: k.purchasing_customers,
    ),
    ("socialpulse_ugc_mentions", "ugc_mentions", lambda k: k.ugc_mentions),
    ("socialpulse_ugc_engagements", "ugc_engagements", lambda k: k.ugc_engagements),
)
