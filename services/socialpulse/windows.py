"""aggregate: rolling event-time windows of brand KPIs in one-minute buckets per source partition.

State is keyed by the Kafka partition the events came from, so a worker can drop exactly what a
rebalance takes away and export only what it owns. Every bucket remembers the offset of the last
event applied to it and serialises exactly, so a changelog can persist and restore it and a
replayed event is never applied twice. Time is always an argument, never read here.

Everything a KPI needs lives in the buckets, including what joins events at read time (mention
ids for engagement received, DM ids for first-response times, account snapshots), so a restored
bucket restores every KPI. The only other state, a post-id index, is derived from the buckets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

import msgspec
from datasketches import hll_sketch, hll_union, tgt_hll_type

from socialpulse.events import ENGAGEMENT_TYPES, INTERACTION_TYPES, Interaction, Mention
from socialpulse.kpis import (
    SATISFIED_RATING,
    SOV_BASES,
    VIDEO_COMPLETE_SHARE,
    AuthorKpis,
    WindowKpis,
)
from socialpulse.sentiment import Sentiment
from socialpulse.settings import BrandSettings

BUCKET_SECONDS: Final = 60
# HyperLogLog size for reach: 2^14 registers, relative standard error 0.81 % after unions
# (datasketches' bound), so 2 % is about 2.5 standard errors. HLL_4: 8 KiB per full sketch.
REACH_LG_K: Final = 14
DEFAULT_TOP_K: Final = 10
DEFAULT_LIFETIME_WINDOWS: Final = 12.0
_BLOCK: Final = 60  # buckets per cached hour

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


def new_reach_sketch() -> Any:
    """An empty reach sketch (HyperLogLog, ``REACH_LG_K``)."""
    return hll_sketch(REACH_LG_K, tgt_hll_type.HLL_4)


def reach_union(sketches: Iterable[Any]) -> int:
    """Estimated distinct users over several reach sketches, rounded to a whole user."""
    union = hll_union(REACH_LG_K)
    for s in sketches:
        union.update(s)
    return round(float(union.get_estimate()))


def account_name(name: str) -> str:
    """An account handle or id as compared with a brand's: lower case, without a leading ``@``."""
    return name.lower().removeprefix("@")


class AuthorTally(msgspec.Struct, array_like=True):
    """What one bucket saw of one mention author."""

    handle: str
    followers: int  # the largest count seen
    verified: bool
    mentions: int


_HLL: Any = hll_sketch


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, hll_sketch):
        # Not serialize_compact(): a union of sketches restored from the compact form can
        # estimate one user more or less than the union of the originals, so a restart would
        # change exported reach. The updatable form restores a sketch that unions identically.
        return obj.serialize_updatable()
    raise NotImplementedError(f"cannot serialise {type(obj)!r}")


def _dec_hook(typ: type, obj: Any) -> Any:
    if typ is hll_sketch and isinstance(obj, bytes):
        return _HLL.deserialize(obj)
    raise NotImplementedError(f"cannot deserialise {typ!r}")


