"""aggregate: rolling event-time windows of brand KPIs in minute and hour buckets per partition.

State is keyed by the Kafka partition the events came from, so a worker can drop exactly what a
rebalance takes away and export only what it owns. Every bucket remembers the offset of the last
event applied to it and serialises exactly, so a changelog can persist and restore it and a
replayed event is never applied twice. Time is always an argument, never read here.

Everything a KPI needs lives in the buckets, including what joins events at read time (mention
ids for engagement received, DM ids for first-response times, account snapshots), so a restored
bucket restores every KPI. The only other state, a post-id index, is derived from the buckets.
A store whose joins come from a fleet-wide view (``join_from``) keeps none of the join state;
a store nobody persists (that view) moves rolled hours' posts into compact arrays (``posts``).

Buckets older than the last whole hours (``timeline.rolled_before``) are rolled up into one
bucket per hour, keyed by the hour's first minute: state then grows with brands × hours, not
brands × minutes, and no KPI changes because windows longer than an hour start at a whole hour.
The spike detector needs each minute whole until its partition has closed it on the minutes
topic (``hold_minutes``, ``settle``): until then a minute stays a minute bucket, even one of a
backfill a day old, and only settled minutes roll up. An event for a settled minute of a rolled
hour goes to the hour's bucket. The hour bucket marks the minutes it absorbed; they are deleted
(changelog tombstones), and a restore that still finds one beside its hour drops it, since the
hour already holds it.
"""

from __future__ import annotations

import sys
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from socialpulse.core.brands import BrandAccounts
from socialpulse.core.events import ENGAGEMENT_TYPES, MAX_FOLLOWERS, Interaction, Mention
from socialpulse.core.kpis import (
    SATISFIED_RATING,
    SOV_BASES,
    VIDEO_COMPLETE_SHARE,
    AuthorKpis,
    WindowKpis,
)
from socialpulse.core.sentiment import Sentiment
from socialpulse.core.windows.accumulator import Accumulator
from socialpulse.core.windows.bucket import AuthorTally, Bucket, new_reach_sketch
from socialpulse.core.windows.measures import keep_min, roll_into
from socialpulse.core.windows.posts import PostArchive, post_key
from socialpulse.core.windows.tallies import frozen, thawed
from socialpulse.core.windows.timeline import (
    BUCKET_SECONDS,
    HOUR_BUCKETS,
    Source,
    bucket_of,
    first_bucket,
    hour_of,
    rolled_before,
)
from socialpulse.core.windows.totals import (
    JOIN_ONLY,
    BrandTotals,
    Delta,
    ReachUnion,
    WindowTotals,
)
from socialpulse.core.windows.ugc_memo import Block, UgcMemo
from socialpulse.settings import DEFAULT_LIFETIME_WINDOWS, DEFAULT_TOP_K, BrandSettings

_BLOCK: Final = HOUR_BUCKETS  # minutes per cached hour
# ``Bucket.absorbed`` of a new hour before its first minute is marked: a bit past the hour.
_NONE_YET: Final = 1 << HOUR_BUCKETS


def absorbs(hour: Bucket, minute: int) -> bool:
    """Whether the hour's bucket holds minute ``minute`` (state written before marks: all)."""
    return not hour.absorbed or bool(hour.absorbed >> (minute % HOUR_BUCKETS) & 1)


# Post id -> its minute's index × 2 + is UGC, per source and brand; rebuilt from buckets. The
# author is read from the bucket holding the minute (or its rolled-up hour): one int per post,
# not a second copy of what the bucket keeps.
_PostIndex = dict[str, int]


