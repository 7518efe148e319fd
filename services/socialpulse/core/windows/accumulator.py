"""Accumulation: buckets summed over a window, and the summed counts frozen into KPIs."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from datasketches import hll_union, tgt_hll_type

from socialpulse.core.events import ENGAGEMENT_TYPES, INTERACTION_TYPES
from socialpulse.core.kpis import WindowKpis
from socialpulse.core.windows.bucket import REACH_LG_K, AuthorTally, Bucket
from socialpulse.core.windows.timeline import bucket_of


class Accumulator:
    """Sums buckets (or other accumulators) newest to oldest, so nested windows take one pass.

    Its fields carry the names of ``Bucket``'s, so a bucket and an accumulator merge alike: an
    hour of buckets is summed once into an accumulator and cached until one of them changes.
    """

    def __init__(self) -> None:
        self.mentions_by_platform: dict[str, int] = {}
        self.mentions_by_kind: dict[str, int] = {}
        self.tagged = self.positive = self.neutral = self.negative = 0
        self.compound_sum = 0.0
        self.authors: dict[str, AuthorTally] = {}
        self.reach = hll_union(REACH_LG_K)
        self.owned_posts = self.ugc_mentions = 0
        self.interactions: dict[str, int] = {}
        self.post_engagements: dict[str, int] = {}
        self.sessions = self.sessions_bounced = 0
        self.session_seconds_sum = 0.0
        self.video_views_completed = 0
        self.video_watch_seconds_sum = 0.0
        self.survey_responses_satisfied = 0
        self.purchase_value_sum = 0.0
        self.customers: set[str] = set()
        self.dm_opened: dict[str, float] = {}
        self.dm_replies: dict[str, float] = {}
        self.snapshots: list[tuple[float, int]] = []

    def add(self, b: Bucket | Accumulator) -> None:
        """Merge a bucket or another accumulator into this one (newer before older)."""
        add_counts(self.mentions_by_platform, b.mentions_by_platform)
        add_counts(self.mentions_by_kind, b.mentions_by_kind)
        self.tagged += b.tagged
        self.positive += b.positive
        self.neutral += b.neutral
        self.negative += b.negative
        self.compound_sum += b.compound_sum
        authors = self.authors
        for author, t in b.authors.items():
            seen = authors.get(author)
            if seen is None:  # newest first: its handle is the current one
                authors[author] = AuthorTally(t.handle, t.followers, t.verified, t.mentions)
            else:
                seen.followers = max(seen.followers, t.followers)
                seen.verified = seen.verified or t.verified
                seen.mentions += t.mentions
        if isinstance(b, Accumulator):
            self.reach.update(b.reach.get_result(tgt_hll_type.HLL_8))
        elif b.reach is not None:
            self.reach.update(b.reach)
        self.owned_posts += b.owned_posts
        self.ugc_mentions += b.ugc_mentions
        add_counts(self.interactions, b.interactions)
        add_counts(self.post_engagements, b.post_engagements)
        self.sessions += b.sessions
        self.sessions_bounced += b.sessions_bounced
        self.session_seconds_sum += b.session_seconds_sum
        self.video_views_completed += b.video_views_completed
        self.video_watch_seconds_sum += b.video_watch_seconds_sum
        self.survey_responses_satisfied += b.survey_responses_satisfied
        self.purchase_value_sum += b.purchase_value_sum
        self.customers |= b.customers
        keep_min(self.dm_opened, b.dm_opened)
        keep_min(self.dm_replies, b.dm_replies)
        self.snapshots.extend(b.snapshots)

    def engagement(
        self, lookup: Callable[[str], tuple[str, bool] | None]
    ) -> tuple[dict[str, int], int]:
        """Engagement received per mention author, and engagement on UGC mentions."""
        per_author: dict[str, int] = {}
        ugc = 0
        for post, n in self.post_engagements.items():
            found = lookup(post)
            if found is None:
                continue
            author, is_ugc = found
            per_author[author] = per_author.get(author, 0) + n
            if is_ugc:
                ugc += n
        return per_author, ugc

    def responses(self) -> list[tuple[int, float]]:
        """(bucket of the first reply, seconds from the message to it) of each answered DM."""
        opened = self.dm_opened
        return [
            (bucket_of(at), max(0.0, at - opened[dm]))
            for dm, at in self.dm_replies.items()
            if dm in opened
        ]

    def followers_at(self, ts: float) -> int | None:
        """Followers in the latest snapshot at or before ``ts`` (ties: the larger count)."""
        before = [s for s in self.snapshots if s[0] <= ts]
        return max(before)[1] if before else None

    def freeze(self, ugc_engagements: int, lifetime_windows: float) -> WindowKpis:
        """The counts as they are now; DM times and followers are filled in by the caller."""
        reach = round(float(self.reach.get_estimate()))
        interactions = dict.fromkeys(INTERACTION_TYPES, 0)
        add_counts(interactions, self.interactions)
        engagements = sum(interactions[t] for t in ENGAGEMENT_TYPES)
        potential_reach = sum(t.followers for t in self.authors.values())
        mentions = self.positive + self.neutral + self.negative
        base = {
            "mentions": float(mentions),
            "reach": float(potential_reach),
            "engagement": float(engagements),
            "positive": float(self.positive),
            "negative": float(self.negative),
        }
        return WindowKpis(
            mentions_by_platform=dict(self.mentions_by_platform),
            mentions_by_kind=dict(self.mentions_by_kind),
            tagged=self.tagged,
            positive=self.positive,
            neutral=self.neutral,
            negative=self.negative,
            compound_sum=self.compound_sum,
            potential_reach=potential_reach,
            unique_authors=len(self.authors),
            reach=reach,
            owned_posts=self.owned_posts,
            interactions=interactions,
            sessions=self.sessions,
            sessions_bounced=self.sessions_bounced,
            session_seconds_sum=self.session_seconds_sum,
            video_views_completed=self.video_views_completed,
            video_watch_seconds_sum=self.video_watch_seconds_sum,
            followers_at_window_start=None,
            survey_responses_satisfied=self.survey_responses_satisfied,
            purchase_value_sum=self.purchase_value_sum,
            purchasing_customers=len(self.customers),
            ugc_mentions=self.ugc_mentions,
            ugc_engagements=ugc_engagements,
            dm_first_response_seconds=(),
            customer_lifetime_windows=lifetime_windows,
            share_of_voice_base=base,
            share_of_voice_set_base=base,  # replaced once every brand is known
        )


def add_counts(into: dict[str, int], counts: Mapping[str, int]) -> None:
    """Add per-key counts into ``into``."""
    for k, n in counts.items():
        into[k] = into.get(k, 0) + n


def keep_min(into: dict[str, float], times: Mapping[str, float]) -> None:
    """Keep the earliest time per key."""
    for k, t in times.items():
        if t < into.get(k, t + 1):
            into[k] = t