class Bucket(msgspec.Struct, omit_defaults=True):
    """Everything one brand gathered from one partition in one minute; round-trips exactly."""

    # Source offset of the last event applied; an event at or below it was applied already.
    offset: int = -1
    mentions_by_platform: dict[str, int] = {}
    mentions_by_kind: dict[str, int] = {}
    tagged: int = 0
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    compound_sum: float = 0.0
    authors: dict[str, AuthorTally] = {}
    # Mention event id -> author id: joins engagement on the mention to its author.
    posts: dict[str, str] = {}
    ugc: set[str] = set()  # event ids of user-generated-content mentions
    owned_posts: int = 0
    ugc_mentions: int = 0
    interactions: dict[str, int] = {}
    reach: hll_sketch | None = None
    # Post id -> engagement interactions on it in this minute (joined to mentions at read time).
    post_engagements: dict[str, int] = {}
    sessions: int = 0
    sessions_bounced: int = 0
    session_seconds_sum: float = 0.0
    video_views_completed: int = 0
    video_watch_seconds_sum: float = 0.0
    survey_responses_satisfied: int = 0
    purchase_value_sum: float = 0.0
    customers: set[str] = set()
    # Direct messages to the brand (event id -> time) and the brand's replies (id -> first reply).
    dm_opened: dict[str, float] = {}
    dm_replies: dict[str, float] = {}
    # Account snapshots: (event time, followers).
    snapshots: list[tuple[float, int]] = []

    def to_bytes(self) -> bytes:
        """The bucket as msgpack; the reach sketch in its own (updatable) serial form."""
        return _ENCODER.encode(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> Bucket:
        """The bucket ``to_bytes`` wrote."""
        return _DECODER.decode(data)


_ENCODER: Final = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_DECODER: Final = msgspec.msgpack.Decoder(Bucket, dec_hook=_dec_hook)
_MINUTE_DECODER: Final = msgspec.msgpack.Decoder(dict[str, Bucket], dec_hook=_dec_hook)


def encode_minute(buckets: Mapping[str, Bucket]) -> bytes:
    """Every brand's bucket of one partition-minute as one state record (brand -> bucket)."""
    return _ENCODER.encode(buckets)


def decode_minute(data: bytes) -> dict[str, Bucket]:
    """The buckets ``encode_minute`` wrote, in one decode call (restore time is mostly this)."""
    return _MINUTE_DECODER.decode(data)


# Post id -> (bucket index, author id, is UGC), per source and brand; rebuilt from buckets.
_PostIndex = dict[str, tuple[int, str, bool]]


class _Accumulator:
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

    def add(self, b: Bucket | _Accumulator) -> None:
        _add_counts(self.mentions_by_platform, b.mentions_by_platform)
        _add_counts(self.mentions_by_kind, b.mentions_by_kind)
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
        if isinstance(b, _Accumulator):
            self.reach.update(b.reach.get_result(tgt_hll_type.HLL_8))
        elif b.reach is not None:
            self.reach.update(b.reach)
        self.owned_posts += b.owned_posts
        self.ugc_mentions += b.ugc_mentions
        _add_counts(self.interactions, b.interactions)
        _add_counts(self.post_engagements, b.post_engagements)
        self.sessions += b.sessions
        self.sessions_bounced += b.sessions_bounced
        self.session_seconds_sum += b.session_seconds_sum
        self.video_views_completed += b.video_views_completed
        self.video_watch_seconds_sum += b.video_watch_seconds_sum
        self.survey_responses_satisfied += b.survey_responses_satisfied
        self.purchase_value_sum += b.purchase_value_sum
        self.customers |= b.customers
        _keep_min(self.dm_opened, b.dm_opened)
        _keep_min(self.dm_replies, b.dm_replies)
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
        _add_counts(interactions, self.interactions)
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


def _add_counts(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for k, n in counts.items():
        into[k] = into.get(k, 0) + n


def _keep_min(into: dict[str, float], times: Mapping[str, float]) -> None:
    for k, t in times.items():
        if t < into.get(k, t + 1):
            into[k] = t


class WindowStore:
    """Rolling-window state for every tracked brand, partitioned by event source."""

    def __init__(
        self,
        brands: Sequence[BrandSettings],
        windows: Mapping[str, int],
        *,
        lifetime_windows: float = DEFAULT_LIFETIME_WINDOWS,
    ) -> None:
        self._brands = {b.id: b for b in brands}
        self._accounts = {
            b.id: {account_name(h) for h in b.handles} | {account_name(b.id)} for b in brands
        }
        self._handles = {b.id: {account_name(h) for h in b.handles} for b in brands}
        self._lifetime = {b.id: b.customer_lifetime_windows or lifetime_windows for b in brands}
        self._windows = dict(sorted(windows.items(), key=lambda kv: kv[1]))
        self._horizon = max(self._windows.values())
        self._state: dict[Source, dict[str, dict[int, Bucket]]] = {}
        self._posts: dict[Source, dict[str, _PostIndex]] = {}
        self._dirty: dict[Source, set[tuple[str, int]]] = {}
        self._expired: dict[Source, list[tuple[str, int]]] = {}
        # brand -> hour -> sum of that hour's buckets, dropped when any of them changes.
        self._blocks: dict[str, dict[int, _Accumulator]] = {}

    @property
    def horizon_seconds(self) -> int:
        """Length of the longest window: older buckets are expired."""
        return self._horizon

    @property
    def windows(self) -> Mapping[str, int]:
        """Window label -> length in seconds, shortest first."""
        return self._windows

    @property
    def brands(self) -> Mapping[str, BrandSettings]:
        """Tracked brands by id."""
        return self._brands

    def owners(self, mention: Mention) -> list[str]:
        """Brands whose own account wrote ``mention`` (its handle is one of theirs)."""
        handle = account_name(mention.author.handle)
        return [b for b, handles in self._handles.items() if handle in handles]

    def _touch(self, source: Source, brand: str, ts: float, offset: int) -> Bucket | None:
        """The bucket an event at ``offset`` goes to, or None when it was applied already."""
        per_brand = self._state.setdefault(source, {}).setdefault(brand, {})
        idx = bucket_of(ts)
        b = per_brand.get(idx)
        if b is None:
            b = per_brand[idx] = Bucket()
        elif offset <= b.offset:
            return None
        b.offset = offset
        self._dirty.setdefault(source, set()).add((brand, idx))
        self._blocks.get(brand, {}).pop(idx // _BLOCK, None)
        return b

    def add_mention(
        self,
        source: Source,
        brand: str,
        mention: Mention,
        sentiment: Sentiment,
        tagged: bool,
        offset: int,
    ) -> None:
        """Fold one matched mention into its brand's bucket (once per offset)."""
        ts = mention.created_at.timestamp()
        b = self._touch(source, brand, ts, offset)
        if b is None:
            return
        b.mentions_by_platform[mention.platform] = (
            b.mentions_by_platform.get(mention.platform, 0) + 1
        )
        b.mentions_by_kind[mention.kind] = b.mentions_by_kind.get(mention.kind, 0) + 1
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
        t = b.authors.get(author.id)
        if t is None:
            b.authors[author.id] = AuthorTally(author.handle, author.followers, author.verified, 1)
        else:
            t.handle = author.handle
            t.followers = max(t.followers, author.followers)
            t.verified = t.verified or author.verified
            t.mentions += 1
        owned = account_name(author.handle) in self._handles[brand]
        ugc = not owned and mention.has_media
        if owned:
            b.owned_posts += 1
        elif ugc:
            b.ugc_mentions += 1
            b.ugc.add(mention.event_id)
        b.posts[mention.event_id] = author.id
        index = self._posts.setdefault(source, {}).setdefault(brand, {})
        index[mention.event_id] = (bucket_of(ts), author.id, ugc)

    def add_owned_post(self, source: Source, brand: str, mention: Mention, offset: int) -> None:
        """Count a post by the brand's own account whose text does not name the brand."""
        b = self._touch(source, brand, mention.created_at.timestamp(), offset)
        if b is not None:
            b.owned_posts += 1

    def add_interaction(self, source: Source, interaction: Interaction, offset: int) -> bool:
        """Fold one interaction into its brand's bucket; False when the brand is not tracked."""
        brand = interaction.brand
        if brand not in self._brands:
            return False
        ts = interaction.created_at.timestamp()
        b = self._touch(source, brand, ts, offset)
        if b is None:
            return True
        kind = interaction.type
        b.interactions[kind] = b.interactions.get(kind, 0) + 1
        v = interaction.value
        if kind == "impression":
            if b.reach is None:
                b.reach = new_reach_sketch()
            b.reach.update(interaction.user_id)
        elif kind in ENGAGEMENT_TYPES:
            if interaction.post_id is not None:
                post = interaction.post_id
                b.post_engagements[post] = b.post_engagements.get(post, 0) + 1
        elif kind == "session":
            if v.referred_from_social:
                b.sessions += 1
                b.sessions_bounced += bool(v.bounced)
                b.session_seconds_sum += v.session_seconds or 0.0
        elif kind == "video_view":
            watched = v.watch_seconds or 0.0
            b.video_watch_seconds_sum += watched
            if v.video_seconds is not None and watched >= VIDEO_COMPLETE_SHARE * v.video_seconds:
                b.video_views_completed += 1
        elif kind == "survey_response":
            if v.rating is not None and v.rating >= SATISFIED_RATING:
                b.survey_responses_satisfied += 1
        elif kind == "purchase":
            b.purchase_value_sum += v.order_value or 0.0
            b.customers.add(v.customer_id or interaction.user_id)
        elif kind == "account_snapshot":
            if v.followers is not None:
                b.snapshots.append((ts, v.followers))
        elif kind == "direct_message":
            by_brand = account_name(interaction.user_id) in self._accounts[brand]
            if by_brand and v.replies_to is not None:
                _keep_min(b.dm_replies, {v.replies_to: ts})
            elif not by_brand and v.replies_to is None:
                _keep_min(b.dm_opened, {interaction.event_id: ts})
        return True

    # -- persistence ------------------------------------------------------------------------

    def take_dirty(self, source: Source) -> list[tuple[str, int, Bucket]]:
        """(brand, bucket index, bucket) changed for ``source`` since the last call."""
        keys = self._dirty.pop(source, set())
        per_source = self._state.get(source, {})
        out = []
        for brand, idx in sorted(keys):
            b = per_source.get(brand, {}).get(idx)
            if b is not None:
                out.append((brand, idx, b))
        return out

    def buckets_at(self, source: Source, index: int) -> dict[str, Bucket]:
        """Every brand's bucket of ``source`` at minute ``index`` (one state record holds them)."""
        return {
            brand: b
            for brand, per_index in self._state.get(source, {}).items()
            if (b := per_index.get(index)) is not None
        }

    def take_expired(self, source: Source) -> list[tuple[str, int]]:
        """(brand, bucket index) deleted by ``expire`` for ``source`` since the last call."""
        return self._expired.pop(source, [])

    def load(self, source: Source, brand: str, index: int, bucket: Bucket) -> None:
        """Install a restored bucket (and re-derive its part of the post index)."""
        self._state.setdefault(source, {}).setdefault(brand, {})[index] = bucket
        self._blocks.get(brand, {}).pop(index // _BLOCK, None)
        posts = self._posts.setdefault(source, {}).setdefault(brand, {})
        for post, author in bucket.posts.items():
            posts[post] = (index, author, post in bucket.ugc)

    def sources(self) -> set[Source]:
        """The partitions this store holds state for."""
        return set(self._state)

    def drop(self, sources: Iterable[Source]) -> None:
        """Forget the state of partitions this worker no longer owns."""
        self._blocks.clear()
        for s in sources:
            self._state.pop(s, None)
            self._posts.pop(s, None)
            self._dirty.pop(s, None)
            self._expired.pop(s, None)

    def expire(self, now: float) -> int:
        """Delete buckets that have left the longest window; returns how many went.

        The deleted keys are kept per source for ``take_expired`` (changelog tombstones).
        """
        oldest = first_bucket(now, self._horizon)
        removed = 0
        for source, per_brand in self._state.items():
            for brand, buckets in per_brand.items():
                stale = [idx for idx in buckets if idx < oldest]
                if not stale:
                    continue
                index = self._posts.get(source, {}).get(brand, {})
                dirty = self._dirty.get(source, set())
                for idx in stale:
                    self._blocks.get(brand, {}).pop(idx // _BLOCK, None)
                    for post in buckets.pop(idx).posts:
                        if post in index and index[post][0] == idx:
                            del index[post]
                    dirty.discard((brand, idx))
                self._expired.setdefault(source, []).extend((brand, idx) for idx in stale)
                removed += len(stale)
        return removed

    def bucket_count(self) -> int:
        """Live buckets held, a measure of state size."""
        return sum(len(b) for per_brand in self._state.values() for b in per_brand.values())

    # -- reading ----------------------------------------------------------------------------

    def window_bounds(self, now: float, window: str) -> tuple[float, float]:
        """Start and end (epoch seconds) of ``window`` at ``now``: whole minutes."""
        start = first_bucket(now, self._windows[window]) * BUCKET_SECONDS
        return float(start), float((bucket_of(now) + 1) * BUCKET_SECONDS)

    def _by_index(self, brand: str, oldest: int) -> dict[int, list[Bucket]]:
        """The brand's buckets from every source from bucket ``oldest`` on, by index."""
        merged: dict[int, list[Bucket]] = {}
        # In source order, so float sums do not depend on which partition arrived first.
        for _, per_brand in sorted(self._state.items()):
            for idx, b in per_brand.get(brand, {}).items():
                if idx >= oldest:
                    merged.setdefault(idx, []).append(b)
        return merged

    def _lookup(self, brand: str, oldest: int) -> Callable[[str], tuple[str, bool] | None]:
        indexes = [p[brand] for _, p in sorted(self._posts.items()) if brand in p]

        def lookup(post: str) -> tuple[str, bool] | None:
            for index in indexes:
                found = index.get(post)
                if found is not None and found[0] >= oldest:
                    return found[1], found[2]
            return None

        return lookup

    def _accumulate(self, brand: str, now: float) -> Iterator[tuple[str, int, _Accumulator]]:
        """(window, its first bucket, accumulator over it), shortest window first.

        Whole hours inside a window are added from the hour cache; only the edges go bucket by
        bucket, so reading a week costs about 170 merges, not 10,080.
        """
        by_idx = self._by_index(brand, first_bucket(now, self._horizon))
        blocks: dict[int, list[int]] = {}
        for idx in sorted(by_idx, reverse=True):
            blocks.setdefault(idx // _BLOCK, []).append(idx)
        order = sorted(blocks, reverse=True)
        cache = self._blocks.setdefault(brand, {})
        taken: dict[int, int] = {}  # block -> how many of its buckets were added one by one
        acc = _Accumulator()
        pos = 0
        for label, length in self._windows.items():
            start = first_bucket(now, length)
            while pos < len(order):
                blk = order[pos]
                idxs = blocks[blk]
                if not taken.get(blk) and blk * _BLOCK >= start:
                    cached = cache.get(blk)
                    if cached is None:
                        cached = cache[blk] = _Accumulator()
                        for idx in idxs:
                            for b in by_idx[idx]:
                                cached.add(b)
                    acc.add(cached)
                    pos += 1
                    continue
                i = taken.get(blk, 0)
                while i < len(idxs) and idxs[i] >= start:
                    for b in by_idx[idxs[i]]:
                        acc.add(b)
                    i += 1
                taken[blk] = i
                if i < len(idxs):
                    break  # the rest of this hour is older than the window
                pos += 1
            yield label, start, acc

    def snapshot(self, now: float) -> dict[str, dict[str, WindowKpis]]:
        """KPIs of every brand over every window ending at ``now`` (brand -> window -> KPIs)."""
        oldest = first_bucket(now, self._horizon)
        result: dict[str, dict[str, WindowKpis]] = {}
        for brand, settings in self._brands.items():
            lookup = self._lookup(brand, oldest)
            frozen: list[tuple[str, int, WindowKpis]] = []
            acc = _Accumulator()
            for label, start, acc in self._accumulate(brand, now):
                _, ugc = acc.engagement(lookup)
                frozen.append((label, start, acc.freeze(ugc, self._lifetime[brand])))
            # DM replies and account snapshots join across the whole horizon (the last window).
            responses = acc.responses()
            per_window: dict[str, WindowKpis] = {}
            for label, start, k in frozen:
                followers = acc.followers_at(start * BUCKET_SECONDS)
                per_window[label] = replace(
                    k,
                    followers_at_window_start=(
                        followers if followers is not None else settings.followers
                    ),
                    dm_first_response_seconds=tuple(s for i, s in responses if i >= start),
                )
            result[brand] = per_window
        return _with_share_of_voice(result, self._brands)

    def top_authors(
        self, now: float, brand: str, window: str, k: int = DEFAULT_TOP_K
    ) -> dict[str, list[AuthorKpis]]:
        """The ``k`` most influential, most engaged and highest-reach mention authors.

        The brand's own accounts are not ranked. Ties go to the smaller author id.
        """
        oldest = first_bucket(now, self._horizon)
        lookup = self._lookup(brand, oldest)
        own = self._handles[brand]
        authors: list[AuthorKpis] = []
        for label, _, acc in self._accumulate(brand, now):
            if label != window:
                continue
            received, _ = acc.engagement(lookup)
            authors = [
                AuthorKpis(a, t.handle, t.followers, t.verified, t.mentions, received.get(a, 0))
                for a, t in acc.authors.items()
                if account_name(t.handle) not in own
            ]
            break
        else:
            raise KeyError(window)
        authors.sort(key=lambda a: a.id)

        def top(score: Callable[[AuthorKpis], float]) -> list[AuthorKpis]:
            return sorted(authors, key=score, reverse=True)[:k]  # stable: ties keep id order

        return {
            "most_influential": top(lambda a: a.influence),
            "most_engaged": top(lambda a: a.engagement_received),
            "highest_reach": top(lambda a: a.followers),
        }


def _with_share_of_voice(
    kpis: dict[str, dict[str, WindowKpis]], brands: Mapping[str, BrandSettings]
) -> dict[str, dict[str, WindowKpis]]:
    """Each basis summed over the brand's competitive set (itself and its competitors)."""
    out: dict[str, dict[str, WindowKpis]] = {}
    for brand, per_window in kpis.items():
        rivals = brands[brand].competitors
        out[brand] = {}
        for label, k in per_window.items():
            total = {
                basis: k.share_of_voice_base[basis]
                + sum(kpis[r][label].share_of_voice_base[basis] for r in rivals)
                for basis in SOV_BASES
            }
            out[brand][label] = replace(k, share_of_voice_set_base=total)
    return out
