"""Spam, bots and copy-paste campaigns: a verdict per mention from documented heuristics.

Reasons (a bounded set, fit for a Prometheus label):

- ``bot_rate``: the account posted ``bot_rate_posts`` times within ``bot_rate_seconds``.
- ``new_account_burst``: an unverified account with at most ``new_account_max_followers``
  followers (the events carry no account age, so few followers stand for new) posted
  ``new_account_burst_posts`` times within ``bot_rate_seconds``.
- ``exact_repost``: another account posted the same normalised text within the window.
- ``near_duplicate``: the post joins a cluster of at least ``near_duplicate_min_posts``
  near-identical posts (MinHash similarity ≥ ``near_duplicate_similarity``) in the window.
- ``campaign``: that cluster holds ``campaign_min_posts`` posts from ``campaign_min_accounts``
  accounts: a copy-paste campaign, also listed by ``campaigns``.

Texts shorter than ``min_text_chars`` once normalised are judged by their account alone.
Verdicts are given as mentions arrive, in event time: the first posts of a cluster are clean
until the cluster is big enough. Time is the mentions' ``created_at``; nothing reads a clock.
"""

from __future__ import annotations

import heapq
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from typing import Final, Literal, get_args

import msgspec

from socialpulse.core.events import Mention
from socialpulse.core.neardup import Fingerprint, MinHasher, NearDuplicateIndex
from socialpulse.settings import SpamSettings

SpamReason = Literal["bot_rate", "new_account_burst", "exact_repost", "near_duplicate", "campaign"]
SPAM_REASONS: Final[tuple[str, ...]] = get_args(SpamReason)
# Accounts remembered per cluster: enough to tell a campaign; beyond it only a count grows.
_CLUSTER_ACCOUNTS_CAP: Final = 10_000
# The cluster of a text too short to compare.
NO_CLUSTER: Final = -1
_GENUINE: Final[frozenset[SpamReason]] = frozenset()


class Verdict(msgspec.Struct, frozen=True, gc=False):
    """What the heuristics say of one mention; ``reasons`` is empty for a genuine post.

    A struct, not a frozen dataclass: one is made per mention, at a seventh of the cost.
    """

    reasons: frozenset[SpamReason]
    cluster: int

    @property
    def flagged(self) -> bool:
        """True when any heuristic fired."""
        return bool(self.reasons)

    @property
    def primary(self) -> SpamReason | None:
        """The one reason a filtered-mentions counter would carry: the first in ``SPAM_REASONS``."""
        for reason in SPAM_REASONS:
            if reason in self.reasons:
                return reason
        return None


class Cluster(msgspec.Struct, gc=False, array_like=True):
    """Near-identical posts of the window: the copy-paste campaign candidate.

    Most clusters of a window hold one post, so the set of further accounts is made with the
    second one; and no cluster is tracked by the cycle collector (it holds no cycles): tens of
    thousands of tracked objects in the window made every full collection of the process
    slower, measured at more than the detectors' own cost. Encoded as an array in the state
    topic (``SpamState``).
    """

    id: int
    text: str
    first_seen: float
    last_seen: float
    author: str  # the account of the first post
    posts: int = 0
    live: int = 0
    others: set[str] | None = None  # the other accounts seen, up to the cap

    @property
    def account_count(self) -> int:
        """Distinct accounts seen (exact up to the cap)."""
        return 1 + len(self.others) if self.others else 1

    def add_account(self, account: str) -> None:
        """Remember that ``account`` posted in the cluster."""
        if account == self.author:
            return
        if self.others is None:
            self.others = {account}
        elif len(self.others) < _CLUSTER_ACCOUNTS_CAP:
            self.others.add(account)


class SpamState(msgspec.Struct, array_like=True):
    """Everything a detector remembers, for the state topic: restoring it resumes exactly.

    Orders are kept (accounts least recent first, posts oldest first) because eviction
    follows them; the fingerprint cache is left out, being only a cache. The detector's own
    dicts and clusters are handed over as they are, not copied: a snapshot is taken, encoded
    and done with before the detector sees another mention.
    """

    authors: list[tuple[str, list[float]]]
    # Band keys: a tuple when taken, a list when read back (the same msgpack array).
    posts: list[tuple[float, int, bytes, Sequence[int]]]
    post_cluster: dict[int, int]
    clusters: list[Cluster]
    texts: dict[str, tuple[int, str]]
    next_post: int
    now: float


