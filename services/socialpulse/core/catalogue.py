"""The KPI catalogue: every measure a bucket keeps and every KPI exported, each declared once.

Two levels. A *measure* is state kept per one-minute bucket and merged over a window; its kind
says how it is stored, what its zero is and how two of them merge (``windows.measures`` holds
that code per kind, ``Bucket`` declares one field per measure and a test holds them equal). A
*KPI* is what the exporter and the JSON API give per brand and window: its metric name, help,
unit, optional extra label, JSON name, how workers' values combine, and what it is read from.

Adding a KPI is one entry here, its update rule in ``windows.store`` (what each event adds to the
bucket), and, for a new measure, the ``Bucket`` field. The exporter, the JSON API and the
accumulator iterate these tables; tests check the README's KPI reference and the Prometheus
recording rules against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

# How a measure is stored per bucket and merged over a window (newest bucket first):
#   count         int, summed
#   total         float, summed
#   label_counts  label -> int, summed per label (also post id -> engagements)
#   distinct      exact set of ids, unioned; read as its size
#   hll           HyperLogLog sketch of ids (Apache DataSketches), unioned; read as its estimate
#   authors       author id -> tally (handle, largest followers, verified, mentions), merged
#   earliest      id -> event time, the earliest kept
#   series        list of (time, value) samples, concatenated
#   join_map      id -> id, kept per bucket only (the store indexes it; never merged)
#   join_set      set of ids, kept per bucket only (the store indexes it; never merged)
MeasureKind = Literal[
    "count",
    "total",
    "label_counts",
    "distinct",
    "hll",
    "authors",
    "earliest",
    "series",
    "join_map",
    "join_set",
]

# Measure kinds the window store reads per bucket (join indexes), never merged over a window.
BUCKET_ONLY_KINDS: Final[frozenset[str]] = frozenset({"join_map", "join_set"})


@dataclass(frozen=True, slots=True)
class Measure:
    """State one bucket keeps: a ``Bucket`` field of this name and kind."""

    name: str
    kind: MeasureKind
    doc: str


MEASURES: Final[tuple[Measure, ...]] = (
    Measure("mentions_by_platform", "label_counts", "matched mentions per platform"),
    Measure("mentions_by_kind", "label_counts", "matched mentions per kind"),
    Measure("tagged", "count", "mentions that tagged the brand"),
    Measure("positive", "count", "mentions classed positive"),
    Measure("neutral", "count", "mentions classed neutral"),
    Measure("negative", "count", "mentions classed negative"),
    Measure("unscored", "count", "mentions in a language no configured scorer covers"),
    Measure("filtered", "count", "mentions the spam heuristics flagged: volume, no sentiment"),
    Measure("compound_sum", "total", "sum of compound scores of the scored mentions"),
    Measure("mentions_by_language", "label_counts", "matched mentions per language label"),
    Measure("authors", "authors", "mention authors and what the bucket saw of each"),
    Measure("posts", "join_map", "mention event id -> author id (engagement received)"),
    Measure("ugc", "join_set", "event ids of user-generated-content mentions"),
    Measure("owned_posts", "count", "posts by the brand's own accounts"),
    Measure("ugc_mentions", "count", "user-generated-content mentions"),
    Measure("interactions", "label_counts", "interactions per type"),
    Measure("reach", "hll", "users with an impression"),
    Measure("post_engagements", "label_counts", "post id -> engagements on it"),
    Measure("sessions", "count", "social-referred sessions"),
    Measure("sessions_bounced", "count", "social-referred sessions that bounced"),
    Measure("session_seconds_sum", "total", "seconds of social-referred sessions"),
    Measure("video_views_completed", "count", "video views watched to 95 %"),
    Measure("video_watch_seconds_sum", "total", "seconds of video watched"),
    Measure("survey_responses_satisfied", "count", "survey responses rated 4 or 5"),
    Measure("purchase_value_sum", "total", "order value of purchases"),
    Measure("customers", "distinct", "customers who purchased"),
    Measure("dm_opened", "earliest", "direct message id -> when it was sent"),
    Measure("dm_replies", "earliest", "direct message id -> the brand's first reply"),
    Measure("snapshots", "series", "account snapshots: (event time, followers)"),
)

# What a KPI is: how it is computed from the window's measures.
#   count, sum      a count or sum over the window       distinct   an exact distinct count
#   estimate        a sketch's distinct-count estimate   level      a value at a point in time
#   ratio, mean     numerator ÷ denominator              median     a median of joined samples
#   scaled_ratio    numerator ÷ denominator × configuration (customer lifetime value)
KpiKind = Literal[
    "count", "sum", "distinct", "estimate", "level", "ratio", "mean", "median", "scaled_ratio"
]
# How the values of several workers (each owning some partitions) combine into the fleet's:
#   sum    add them (every author and user lives in one partition, so distinct counts add too)
#   max    the largest: a level, or a join every worker reads from the fleet-wide join view
#          (``core.joins``) and so exports the same way
#   ratio  sum the numerator and the denominator over workers, then divide
#   none   not combinable (a median); dashboards show it per worker
Merge = Literal["sum", "max", "ratio", "none"]
# Extra label of a KPI family (besides brand and window); every one has a bounded value set.
Label = Literal["platform", "kind", "sentiment", "language", "type", "basis"]

RATIO_KINDS: Final[frozenset[str]] = frozenset({"ratio", "mean", "median", "scaled_ratio"})


@dataclass(frozen=True, slots=True)
class Term:
    """One operand of a ratio: a KPI metric (at one label value, or summed over them), signed."""

    metric: str
    at: str | None = None  # a label value; None sums the family (or, in a labelled ratio, same)
    sign: int = 1


@dataclass(frozen=True, slots=True)
class Kpi:
    """One exported KPI family per brand and window."""

    metric: str
    json: str
    kind: KpiKind
    merge: Merge
    unit: str  # what one unit of the value is; "ratio" for 0..1 fractions (``_ratio`` metrics)
    help: str
    # What the value is read from: a measure that reads as one number over the window (a count,
    # a sum, a distinct count, a sketch's estimate), else a ``WindowKpis`` attribute (a mapping
    # label value -> value for a labelled KPI).
    measure: str | None = None
    attr: str | None = None
    label: Label | None = None
    numerator: tuple[Term, ...] = ()
    denominator: tuple[Term, ...] = ()
    # The recorded cross-worker series, where its name is not the regular one (``recorded``).
    recorded_as: str | None = None
    # JSON key of the sum over the label (only the per-platform mentions have one).
    json_total: str | None = None

    @property
    def percent(self) -> str | None:
        """JSON key of the value in percent: ``<json>_percent`` for 0..1 ratios."""
        return f"{self.json}_percent" if self.unit == "ratio" else None

    @property
    def exported(self) -> bool:
        """Whether ``/metrics`` exports it per worker (the JSON API gives every KPI).

        A ratio or mean of exported parts is not: the fleet's value is the parts summed over
        workers, then divided, so the recording rules compute it (``recorded``) and a worker's
        own would only cost scrape time (a sixth of the series at 1,000 brands). The customer
        lifetime value stays (the rules read the configured lifetime back from it), as do the
        median and every count, sum and level.
        """
        return not (self.merge == "ratio" and self.kind in ("ratio", "mean"))

    @property
    def recorded(self) -> str | None:
        """Name of the cross-worker series in deploy/prometheus/rules/recording.yml, if any.

        Sums and maxima keep the metric name (``brand_window:<metric>:sum``); a ratio records
        its stem with ``:ratio`` (``_ratio`` dropped) or ``:mean`` (``_mean`` dropped).
        """
        if self.recorded_as is not None:
            return self.recorded_as
        if self.merge in ("sum", "max"):
            return f"brand_window:{self.metric}:{self.merge}"
        if self.merge == "ratio":
            for suffix in ("ratio", "mean"):
                if self.metric.endswith(f"_{suffix}"):
                    return f"brand_window:{self.metric.removesuffix(f'_{suffix}')}:{suffix}"
            return f"brand_window:{self.metric}:ratio"
        return None


def _count(metric: str, measure: str, unit: str, help: str, kind: KpiKind = "count") -> Kpi:
    """A KPI that is a number measure's window total, exported under the metric's stem."""
    return Kpi(metric, metric.removeprefix("socialpulse_"), kind, "sum", unit, help, measure)


def _ratio(
    metric: str,
    json: str,
    attr: str,
    unit: str,
    help: str,
    numerator: tuple[Term, ...],
    denominator: tuple[Term, ...],
    kind: KpiKind = "ratio",
) -> Kpi:
    """A ratio KPI read from a ``WindowKpis`` property; absent when its denominator is 0."""
    return Kpi(
        metric,
        json,
        kind,
        "ratio",
        unit,
        f"{help} (absent when undefined)",
        attr=attr,
        numerator=numerator,
        denominator=denominator,
    )


_MENTIONS: Final = "socialpulse_mentions"
_INTERACTIONS: Final = "socialpulse_interactions"
_SENTIMENT: Final = "socialpulse_mentions_by_sentiment"


# Mentions a scorer covered: the denominator of every share of sentiment.
_SCORED: Final = tuple(Term(_SENTIMENT, c) for c in ("positive", "neutral", "negative"))


def _n(kind: str, sign: int = 1) -> Term:
    """Interactions of one type."""
    return Term(_INTERACTIONS, kind, sign)


KPIS: Final[tuple[Kpi, ...]] = (
    # -- labelled families ------------------------------------------------------------------
    Kpi(
        _MENTIONS,
        "mentions_by_platform",
        "count",
        "sum",
        "mentions",
        "Mentions of the brand in the window, by platform",
        attr="mentions_by_platform",
        label="platform",
        json_total="mentions",
    ),
    Kpi(
        "socialpulse_mentions_by_kind",
        "mentions_by_kind",
        "count",
        "sum",
        "mentions",
        "Mentions of the brand in the window, by kind",
        attr="mentions_by_every_kind",
        label="kind",
    ),
    Kpi(
        _SENTIMENT,
        "mentions_by_sentiment",
        "count",
        "sum",
        "mentions",
        "Mentions of the brand in the window, by sentiment class (unscored: in a language no "
        "configured scorer covers)",
        attr="mentions_by_sentiment",
        label="sentiment",
    ),
    Kpi(
        "socialpulse_mentions_by_language",
        "mentions_by_language",
        "count",
        "sum",
        "mentions",
        "Mentions of the brand in the window, by language: the configured languages, other "
        "and unknown",
        attr="mentions_by_language",
        label="language",
    ),
    Kpi(
        _INTERACTIONS,
        "interactions",
        "count",
        "sum",
        "interactions",
        "Interactions with the brand in the window, by type",
        attr="interactions",
        label="type",
    ),
    Kpi(
        "socialpulse_followers_at_window_start",
        "followers_at_window_start",
        "level",
        "max",
        "followers",
        "Brand followers at the window's start, from the latest account snapshot at or "
        "before it, else configuration (absent when unknown)",
        attr="followers_at_window_start",
    ),
    Kpi(
        "socialpulse_share_of_voice_base",
        "share_of_voice_base",
        "sum",
        "sum",
        "basis",
        "The brand's own part of share of voice, by basis",
        attr="share_of_voice_base",
        label="basis",
    ),
    Kpi(
        "socialpulse_share_of_voice_set_base",
        "share_of_voice_set_base",
        "sum",
        "sum",
        "basis",
        "Share-of-voice basis summed over the brand's competitive set (itself included)",
        attr="share_of_voice_set_base",
        label="basis",
    ),
    # -- counts and sums --------------------------------------------------------------------
    _count(
        "socialpulse_mentions_tagged",
        "tagged",
        "mentions",
        "Mentions in the window that tagged the brand",
    ),
    Kpi(
        "socialpulse_mentions_untagged",
        "mentions_untagged",
        "count",
        "sum",
        "mentions",
        "Mentions in the window that did not tag the brand",
        attr="untagged",
    ),
    _count(
        "socialpulse_sentiment_compound_sum",
        "compound_sum",
        "compound",
        "Sum of compound scores of the window's scored mentions (divide by the scored mentions "
        "for the mean)",
        "sum",
    ),
    Kpi(
        "socialpulse_potential_reach",
        "potential_reach",
        "sum",
        "sum",
        "followers",
        "Sum of follower counts of distinct mention authors in the window",
        attr="potential_reach",
    ),
    Kpi(
        "socialpulse_unique_authors",
        "unique_authors",
        "distinct",
        "sum",
        "authors",
        "Distinct mention authors in the window",
        attr="unique_authors",
    ),
    Kpi(
        "socialpulse_reach",
        "reach",
        "estimate",
        "sum",
        "users",
        "Distinct users with an impression in the window (HyperLogLog estimate, RSE 0.81 %)",
        measure="reach",
    ),
    _count(
        "socialpulse_owned_posts",
        "owned_posts",
        "posts",
        "Posts by the brand's own accounts in the window",
    ),
    Kpi(
        "socialpulse_impressions",
        "impressions",
        "count",
        "sum",
        "impressions",
        "Impressions of owned content in the window",
        attr="impressions",
    ),
    Kpi(
        "socialpulse_engagements",
        "engagements",
        "count",
        "sum",
        "interactions",
        "Likes, comments, shares, saves and link clicks on owned content in the window",
        attr="engagements",
    ),
    _count(
        "socialpulse_sessions",
        "sessions",
        "sessions",
        "Site or app sessions referred from social in the window",
    ),
    _count(
        "socialpulse_sessions_bounced",
        "sessions_bounced",
        "sessions",
        "Social-referred sessions that bounced",
    ),
    _count(
        "socialpulse_session_seconds_sum",
        "session_seconds_sum",
        "seconds",
        "Total length of social-referred sessions",
        "sum",
    ),
    _count(
        "socialpulse_video_views_completed",
        "video_views_completed",
        "views",
        "Video views that watched at least 95 % of the video",
    ),
    _count(
        "socialpulse_video_watch_seconds_sum",
        "video_watch_seconds_sum",
        "seconds",
        "Seconds of video watched in the window",
        "sum",
    ),
    _count(
        "socialpulse_survey_responses_satisfied",
        "survey_responses_satisfied",
        "responses",
        "Survey responses rated 4 or 5 of 5",
    ),
    _count(
        "socialpulse_purchase_value_sum",
        "purchase_value_sum",
        "currency",
        "Total order value of purchases in the window",
        "sum",
    ),
    Kpi(
        "socialpulse_purchasing_customers",
        "purchasing_customers",
        "distinct",
        "sum",
        "customers",
        "Distinct customers who purchased in the window",
        measure="customers",
    ),
    _count(
        "socialpulse_ugc_mentions",
        "ugc_mentions",
        "mentions",
        "User-generated content: mentions with media, not by the brand",
    ),
    Kpi(
        "socialpulse_ugc_engagements",
        "ugc_engagements",
        "count",
        "max",
        "interactions",
        "Engagement interactions on user-generated-content mentions",
        attr="ugc_engagements",
    ),
    # -- ratios -----------------------------------------------------------------------------
    _ratio(
        "socialpulse_sentiment_compound_mean",
        "sentiment_compound_mean",
        "compound_mean",
        "compound",
        "Mean compound score of the window's scored mentions",
        (Term("socialpulse_sentiment_compound_sum"),),
        _SCORED,
        "mean",
    ),
    _ratio(
        "socialpulse_engagement_rate_ratio",
        "engagement_rate",
        "engagement_rate",
        "ratio",
        "Engagements over reach, 0..1 and above",
        (Term("socialpulse_engagements"),),
        (Term("socialpulse_reach"),),
    ),
    _ratio(
        "socialpulse_engagement_rate_by_impressions_ratio",
        "engagement_rate_by_impressions",
        "engagement_rate_by_impressions",
        "ratio",
        "Engagements over impressions",
        (Term("socialpulse_engagements"),),
        (Term("socialpulse_impressions"),),
    ),
    _ratio(
        "socialpulse_conversation_comments_per_post",
        "conversation_comments_per_post",
        "comments_per_post",
        "comments",
        "Comments per owned post (conversation rate)",
        (_n("comment"),),
        (Term("socialpulse_owned_posts"),),
    ),
    _ratio(
        "socialpulse_amplification_shares_per_post",
        "amplification_shares_per_post",
        "shares_per_post",
        "shares",
        "Shares per owned post (amplification rate)",
        (_n("share"),),
        (Term("socialpulse_owned_posts"),),
    ),
    _ratio(
        "socialpulse_click_through_ratio",
        "click_through_rate",
        "click_through",
        "ratio",
        "Link clicks over impressions, 0..1",
        (_n("link_click"),),
        (Term("socialpulse_impressions"),),
    ),
    _ratio(
        "socialpulse_conversion_ratio",
        "conversion_rate",
        "conversion",
        "ratio",
        "Conversions over link clicks",
        (_n("conversion"),),
        (_n("link_click"),),
    ),
    _ratio(
        "socialpulse_bounce_ratio",
        "bounce_rate",
        "bounce",
        "ratio",
        "Bounced over social-referred sessions, 0..1",
        (Term("socialpulse_sessions_bounced"),),
        (Term("socialpulse_sessions"),),
    ),
    _ratio(
        "socialpulse_session_seconds_mean",
        "session_seconds_mean",
        "session_seconds_mean",
        "seconds",
        "Mean social-referred session length (time on site)",
        (Term("socialpulse_session_seconds_sum"),),
        (Term("socialpulse_sessions"),),
        "mean",
    ),
    _ratio(
        "socialpulse_follower_growth_ratio",
        "follower_growth_rate",
        "follower_growth",
        "ratio",
        "(Follows - unfollows) over followers at window start",
        (_n("follow"), _n("unfollow", -1)),
        (Term("socialpulse_followers_at_window_start"),),
    ),
    _ratio(
        "socialpulse_net_sentiment_ratio",
        "net_sentiment",
        "net_sentiment",
        "ratio",
        "(Positive - negative) over (positive + negative), -1..1",
        (Term(_SENTIMENT, "positive"), Term(_SENTIMENT, "negative", -1)),
        (Term(_SENTIMENT, "positive"), Term(_SENTIMENT, "negative")),
    ),
    Kpi(
        "socialpulse_share_of_voice_ratio",
        "share_of_voice",
        "ratio",
        "ratio",
        "ratio",
        "Brand part over its competitive set's total, 0..1, by basis (absent when the total is 0)",
        attr="share_of_voice_by",
        label="basis",
        numerator=(Term("socialpulse_share_of_voice_base"),),
        denominator=(Term("socialpulse_share_of_voice_set_base"),),
    ),
    _ratio(
        "socialpulse_passion_mentions_per_author",
        "passion_mentions_per_author",
        "passion",
        "mentions",
        "Mentions per unique author (passion)",
        (Term(_MENTIONS),),
        (Term("socialpulse_unique_authors"),),
    ),
    _ratio(
        "socialpulse_video_watch_seconds_mean",
        "video_watch_seconds_mean",
        "video_watch_seconds_mean",
        "seconds",
        "Mean seconds watched per video view",
        (Term("socialpulse_video_watch_seconds_sum"),),
        (_n("video_view"),),
        "mean",
    ),
    _ratio(
        "socialpulse_video_completion_ratio",
        "video_completion_rate",
        "video_completion",
        "ratio",
        "Video views watched to at least 95 % over views, 0..1",
        (Term("socialpulse_video_views_completed"),),
        (_n("video_view"),),
    ),
    _ratio(
        "socialpulse_csat_ratio",
        "csat",
        "csat",
        "ratio",
        "Survey responses rated 4-5 over all responses, 0..1 (CSAT)",
        (Term("socialpulse_survey_responses_satisfied"),),
        (_n("survey_response"),),
    ),
    Kpi(
        "socialpulse_customer_lifetime_value",
        "customer_lifetime_value",
        "scaled_ratio",
        "ratio",
        "currency",
        "Mean order value x purchases per customer x expected lifetime in windows "
        "(absent when undefined)",
        attr="customer_lifetime_value",
        numerator=(Term("socialpulse_purchase_value_sum"),),
        denominator=(Term("socialpulse_purchasing_customers"),),
        recorded_as="brand_window:socialpulse_customer_lifetime_value:estimate",
    ),
    Kpi(
        "socialpulse_dm_first_response_seconds_median",
        "dm_first_response_seconds_median",
        "median",
        "max",
        "seconds",
        "Median seconds from a direct message to the brand's first reply (absent when undefined)",
        attr="dm_first_response_seconds_median",
    ),
)

# The KPI families ``/metrics`` exports per worker, in catalogue order (``Kpi.exported``).
EXPORTED_KPIS: Final[tuple[Kpi, ...]] = tuple(k for k in KPIS if k.exported)