class WindowStore:
    """Rolling-window state for every tracked brand, partitioned by event source."""

    def __init__(
        self,
        brands: Sequence[BrandSettings],
        windows: Mapping[str, int],
        *,
        lifetime_windows: float = DEFAULT_LIFETIME_WINDOWS,
        persisted: bool = True,
        totals: bool = True,
    ) -> None:
        """``persisted`` False keeps no dirty or expired keys (a store nobody checkpoints).

        ``totals`` False keeps no running window totals (``windows.totals``): a store whose
        snapshots are never read (the join view) sums its buckets afresh if one ever is.
        """
        self._persisted = persisted
        self._brands = {b.id: b for b in brands}
        self._accounts = BrandAccounts(brands)
        self._lifetime = {b.id: b.customer_lifetime_windows or lifetime_windows for b in brands}
        self._windows = dict(sorted(windows.items(), key=lambda kv: kv[1]))
        self._horizon = max(self._windows.values())
        self._state: dict[Source, dict[str, dict[int, Bucket]]] = {}
        self._posts: dict[Source, dict[str, _PostIndex]] = {}
        # A store nobody persists moves rolled hours' posts into compact arrays (``posts``),
        # naming authors and sources by slot.
        self._archive: dict[str, PostArchive] = {}
        self._author_slots: dict[str, int] = {}
        self._author_ids: list[str] = []
        self._source_slots: dict[Source, int] = {}
        self._dirty: dict[Source, set[tuple[str, int]]] = {}
        self._expired: dict[Source, list[tuple[str, int]]] = {}
        # Newest event time applied per source since it was gained (how far a backlog got).
        self._newest: dict[Source, float] = {}
        # brand -> hour -> sum of that hour's buckets, dropped when any of them changes (for the
        # top authors), and the union of their reach sketches (for a snapshot's reach).
        self._blocks: dict[str, dict[int, Accumulator]] = {}
        self._reach_blocks: dict[str, dict[int, ReachUnion]] = {}
        # brand -> its windows' running totals; None: kept for no brand (``totals``).
        self._totals: dict[str, BrandTotals] | None = (
            {b.id: BrandTotals() for b in brands} if totals else None
        )
        # What the bucket the event being folded in goes to was at the last read (``_touch``).
        self._delta: Delta | None = None
        # brand -> changes of its buckets; with ``_epoch`` (bumped when partitions go) it tells a
        # reader whether a brand's KPIs can have changed within a minute (``version``).
        self._versions: dict[str, int] = {}
        self._epoch = 0
        # Minutes before this one go to their hour's bucket (``expire`` moves it on).
        self._rolled = -(2**62)
        # Sources of this topic keep minutes whole until ``settle``d (the spike detector's).
        self._held_topic: str | None = None
        # Source -> the last minute the detector closed for it: minutes up to it may roll.
        self._settled: dict[Source, int] = {}
        # A fleet-wide store of the events that join partitions (``core.joins``): when set, the
        # join KPIs and top authors are read from it instead of from this store.
        self._joined: WindowStore | None = None
        # What only the joins read (post ids, UGC ids, engagements per post, DMs, account
        # snapshots) is kept here only while no join view holds it.
        self._keeps_joins = True
        # A store nobody persists is a join view, read at every scrape: its buckets' UGC
        # engagements are kept between reads (``ugc_memo``).
        self._ugc_memo: UgcMemo | None = None if persisted else UgcMemo()

    def join_from(self, view: WindowStore) -> None:
        """Read the join KPIs and the top authors from ``view`` (the fleet's join events).

        The join KPIs: engagement received, UGC engagements, DM first response, followers at
        window start.

        From then on this store keeps none of what only those read (post and UGC ids,
        engagements per post, direct messages, account snapshots): the view holds them for the
        fleet, and a worker would otherwise hold each of its mentions' join state twice.
        """
        self._joined = view
        self._keeps_joins = False
        self._posts.clear()
        for per_brand in self._state.values():
            for buckets in per_brand.values():
                for b in buckets.values():
                    _drop_join_state(b)

    def hold_minutes(self, topic: str) -> None:
        """Keep the minutes of ``topic``'s partitions whole until ``settle`` says they closed.

        The spike detector's minutes are read from minute buckets (``minute_buckets``); a
        minute rolled into its hour before its partition closed it would be lost to it.
        """
        self._held_topic = topic

    def settle(self, source: Source, minute: int) -> None:
        """Every minute of ``source`` up to ``minute`` is closed for the detector: they may roll."""
        self._settled[source] = max(minute, self._settled.get(source, minute))

    def _roll_limit(self, source: Source) -> int:
        """The newest minute of ``source`` that may be folded into its hour's bucket."""
        if source[0] != self._held_topic:
            return self._rolled - 1
        return min(self._rolled - 1, self._settled.get(source, -(2**62)))

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

    @property
    def accounts(self) -> BrandAccounts:
        """The tracked brands' own accounts (owned posts, DM replies, unranked authors)."""
        return self._accounts

    def version(self, brand: str) -> tuple[int, int]:
        """Changes to ``brand``'s state so far (equal at one minute: equal ``brand_snapshot``).

        With a join view, its changes count too (both only grow, so their sum moves with each).
        """
        epoch, version = self._epoch, self._versions.get(brand, 0)
        if self._joined is not None:
            joined_epoch, joined_version = self._joined.version(brand)
            return epoch + joined_epoch, version + joined_version
        return epoch, version

    def _changed(self, brand: str) -> None:
        self._versions[brand] = self._versions.get(brand, 0) + 1

    def _touch(self, source: Source, brand: str, ts: float, offset: int) -> Bucket | None:
        """The bucket an event at ``offset`` goes to, or None when it was applied already."""
        per_brand = self._state.setdefault(source, {}).setdefault(brand, {})
        idx = bucket_of(ts)
        b = per_brand.get(idx)
        if b is None:
            hour = hour_of(idx)
            b = per_brand.get(hour)
            rolls = idx <= self._roll_limit(source)
            if b is not None and b.minutes > 1 and (rolls or absorbs(b, idx)):
                idx = hour
            elif b is None and rolls:
                idx = hour
                b = per_brand[idx] = Bucket(minutes=HOUR_BUCKETS, absorbed=_NONE_YET)
            else:  # a minute (held, or restored beside an old hour: it rolls at the next expiry)
                b = per_brand[idx] = Bucket()
        if b.minutes > 1 and b.absorbed:
            b.absorbed |= 1 << (bucket_of(ts) - idx)
        if offset <= b.offset:
            return None
        b.offset = offset
        if ts > self._newest.get(source, ts - 1):
            self._newest[source] = ts
        if self._persisted:
            self._dirty.setdefault(source, set()).add((brand, idx))
        blocks = self._blocks.get(brand)
        if blocks:
            blocks.pop(idx // _BLOCK, None)
        unions = self._reach_blocks.get(brand)
        if unions:
            unions.pop(idx // _BLOCK, None)
        if self._ugc_memo is not None:
            self._ugc_memo.changed(brand, idx)
        self._versions[brand] = self._versions.get(brand, 0) + 1
        totals = self._totals[brand] if self._totals is not None else None
        if totals is not None and totals.built:
            d = totals.deltas.get((source, idx))
            if d is None:
                d = totals.deltas[(source, idx)] = Delta.of(b)
            self._delta = d
        else:
            self._delta = None
        return b

    def _unblock(self, brand: str, idx: int) -> None:
        """Drop the cached sums of the hour holding bucket ``idx``: one of its buckets changed."""
        self._blocks.get(brand, {}).pop(idx // _BLOCK, None)
        self._reach_blocks.get(brand, {}).pop(idx // _BLOCK, None)
        if self._ugc_memo is not None:
            self._ugc_memo.changed(brand, idx)

    def add_mention(
        self,
        source: Source,
        brand: str,
        mention: Mention,
        sentiment: Sentiment | None,
        tagged: bool,
        offset: int,
        language: str = "en",
        filtered: bool = False,
    ) -> None:
        """Fold one matched mention into its brand's bucket (once per offset).

        ``sentiment`` is None for a mention no scorer covers (``unscored``: in every volume, in
        no sentiment figure); ``language`` is its bounded label (``Languages.label``). A
        ``filtered`` mention (flagged by the spam heuristics) is in every volume, in no
        sentiment figure and in no share of voice; its ``sentiment`` is ignored.
        """
        ts = mention.created_at.timestamp()
        b = self._touch(source, brand, ts, offset)
        if b is None:
            return
        # Each map is made on the bucket's first mention (absent until then).
        platforms = b.mentions_by_platform
        if platforms is None:
            platforms = b.mentions_by_platform = {}
        kinds = b.mentions_by_kind
        if kinds is None:
            kinds = b.mentions_by_kind = {}
        languages = b.mentions_by_language
        if languages is None:
            languages = b.mentions_by_language = {}
        platforms[mention.platform] = platforms.get(mention.platform, 0) + 1
        kinds[mention.kind] = kinds.get(mention.kind, 0) + 1
        if tagged:
            b.tagged += 1
        languages[language] = languages.get(language, 0) + 1
        if filtered:
            b.filtered += 1
        elif sentiment is None:
            b.unscored += 1
        else:
            label = sentiment.label
            if label == "positive":
                b.positive += 1
            elif label == "negative":
                b.negative += 1
            else:
                b.neutral += 1
            b.compound_sum += sentiment.compound
        owned = self._add_author(source, brand, b, mention, ts, filtered)
        if owned:
            b.owned_posts += 1
        elif mention.has_media:
            b.ugc_mentions += 1

    def add_joined_mention(self, source: Source, brand: str, mention: Mention, offset: int) -> None:
        """Fold in only what the joins read of a mention: its author, and its id for engagement.

        A join view (``core.joins``) takes every mention of the fleet; the counts it would add
        are never read from it.
        """
        ts = mention.created_at.timestamp()
        b = self._touch(source, brand, ts, offset)
        if b is not None:
            self._add_author(source, brand, b, mention, ts, False)

    def _add_author(
        self, source: Source, brand: str, b: Bucket, mention: Mention, ts: float, filtered: bool
    ) -> bool:
        """Tally the mention's author and index it as a post; whether the brand wrote it."""
        authors = thawed(b.authors)  # a late mention for a settled (frozen) hour thaws it
        if authors is None:
            authors = {}
        b.authors = authors
        author = mention.author
        # One string object per author, however many mentions, tallies and posts name it.
        author_id = sys.intern(author.id)
        # And one per handle: each tally of the author keeps it.
        handle = sys.intern(author.handle)
        t = authors.get(author_id)
        if self._delta is not None:
            self._delta.author(author_id, t)
        if t is None:
            authors[author_id] = AuthorTally(
                handle, author.followers, author.verified, 1, int(filtered)
            )
        else:
            t.handle = handle
            t.followers = max(t.followers, author.followers)
            t.verified = t.verified or author.verified
            t.mentions += 1
            t.filtered += filtered
        owned = self._accounts.is_own_handle(brand, author.handle)
        if not self._keeps_joins:
            return owned
        ugc = not owned and mention.has_media
        if ugc:
            if b.ugc is None:
                b.ugc = set()
            b.ugc.add(mention.event_id)
        posts = b.posts
        if posts is None:
            posts = b.posts = {}
        posts[mention.event_id] = author_id
        index = self._posts.setdefault(source, {}).setdefault(brand, {})
        if self._ugc_memo is not None:
            self._ugc_memo.mention(
                brand, source, mention.event_id, bucket_of(ts), mention.event_id in index
            )
        index[mention.event_id] = bucket_of(ts) * 2 + ugc
        return owned

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
        if b.interactions is None:
            b.interactions = {}
        b.interactions[kind] = b.interactions.get(kind, 0) + 1
        v = interaction.value
        if kind == "impression":
            if self._totals is not None:
                self._totals[brand].reach = None
            if b.reach is None:
                b.reach = new_reach_sketch()
            b.reach.update(interaction.user_id)
        elif kind in ENGAGEMENT_TYPES:
            if interaction.post_id is not None and self._keeps_joins:
                post = interaction.post_id
                if b.post_engagements is None:
                    b.post_engagements = {}
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
            if b.customers is None:
                b.customers = set()
            b.customers.add(v.customer_id or interaction.user_id)
        elif kind == "account_snapshot":
            if v.followers is not None and self._keeps_joins:
                if b.snapshots is None:
                    b.snapshots = []
                b.snapshots.append((ts, v.followers))
        elif kind == "direct_message" and self._keeps_joins:
            by_brand = self._accounts.is_brand_account(brand, interaction.user_id)
            if by_brand and v.replies_to is not None:
                if b.dm_replies is None:
                    b.dm_replies = {}
                keep_min(b.dm_replies, {v.replies_to: ts})
            elif not by_brand and v.replies_to is None:
                if b.dm_opened is None:
                    b.dm_opened = {}
                keep_min(b.dm_opened, {interaction.event_id: ts})
        return True

    # -- persistence ------------------------------------------------------------------------

    def newest_event(self, source: Source) -> float | None:
        """Event time of the newest event applied for ``source`` (None: none since gained)."""
        return self._newest.get(source)

    def dirty_indexes(self, source: Source) -> set[int]:
        """Minutes of ``source`` changed since the last ``take_dirty``, without taking them."""
        return {idx for _, idx in self._dirty.get(source, ())}

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

    def take_dirty_minutes(self, source: Source) -> set[int]:
        """Bucket indexes of ``source`` changed since the last call (``take_dirty`` unsorted)."""
        return {idx for _, idx in self._dirty.pop(source, set())}

    def buckets_at(self, source: Source, index: int) -> dict[str, Bucket]:
        """Every brand's bucket of ``source`` at minute ``index`` (one state record holds them)."""
        return {
            brand: b
            for brand, per_index in self._state.get(source, {}).items()
            if (b := per_index.get(index)) is not None
        }

    def minute_buckets(self, source: Source, minute: int) -> dict[str, Bucket] | None:
        """Every brand's minute bucket of ``source`` at ``minute``; None once any is rolled up.

        What the spike detector reads of a minute: whole, or (folded into an hour's bucket,
        so settled) not at all.
        """
        hour = hour_of(minute)
        out: dict[str, Bucket] = {}
        for brand, per_index in self._state.get(source, {}).items():
            b = per_index.get(minute)
            if b is not None and b.minutes == 1:
                out[brand] = b
                continue
            rolled = b if b is not None else per_index.get(hour)
            if rolled is not None and rolled.minutes > 1 and absorbs(rolled, minute):
                return None
        return out

    def take_expired(self, source: Source) -> list[tuple[str, int]]:
        """(brand, bucket index) deleted by ``expire`` for ``source`` since the last call."""
        return self._expired.pop(source, [])

    def load(self, source: Source, brand: str, index: int, bucket: Bucket) -> None:
        """Install a restored bucket (and re-derive its part of the post index).

        A minute beside the restored bucket of its hour was rolled into it already (its
        tombstone was not written yet): it is dropped and deleted again, in whichever order the
        two are restored. A bucket of a brand no longer configured is not installed: its
        minute is marked changed, so the next checkpoint writes the record again without it
        (or deletes it, nothing else left).
        """
        if brand not in self._brands:
            self._dirty.setdefault(source, set()).add((brand, index))
            return
        per_brand = self._state.setdefault(source, {}).setdefault(brand, {})
        hour = hour_of(index)
        rolled = per_brand.get(hour)
        if index != hour and rolled is not None and rolled.minutes > 1 and absorbs(rolled, index):
            self._expired.setdefault(source, []).append((brand, index))
            return
        if bucket.minutes > 1:
            # Only minutes held beside it can be stale (rarely any): a restore loads hundreds of
            # thousands of hours, and testing each of their minutes was most of its time.
            for minute in sorted(per_brand.keys() & range(index + 1, index + bucket.minutes)):
                if not absorbs(bucket, minute):
                    continue  # held whole for the detector: it rolls once settled
                stale = per_brand.pop(minute, None)
                if stale is not None:
                    self._forget_posts(source, brand, minute, stale)
                    self._expired.setdefault(source, []).append((brand, minute))
        per_brand[index] = bucket
        self._unblock(brand, index)
        self._changed(brand)
        if self._ugc_memo is not None:
            self._ugc_memo.forget(brand)  # its posts may change what lookups find
        if self._totals is not None:
            self._totals[brand].unbuild()
        if not self._keeps_joins:
            _drop_join_state(bucket)  # a bucket persisted before a join view held them
        elif bucket.posts:
            posts = self._posts.setdefault(source, {}).setdefault(brand, {})
            ugc = bucket.ugc or set()
            for post in bucket.posts:
                posts[post] = index * 2 + (post in ugc)

    def _forget_posts(self, source: Source, brand: str, index: int, bucket: Bucket) -> None:
        """Drop the post-index entries a bucket (at ``index``) gave."""
        if not bucket.posts:
            return
        posts = self._posts.get(source, {}).get(brand, {})
        end = index + bucket.minutes
        for post in bucket.posts:
            found = posts.get(post)
            if found is not None and index <= found >> 1 < end:
                del posts[post]

    def sources(self) -> set[Source]:
        """The partitions this store holds state for."""
        return set(self._state)

    def drop(self, sources: Iterable[Source]) -> None:
        """Forget the state of partitions this worker no longer owns."""
        self._blocks.clear()
        self._reach_blocks.clear()
        if self._ugc_memo is not None:
            self._ugc_memo.forget()
        for totals in (self._totals or {}).values():
            totals.unbuild()
        self._epoch += 1
        gone = [self._source_slots[s] for s in sources if s in self._source_slots]
        for archive in self._archive.values():
            archive.drop_sources(gone)
        for s in sources:
            self._state.pop(s, None)
            self._posts.pop(s, None)
            self._dirty.pop(s, None)
            self._newest.pop(s, None)
            self._expired.pop(s, None)
            self._settled.pop(s, None)

    def expire(self, now: float) -> int:
        """Delete buckets that have left the longest window, roll up old minutes into hours.

        Returns how many buckets went. The deleted keys (expired, or rolled into their hour)
        are kept per source for ``take_expired`` (changelog tombstones); a rolled hour is dirty.
        """
        oldest = first_bucket(now, self._horizon)
        self._rolled = max(self._rolled, rolled_before(now))
        removed = 0
        # Totals take what changed first: the buckets it changed may go now.
        for brand in self._totals or ():
            self._apply_deltas(brand)
        for source, per_brand in self._state.items():
            limit = self._roll_limit(source)
            # A store nobody checkpoints keeps no keys: these are dropped when the call ends.
            expired = self._expired.setdefault(source, []) if self._persisted else []
            dirty = self._dirty.setdefault(source, set()) if self._persisted else set()
            for brand, buckets in per_brand.items():
                totals = self._built(brand)
                stale = [idx for idx in buckets if idx < oldest]
                carried: tuple[float, int] | None = None
                for idx in stale:
                    self._unblock(brand, idx)
                    gone = buckets.pop(idx)
                    if totals is not None:
                        totals.leave(idx, gone)
                    self._forget_posts(source, brand, idx, gone)
                    if gone.snapshots:
                        latest = max(gone.snapshots)
                        carried = latest if carried is None else max(carried, latest)
                    dirty.discard((brand, idx))
                if stale:
                    self._changed(brand)
                if carried is not None:
                    self._carry(buckets, oldest, carried)
                    dirty.add((brand, oldest))
                    self._unblock(brand, oldest)
                expired.extend((brand, idx) for idx in stale)
                removed += len(stale)
                old = [i for i, b in buckets.items() if i <= limit and b.minutes == 1]
                by_hour: dict[int, list[int]] = {}
                for idx in old:
                    by_hour.setdefault(hour_of(idx), []).append(idx)
                for hour, idxs in by_hour.items():
                    into = buckets.get(hour)
                    if into is None or into.minutes == 1:
                        into = Bucket(minutes=HOUR_BUCKETS, absorbed=_NONE_YET)
                    else:
                        if totals is not None:
                            totals.leave(hour, into)  # back as a whole once the minutes are in
                        into.authors = thawed(into.authors)  # minutes merge into it in place
                    for idx in sorted(idxs, reverse=True):  # newest first: its handles stay
                        minute = buckets.pop(idx)
                        if self._ugc_memo is not None:
                            self._ugc_memo.changed(brand, idx)
                        if totals is not None:
                            totals.leave(idx, minute)
                        roll_into(into, minute)
                        if into.absorbed:
                            into.absorbed |= 1 << (idx - hour)
                        dirty.discard((brand, idx))
                        if idx != hour:
                            expired.append((brand, idx))
                    buckets[hour] = into
                    if totals is not None:
                        totals.enter(hour, into)
                    dirty.add((brand, hour))
                    self._unblock(brand, hour)
                if by_hour:
                    self._changed(brand)
                self._freeze_settled(buckets, limit)
                if stale and brand in self._archive:
                    self._archive[brand].keep(oldest)
        if not self._persisted:
            self._archive_rolled()
        if self._ugc_memo is not None:
            self._ugc_memo.expire(oldest)
        return removed

    @staticmethod
    def _freeze_settled(buckets: dict[int, Bucket], limit: int) -> None:
        """Freeze the author tallies of hours no minute can still roll into (``tallies``).

        Such an hour changes only by a late event, which thaws it; reads take it as it is. No
        KPI and no state byte changes: frozen tallies equal, and serialise as, the dict.
        """
        for idx, b in buckets.items():
            if b.minutes > 1 and idx + HOUR_BUCKETS - 1 <= limit and type(b.authors) is dict:
                b.authors = frozen(b.authors)

    def _archive_rolled(self) -> None:
        """Move the posts of rolled-up hours from dicts into each brand's ``PostArchive``."""
        rows: dict[str, list[tuple[int, int, int, int]]] = {}
        for source, per_brand in self._state.items():
            src = self._source_slots.setdefault(source, len(self._source_slots))
            indexes = self._posts.get(source, {})
            for brand, buckets in per_brand.items():
                index = indexes.get(brand, {})
                for idx, b in buckets.items():
                    if b.minutes == 1 or not b.posts:
                        continue
                    out = rows.setdefault(brand, [])
                    end = idx + b.minutes
                    for post, author in b.posts.items():
                        code = index.get(post)
                        if code is None or not idx <= code >> 1 < end:
                            continue  # a newer mention of the same id is what a lookup finds
                        del index[post]
                        slot = self._author_slots.get(author)
                        if slot is None:
                            slot = self._author_slots[author] = len(self._author_ids)
                            self._author_ids.append(author)
                        out.append((post_key(post), code, slot, src))
                    if self._ugc_memo is not None:
                        self._ugc_memo.archived(brand, b.posts)
                    b.posts = b.ugc = None
        for brand, got in rows.items():
            archive = self._archive.get(brand)
            if archive is None:
                archive = self._archive[brand] = PostArchive()
            archive.add(got)

    def _carry(self, buckets: dict[int, Bucket], oldest: int, snapshot: tuple[float, int]) -> None:
        """Keep the latest expired account snapshot in the oldest live bucket.

        The longest window starts where buckets expire, so without it no snapshot would ever
        lie at or before its start. The bucket keeps its offset: the snapshot adds no event. A
        new bucket there is a minute; when its hour is rolled, the roll-up that follows in
        ``expire`` folds it into the hour's bucket.
        """
        b = buckets.get(oldest)
        if b is None:
            b = buckets[oldest] = Bucket()
        if b.snapshots is None:
            b.snapshots = []
        b.snapshots.append(snapshot)

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
        """Post id -> (its author, is UGC), for posts mentioned from bucket ``oldest`` on."""
        find = self._find(brand, oldest)

        def lookup(post: str) -> tuple[str, bool] | None:
            found = find(post)
            return None if found is None else (found[0], bool(found[1] & 1))

        return lookup

    def _find(self, brand: str, oldest: int) -> Callable[[str], tuple[str, int] | None]:
        """Post id -> (its author, minute × 2 + is UGC), for posts mentioned from ``oldest`` on."""
        held = [
            (p[brand], self._state.get(source, {}).get(brand, {}))
            for source, p in sorted(self._posts.items())
            if brand in p
        ]
        archive = self._archive.get(brand)
        ids = self._author_ids

        def find(post: str) -> tuple[str, int] | None:
            for index, buckets in held:
                found = index.get(post)
                if found is None or found >> 1 < oldest:
                    continue
                minute = found >> 1
                for b in (buckets.get(minute), buckets.get(hour_of(minute))):
                    author = b.posts.get(post) if b is not None and b.posts else None
                    if author is not None:
                        return author, found
            if archive:
                archived = archive.find(post_key(post), oldest)
                if archived:
                    # The oldest, then the smallest author id: the same on every worker.
                    code, slot = min(archived, key=lambda c: (c[0], ids[c[1]]))
                    return ids[slot], code
            return None

        return find

    def _held_elsewhere(
        self, brand: str, fresh: Sequence[tuple[Source, str, int]]
    ) -> list[tuple[str, int]]:
        """(post id, minute) of those mentions whose id another source or the archive holds."""
        indexes = [(s, p[brand]) for s, p in self._posts.items() if brand in p]
        copies = [
            (post, minute)
            for source, post, minute in fresh
            if any(s != source and post in index for s, index in indexes)
        ]
        archive = self._archive.get(brand)
        if archive is not None:
            held = archive.holding([post_key(post) for _, post, _ in fresh])
            copies += [
                (post, minute) for (_, post, minute), h in zip(fresh, held, strict=True) if h
            ]
        return copies

    def _accumulate(
        self, brand: str, now: float, make: Callable[[], Any] = Accumulator, reach: bool = False
    ) -> Iterator[tuple[str, int, Any]]:
        """(window, its first bucket, accumulator over it), shortest window first.

        Whole hours inside a window are added from the hour cache; only the edges go bucket by
        bucket, so reading a week costs about 170 merges, not 10,080. ``make`` an accumulator
        of the reach sketches only (``ReachUnion``) with ``reach``: their own hour cache.
        """
        by_idx = self._by_index(brand, first_bucket(now, self._horizon))
        blocks: dict[int, list[int]] = {}
        for idx in sorted(by_idx, reverse=True):
            blocks.setdefault(idx // _BLOCK, []).append(idx)
        order = sorted(blocks, reverse=True)
        cache: dict[int, Any] = (self._reach_blocks if reach else self._blocks).setdefault(
            brand, {}
        )
        taken: dict[int, int] = {}  # block -> how many of its buckets were added one by one
        acc = make()
        pos = 0
        for label, length in self._windows.items():
            start = first_bucket(now, length)
            while pos < len(order):
                blk = order[pos]
                idxs = blocks[blk]
                if not taken.get(blk) and blk * _BLOCK >= start:
                    cached = cache.get(blk)
                    if cached is None:
                        cached = cache[blk] = make()
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
        result = {brand: self.brand_snapshot(brand, now) for brand in self._brands}
        return with_share_of_voice(result, self._brands)

    def brand_snapshot(self, brand: str, now: float) -> dict[str, WindowKpis]:
        """One brand's KPIs over every window ending at ``now``, share-of-voice set not summed.

        Read from the brand's running totals (``windows.totals``) and, for the join KPIs, from
        the buckets (``join_kpis``: of the join view when there is one). A scrape reads brands
        one at a time, so it can let the consumer run in between; ``with_share_of_voice``
        completes them once every brand is read.
        """
        totals, reach = self._read_totals(brand, now)
        view = self._joined if self._joined is not None else self
        joined = view.join_kpis(brand, now)
        lifetime = self._lifetime[brand]
        return {
            label: w.freeze(r, lifetime, joined[label])
            for label, w, r in zip(self._windows, totals.windows, reach, strict=True)
        }

    def _read_totals(self, brand: str, now: float) -> tuple[BrandTotals, list[int]]:
        """The brand's totals moved to ``now``, and each window's reach estimate."""
        totals = self._totals[brand] if self._totals is not None else BrandTotals()
        starts = [first_bucket(now, length) for length in self._windows.values()]
        if not totals.built:
            totals.build(starts, self._held(brand))
        else:
            self._apply_deltas(brand)
            for w, start in zip(totals.windows, starts, strict=True):
                if start != w.start:
                    self._move(brand, w, start)
                    totals.reach = None
        if totals.reach is None:
            totals.reach = [
                acc.estimate() for _, _, acc in self._accumulate(brand, now, ReachUnion, True)
            ]
        return totals, totals.reach

    def _held(self, brand: str) -> Iterator[tuple[int, Bucket]]:
        """(index, bucket) of every bucket of ``brand`` held, from every source."""
        for per_brand in self._state.values():
            yield from per_brand.get(brand, {}).items()

    def _built(self, brand: str) -> BrandTotals | None:
        """The brand's totals when they are kept and summed (else nothing to keep up to date)."""
        totals = self._totals[brand] if self._totals is not None else None
        return totals if totals is not None and totals.built else None

    def _apply_deltas(self, brand: str) -> None:
        """Add what the brand's buckets gained since the last read into its totals."""
        totals = self._built(brand)
        if totals is None or not totals.deltas:
            return
        for (source, idx), d in totals.deltas.items():
            inside = [w for w in totals.windows if idx >= w.start]
            if inside:
                change = d.change(self._state[source][brand][idx])
                for w in inside:
                    w.apply(change)
        totals.deltas.clear()
        self._delta = None

    def _move(self, brand: str, w: WindowTotals, start: int) -> None:
        """Move a window's first bucket to ``start``: buckets between leave it (or join it)."""
        lo, hi = min(w.start, start), max(w.start, start)
        joins = start < w.start
        for idx, b in self._held(brand):
            if lo <= idx < hi:
                if joins:
                    w.enter(b)
                else:
                    w.leave(b)
        w.start = start

    def join_kpis(
        self, brand: str, now: float
    ) -> dict[str, tuple[int, int | None, tuple[float, ...]]]:
        """Per window: UGC engagements, followers at its start, DM first-response seconds.

        What ``brand_snapshot`` gives of them, read straight from the buckets: a join view is
        read at every scrape, and merging its author tallies over every window would double
        the cost of a scrape for nothing. A rolled hour's engagements count from its first
        minute, where every window longer than an hour starts. A join view recounts the UGC
        engagements only at bucket indexes whose count may have changed since its last read
        (``ugc_memo``); the result is always a full recount's.
        """
        return self._join_kpis(brand, now, self._ugc_memo)

    def _join_kpis(
        self, brand: str, now: float, memo: UgcMemo | None
    ) -> dict[str, tuple[int, int | None, tuple[float, ...]]]:
        """``join_kpis``, each bucket index's UGC engagements from ``memo`` where they hold."""
        oldest = first_bucket(now, self._horizon)
        held = (
            memo.valid(brand, oldest, lambda fresh: self._held_elsewhere(brand, fresh))
            if memo is not None
            else {}
        )
        gathered = _Joined(oldest, lambda: self._find(brand, oldest), held)
        for per_brand in self._state.values():
            buckets = per_brand.get(brand)
            if buckets:
                gathered.add(buckets)
        for block in held.values():
            for idx, n in block.by_idx.items():
                if idx >= oldest:
                    gathered.ugc_by_idx[idx] = gathered.ugc_by_idx.get(idx, 0) + n
        if memo is not None:
            memo.keep(brand, gathered.counted)
        opened, replies, ugc_by_idx, snapshots = (
            gathered.opened,
            gathered.replies,
            gathered.ugc_by_idx,
            gathered.snapshots,
        )
        responses = [
            (bucket_of(at), max(0.0, at - opened[dm])) for dm, at in replies.items() if dm in opened
        ]
        snapshots.sort()
        configured = self._brands[brand].followers
        out: dict[str, tuple[int, int | None, tuple[float, ...]]] = {}
        for label, length in self._windows.items():
            start = first_bucket(now, length)
            followers = _latest_at(snapshots, start * BUCKET_SECONDS)
            out[label] = (
                sum(n for idx, n in ugc_by_idx.items() if idx >= start),
                followers if followers is not None else configured,
                tuple(s for i, s in responses if i >= start),
            )
        return out

    def top_authors(
        self, now: float, brand: str, window: str, k: int = DEFAULT_TOP_K
    ) -> dict[str, list[AuthorKpis]]:
        """The ``k`` most influential, most engaged and highest-reach mention authors.

        The brand's own accounts are not ranked. Ties go to the smaller author id.
        """
        if self._joined is not None:
            return self._joined.top_authors(now, brand, window, k)
        oldest = first_bucket(now, self._horizon)
        lookup = self._lookup(brand, oldest)
        authors: list[AuthorKpis] = []
        for label, _, acc in self._accumulate(brand, now):
            if label != window:
                continue
            received, _ = acc.engagement(lookup)
            authors = [
                AuthorKpis(a, t.handle, t.followers, t.verified, t.mentions, received.get(a, 0))
                for a, t in acc.tallies().items()
                if not self._accounts.is_own_handle(brand, t.handle)
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


class _Joined:
    """What the join KPIs read of one brand's buckets, gathered source by source.

    UGC engagements are counted only at indexes ``held`` does not hold (``ugc_memo``); each one
    counted, with the posts it found and missed, is left in ``counted`` for the memo to keep.
    """

    __slots__ = (
        "_find",
        "_held",
        "_make_find",
        "_oldest",
        "_ugc_posts",
        "counted",
        "opened",
        "replies",
        "snapshots",
        "ugc_by_idx",
    )

    def __init__(
        self,
        oldest: int,
        make_find: Callable[[], Callable[[str], tuple[str, int] | None]],
        held: Mapping[int, Block],
    ) -> None:
        self._oldest = oldest
        self._make_find = make_find
        self._find: Callable[[str], tuple[str, int] | None] | None = None
        self._held = held
        # A post engaged with in several buckets is looked up once: minute × 2 + is UGC, or -1.
        self._ugc_posts: dict[str, int] = {}
        self.counted: dict[int, Block] = {}
        self.opened: dict[str, float] = {}
        self.replies: dict[str, float] = {}
        self.ugc_by_idx: dict[int, int] = {}
        self.snapshots: list[tuple[float, int]] = []

    def add(self, buckets: dict[int, Bucket]) -> None:
        """Gather one source's buckets of the brand."""
        oldest, ugc_posts, ugc_by_idx = self._oldest, self._ugc_posts, self.ugc_by_idx
        held, counted = self._held, self.counted
        for idx, b in buckets.items():
            if b.snapshots:  # every one held, the one carried past the horizon included
                self.snapshots.extend(b.snapshots)
            if idx < oldest:
                continue
            if b.dm_opened:
                keep_min(self.opened, b.dm_opened)
            if b.dm_replies:
                keep_min(self.replies, b.dm_replies)
            if not b.post_engagements:
                continue
            if idx in held:
                continue
            block = counted.get(idx)
            if block is None:
                block = counted[idx] = Block(oldest)
            find = self._find
            if find is None:
                find = self._find = self._make_find()
            n_ugc = 0
            for post, n in b.post_engagements.items():
                code = ugc_posts.get(post)
                if code is None:
                    found = find(post)
                    code = ugc_posts[post] = -1 if found is None else found[1]
                if code < 0:
                    block.unresolved.append(post)
                    continue
                block.found(code >> 1)
                if code & 1:
                    n_ugc += n
            if n_ugc:
                ugc_by_idx[idx] = ugc_by_idx.get(idx, 0) + n_ugc
                block.by_idx[idx] = block.by_idx.get(idx, 0) + n_ugc


def _drop_join_state(b: Bucket) -> None:
    """Clear what only the join KPIs read of a bucket (a join view holds it instead)."""
    for name in JOIN_ONLY:
        setattr(b, name, None)


def _latest_at(snapshots: list[tuple[float, int]], ts: float) -> int | None:
    """Followers in the latest of the sorted ``snapshots`` at or before ``ts`` (ties: larger)."""
    at = bisect_right(snapshots, (ts, MAX_FOLLOWERS))
    return snapshots[at - 1][1] if at else None


def with_share_of_voice(
    kpis: dict[str, dict[str, WindowKpis]], brands: Mapping[str, BrandSettings]
) -> dict[str, dict[str, WindowKpis]]:
    """Each basis summed over the brand's competitive set (itself and its competitors)."""
    return {brand: brand_share_of_voice(brand, kpis, brands) for brand in kpis}


def brand_share_of_voice(
    brand: str, kpis: dict[str, dict[str, WindowKpis]], brands: Mapping[str, BrandSettings]
) -> dict[str, WindowKpis]:
    """``with_share_of_voice`` for one brand: a reader may complete brands in slices."""
    rivals = brands[brand].competitors
    out: dict[str, WindowKpis] = {}
    for label, k in kpis[brand].items():
        total = {
            basis: k.share_of_voice_base[basis]
            + sum(kpis[r][label].share_of_voice_base[basis] for r in rivals)
            for basis in SOV_BASES
        }
        out[label] = replace(k, share_of_voice_set_base=total)
    return out