class SpamDetector:
    """Classifies mentions one by one; all state is bounded by the settings."""

    def __init__(self, settings: SpamSettings, hasher: MinHasher | None = None) -> None:
        """``hasher`` may be shared by detectors of several partitions: it is pure (one seed)."""
        self.settings = settings
        self.hasher = hasher or MinHasher(
            settings.shingle_chars, settings.minhash_bands, settings.minhash_rows
        )
        self.index = NearDuplicateIndex(
            settings.window_seconds, settings.max_posts, native=self.hasher.native
        )
        # Account -> its posting times within the rate span, oldest first, at most
        # ``_rate_posts``: an array of doubles (about 110 bytes; a deque was about 760, and
        # ``max_authors`` of them are held per partition).
        self._authors: OrderedDict[str, array[float]] = OrderedDict()
        self._rate_posts = max(settings.bot_rate_posts, settings.new_account_burst_posts)
        self._post_cluster: dict[int, int] = {}
        self._clusters: dict[int, Cluster] = {}
        # The clusters of ``near_duplicate_min_posts`` posts or more, kept as they reach it:
        # ``near_duplicates`` is asked at every scrape, and the window holds mostly one-post
        # clusters (a scan of them all was a tenth of the signals stage through the broker).
        self._large: dict[int, Cluster] = {}
        self._texts: dict[str, tuple[int, str]] = {}  # normalised text -> (cluster, first author)
        self._next = 0
        self._now = float("-inf")
        # The settings ``judge`` reads for every mention, as a plain tuple: a pydantic
        # model's attribute costs four times a tuple item's.
        self._limits = (
            settings.max_posts,
            settings.max_authors,
            settings.bot_rate_seconds,
            settings.bot_rate_posts,
            settings.new_account_burst_posts,
            settings.new_account_max_followers,
            settings.min_text_chars,
            settings.near_duplicate_similarity,
            settings.near_duplicate_min_posts,
            settings.campaign_min_posts,
        )

    @property
    def now(self) -> float:
        """The latest event time classified (-inf before the first)."""
        return self._now

    def classify(self, mention: Mention) -> Verdict:
        """The verdict on ``mention``, remembering it for those that follow."""
        fp = self.hasher.fingerprint(mention.text)
        return self.judge(mention, fp, mention.created_at.timestamp())

    def classify_batch(self, mentions: Sequence[Mention]) -> list[Verdict]:
        """The verdicts on ``mentions`` in order, as ``classify`` one by one would give them.

        Their texts are fingerprinted in one numpy pass: a poll batch costs a few µs a text.
        """
        fps = self.hasher.fingerprints([m.text for m in mentions])
        return [
            self.judge(m, fp, m.created_at.timestamp()) for m, fp in zip(mentions, fps, strict=True)
        ]

    def judge(self, mention: Mention, fp: Fingerprint, ts: float) -> Verdict:
        """``classify`` given the text's fingerprint and the mention's time (its timestamp)."""
        # Runs for every matched mention: settings and methods are read into locals, and a
        # genuine verdict shares one empty set of reasons.
        (
            max_posts,
            max_authors,
            rate_seconds,
            bot_posts,
            burst_posts,
            new_followers,
            min_chars,
            similar,
            near_posts,
            campaign_posts,
        ) = self._limits
        index = self.index
        if ts > self._now:
            self._now = ts
            # What ``_expire`` would do: forget posts out of the window, compact the texts.
            if index.oldest <= ts - index.window or len(self._texts) > 2 * max_posts:
                self._expire(ts)
        reasons: list[SpamReason] = []
        author = mention.author
        account = author.id
        # What ``_posting_times`` does, inline: this runs for every matched mention.
        authors = self._authors
        times = authors.get(account)
        if times is None:
            times = authors[account] = array("d")
            if len(authors) > max_authors:
                authors.popitem(last=False)
        else:
            authors.move_to_end(account)
        times.append(ts)
        if len(times) > self._rate_posts:
            del times[0]
        cutoff = ts - rate_seconds
        while times and times[0] <= cutoff:
            del times[0]
        recent = len(times)
        if recent >= bot_posts:
            reasons.append("bot_rate")
        if recent >= burst_posts and not author.verified and author.followers <= new_followers:
            reasons.append("new_account_burst")
        text = fp.text
        if len(text) < min_chars:
            return Verdict(frozenset(reasons) if reasons else _GENUINE, NO_CLUSTER)
        post = self._next
        self._next = post + 1
        clusters = self._clusters
        exact = self._texts.get(text)
        cluster: Cluster | None = clusters.get(exact[0]) if exact is not None else None
        reposted = False
        if cluster is not None:
            reposted = exact is not None and exact[1] != account
        else:
            near = index.nearest(fp, similar)
            cluster_id = self._post_cluster.get(near[0]) if near is not None else None
            cluster = clusters.get(cluster_id) if cluster_id is not None else None
            if cluster is None:
                cluster = clusters[post] = Cluster(post, text, ts, ts, account)
            self._texts[text] = (cluster.id, account)
        held = index.add(post, ts, fp)
        self._post_cluster[post] = cluster.id
        cluster.live += 1  # before any eviction, so the post's own cluster outlives it
        if held > max_posts:
            self._expire(self._now)
        cluster.posts += 1
        if cluster.posts == near_posts:
            self._large[cluster.id] = cluster
        if ts > cluster.last_seen:
            cluster.last_seen = ts
        if account != cluster.author:  # ``Cluster.add_account``, inline
            others = cluster.others
            if others is None:
                cluster.others = {account}
            elif len(others) < _CLUSTER_ACCOUNTS_CAP:
                others.add(account)
        if reposted:
            reasons.append("exact_repost")
        elif cluster.posts >= near_posts and (exact is None or exact[1] == account):
            reasons.append("near_duplicate")
        if cluster.posts >= campaign_posts and self._is_campaign(cluster):
            reasons.append("campaign")
        return Verdict(frozenset(reasons) if reasons else _GENUINE, cluster.id)

    def _is_campaign(self, c: Cluster) -> bool:
        s = self.settings
        return c.posts >= s.campaign_min_posts and c.account_count >= s.campaign_min_accounts

    def campaigns(self) -> list[Cluster]:
        """The copy-paste campaigns of the window, largest first."""
        found = [c for c in self._clusters.values() if self._is_campaign(c)]
        return sorted(found, key=lambda c: (-c.posts, c.id))

    def near_duplicates(self, limit: int) -> list[Cluster]:
        """The ``limit`` largest clusters of ``near_duplicate_min_posts`` posts or more.

        Campaign candidates: each may be a partition's share of a campaign posted over many,
        below the thresholds here and above them fleet-wide (``core.campaigns``).
        """
        return heapq.nsmallest(limit, self._large.values(), key=lambda c: (-c.posts, c.id))

    def has_cluster(self, cluster: int) -> bool:
        """Whether the cluster ``cluster`` still has a post in the window."""
        return cluster in self._clusters

    def _posting_times(self, author: str, ts: float) -> array[float]:
        """The author's posting times within the rate span, ``ts`` included."""
        s = self.settings
        authors = self._authors
        times = authors.get(author)
        if times is None:
            times = authors[author] = array("d")
            if len(authors) > s.max_authors:
                authors.popitem(last=False)
        else:
            authors.move_to_end(author)
        times.append(ts)
        if len(times) > self._rate_posts:
            del times[0]
        cutoff = ts - s.bot_rate_seconds
        while times and times[0] <= cutoff:
            del times[0]
        return times

    def _expire(self, now: float) -> None:
        for post in self.index.expire(now):
            cluster_id = self._post_cluster.pop(post, None)
            cluster = self._clusters.get(cluster_id) if cluster_id is not None else None
            if cluster is None:
                continue
            cluster.live -= 1
            if cluster.live <= 0:
                del self._clusters[cluster.id]
                self._large.pop(cluster.id, None)
                if self._texts.get(cluster.text, (None,))[0] == cluster.id:
                    del self._texts[cluster.text]
        # Texts of clusters gone leave with them; the rest stay while their cluster lives.
        if len(self._texts) > 2 * self.settings.max_posts:
            self._texts = {t: v for t, v in self._texts.items() if v[0] in self._clusters}

    def state(self) -> SpamState:
        """The detector's memory as plain data (``restore`` takes it back); encode it at once."""
        return SpamState(
            authors=[(a, list(times)) for a, times in self._authors.items()],
            posts=list(self.index.entries()),
            post_cluster=self._post_cluster,
            clusters=list(self._clusters.values()),
            texts=self._texts,
            next_post=self._next,
            now=self._now,
        )

    def restore(self, state: SpamState) -> None:
        """Replace the detector's memory by ``state`` (from ``state``).

        Posts fingerprinted under other MinHash settings (``minhash_bands``, ``minhash_rows``
        changed since) cannot be compared with new ones: the window of posts, clusters and
        texts then starts afresh, and only the accounts' posting times are kept.
        """
        span = self._rate_posts
        # The most recent ``max_authors`` (lowered since, the rest would never be evicted).
        recent = state.authors[-self.settings.max_authors :]
        self._authors = OrderedDict((a, array("d", times[-span:])) for a, times in recent)
        self._next = state.next_post
        self._now = state.now
        s = self.settings
        values = s.minhash_bands * s.minhash_rows
        if any(
            len(sig) != 4 * values or len(bands) != s.minhash_bands
            for *_, sig, bands in state.posts
        ):
            self.index.load([])
            self._post_cluster, self._clusters, self._large, self._texts = {}, {}, {}, {}
            return
        self.index.load(state.posts)
        self._post_cluster = state.post_cluster
        self._clusters = {c.id: c for c in state.clusters}
        floor = s.near_duplicate_min_posts
        self._large = {c.id: c for c in state.clusters if c.posts >= floor}
        self._texts = state.texts
