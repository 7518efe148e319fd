"""The signals stage: every matched mention judged by the spam heuristics before it counts.

Called by the pipeline once per matched mention. A flagged mention is counted per brand under
its most specific reason (``FILTER_REASONS``, the bounded set of ``core.spam``); it still counts
in every volume KPI but, unless ``spam.include_filtered``, in no sentiment figure and no share
of voice (the pipeline's part). A genuine one feeds the brand's trends. A
brand's own posts are neither judged nor counted for trends: a brand posting its own campaign
text from its accounts is publishing, not spamming. Copy-paste campaigns become incidents of the
signal ``copy_paste_campaign`` (``campaign_transitions``), named like the spike detector's and
announced by one process of the fleet (``lead_campaigns``).

The state is kept per input partition (``Source``), like the window store's: a partition's
verdicts depend on its own events in offset order alone, so they are the same whichever worker
holds it and however partitions are grouped. ``snapshot`` and ``restore`` carry a partition's
state through the state topic with the offset it stands at; the Kafka worker re-reads the
partition from there, and events at or below that offset are never judged twice (``check``
skips them: the window store, restored with them, skips them too). Trends and campaigns are
read merged over the fleet's partitions once the trends topic is read (``core.campaigns``), over
the partitions this process holds until then.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final, Literal

import msgspec

from socialpulse.core.anomaly.detector import Transition
from socialpulse.core.campaigns import (
    CAMPAIGN_SIGNAL,
    Campaign,
    CampaignPart,
    FleetCampaigns,
    PartGrouping,
    PartId,
)
from socialpulse.core.events import Mention
from socialpulse.core.neardup import MinHasher
from socialpulse.core.spam import SpamDetector, SpamReason, SpamState
from socialpulse.core.terms import Tokeniser, brand_terms
from socialpulse.core.trends import BrandTrends, FleetTrends, Trend, TrendDetector
from socialpulse.core.windows.timeline import Source
from socialpulse.settings import Settings

# The reasons a filtered mention is counted under, most specific first: a post of a campaign
# is counted as ``campaign`` though it is a near-duplicate from a new account too.
FILTER_REASONS: Final[tuple[SpamReason, ...]] = (
    "campaign",
    "near_duplicate",
    "exact_repost",
    "new_account_burst",
    "bot_rate",
)
# The reasons that put a post in a cluster of near-identical posts: a campaign candidate.
_CLUSTER_REASONS: Final[frozenset[SpamReason]] = frozenset(
    ("campaign", "near_duplicate", "exact_repost")
)
# Clusters whose brands are held before those gone from the window are forgotten.
_CAMPAIGNS_HELD: Final = 1024
# A partition's near-duplicate clusters published as campaign parts, the largest: a campaign's
# share in a partition is among them unless it holds that many larger clusters. With the text
# of each part cut at ``PART_TEXT_CHARS``, a partition's record stays near 200 kB at most,
# within a broker's default record limit (1 MB).
PARTS_PER_PARTITION: Final = 256
PART_TEXT_CHARS: Final = 500
# A changed partition's signals state is written again once the partition has read this share
# of the posts its spam window holds (``Signals.snapshot_worth``).
SNAPSHOT_AFTER_SHARE: Final = 0.25
# Version of a partition's signals state (``Signals.snapshot``).
STATE_VERSION: Final = 1


@contextmanager
def _no_collections() -> Iterator[None]:
    """No cycle collection while a snapshot is built or read.

    Its tens of thousands of new objects set off collections that walk the whole process (the
    window store too), measured at three times the snapshot's own cost. Its garbage is freed
    by reference count.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


class _PartitionState(msgspec.Struct, array_like=True):
    """One partition's signals state as the state topic holds it (``snapshot``)."""

    version: int
    offset: int
    latest: float
    spam: SpamState | None
    trends: dict[str, bytes]
    campaign_brands: list[tuple[int, list[str]]]


_encode_state = msgspec.msgpack.Encoder().encode
_decode_state = msgspec.msgpack.Decoder(_PartitionState).decode


class _Partition:
    """The spam window, trends and campaign brands of one input partition."""

    __slots__ = (
        "campaign_brands",
        "latest",
        "offset",
        "prune_at",
        "replay_until",
        "snapshot_offset",
        "spam",
        "trends",
    )

    def __init__(self, spam: SpamDetector, trends: TrendDetector) -> None:
        self.spam = spam
        self.trends = trends
        # Near-duplicate cluster id -> brands its flagged posts named.
        self.campaign_brands: dict[int, set[str]] = {}
        self.prune_at = _CAMPAIGNS_HELD
        self.offset = -1  # the last offset of the partition applied
        self.snapshot_offset = -1  # ``offset`` when the last snapshot was taken or restored
        self.replay_until = -1  # offsets below it were counted before (a restore's re-read)
        self.latest = float("-inf")

    def prune(self) -> None:
        """Forget the brands of clusters gone from the window (a cluster keeps them till then)."""
        spam = self.spam
        for cluster in [c for c in self.campaign_brands if not spam.has_cluster(c)]:
            del self.campaign_brands[cluster]
        self.prune_at = max(_CAMPAIGNS_HELD, 2 * len(self.campaign_brands))


class Signals:
    """Spam verdicts, filtered counts, trends and campaigns, per input partition."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.enabled = settings.spam.enabled
        self.include_filtered = settings.spam.include_filtered
        self.trends_enabled = settings.trends.enabled
        self.tokeniser = Tokeniser(settings.trends.languages)
        s = settings.spam
        # One hasher for every partition: it is pure, and its cache serves them all.
        self.hasher = MinHasher(s.shingle_chars, s.minhash_bands, s.minhash_rows)
        self._excluded = {b.id: brand_terms(b.terms, b.handles) for b in settings.brands}
        self._partitions: dict[Source, _Partition] = {}
        # brand -> reason -> mentions filtered since start (``_total`` counters).
        self.filtered: dict[str, dict[str, int]] = {
            b.id: dict.fromkeys(FILTER_REASONS, 0) for b in settings.brands
        }
        # Announced incidents by key, and the key of each of their parts.
        self._open: dict[str, Campaign] = {}
        self._known: dict[PartId, str] = {}
        # Every partition's campaign clusters, from the trends topic, read once ``fleet`` is.
        self.fleet_campaigns = FleetCampaigns()
        # Whether this process announces the fleet's campaigns (``lead_campaigns``).
        self.campaign_lead = True
        # The fleet's campaigns of the parts last seen, grouped again when they change.
        self.grouping = PartGrouping(
            s.near_duplicate_similarity, s.campaign_min_posts, s.campaign_min_accounts
        )
        # Every partition's trend buckets, from the trends topic (``kafka.trends``): when set,
        # trends are read from it, the same on every worker.
        self.fleet: FleetTrends | None = None
        self._min_posts = settings.spam.campaign_min_posts

    def _partition(self, source: Source) -> _Partition:
        part = self._partitions.get(source)
        if part is None:
            spam = SpamDetector(self.settings.spam, self.hasher)
            trends = TrendDetector(self.settings.trends, self._excluded)
            part = self._partitions[source] = _Partition(spam, trends)
        return part

    @property
    def stateful(self) -> bool:
        """Whether there is any state to keep (false with both spam checks and trends off)."""
        return self.enabled or self.trends_enabled

    def check(
        self, source: Source, offset: int, mention: Mention, brands: Sequence[str], owned: bool
    ) -> str | None:
        """The reason ``mention`` (matching ``brands``, read at ``offset``) is filtered, or None.

        A filtered mention is kept out of sentiment and share of voice; under
        ``include_filtered`` the reason is still counted, but None is returned. A mention at
        or below the partition's applied offset was judged before the state was saved: it is
        not judged again (None; the window store skips it as well).
        """
        return self.check_batch(source, ((offset, mention, brands, owned),))[0]

    def check_batch(
        self, source: Source, batch: Sequence[tuple[int, Mention, Sequence[str], bool]]
    ) -> list[str | None]:
        """``check`` of each (offset, mention, brands, owned) of ``source``, in offset order.

        The same verdicts as ``check`` one by one; the texts to judge are fingerprinted and
        translated for tokenising in numpy passes first (one text alone costs the MinHash a
        dozen numpy calls, a batch a few µs a text), the brand's own posts and mentions seen
        before left out, and the settings and methods the loop needs read once.
        """
        part = self._partitions.get(source) or self._partition(source)
        fresh = [m.text for offset, m, _, owned in batch if offset > part.offset and not owned]
        enabled, trends_enabled = self.enabled, self.trends_enabled
        if enabled and fresh:
            self.hasher.prepare(fresh)
        if trends_enabled and fresh:
            self.tokeniser.prefetch(fresh)
        classify, fingerprint = part.spam.judge, self.hasher.fingerprint
        terms_of, trends = self.tokeniser.terms, part.trends.brands
        add_filtered = part.trends.add_filtered
        counted, include = self.filtered, self.include_filtered
        out: list[str | None] = []
        for offset, mention, brands, owned in batch:
            if offset <= part.offset:
                out.append(None)
                continue
            part.offset = offset
            if owned:
                out.append(None)
                continue
            ts = mention.created_at.timestamp()
            if ts > part.latest:
                part.latest = ts
            verdict = classify(mention, fingerprint(mention.text), ts) if enabled else None
            if verdict is None or not verdict.reasons:
                if trends_enabled:
                    terms = terms_of(mention.text, mention.language)
                    for brand in brands:
                        state = trends.get(brand)
                        if state is not None:
                            state.add(ts, terms)
                out.append(None)
                continue
            reason = next(r for r in FILTER_REASONS if r in verdict.reasons)
            if offset >= part.replay_until:
                for brand in brands:
                    counted[brand][reason] += 1
            for brand in brands:  # state, like the trend terms: a re-read after a restore adds it
                add_filtered(brand, ts, reason)
            if not _CLUSTER_REASONS.isdisjoint(verdict.reasons):
                part.campaign_brands.setdefault(verdict.cluster, set()).update(brands)
                if len(part.campaign_brands) > part.prune_at:
                    part.prune()
            out.append(None if include else reason)
        return out

    def advance(self, source: Source, offset: int) -> None:
        """``source`` was read up to ``offset`` (its mentions judged): the state stands there."""
        part = self._partition(source)
        part.offset = max(part.offset, offset)

    # -- the state topic ----------------------------------------------------------------------

    def changed(self, source: Source) -> bool:
        """Whether ``source`` moved past the offset of its last snapshot (or restore)."""
        part = self._partitions.get(source)
        return part is not None and part.offset > part.snapshot_offset

    def snapshot_worth(self, source: Source) -> bool:
        """Whether ``source`` read on far enough since its last snapshot for another to pay.

        A snapshot writes the whole spam window; a crash costs re-reading what came after the
        last one. Waiting until the partition has read ``SNAPSHOT_AFTER_SHARE`` of the posts
        its window holds keeps what the state topic receives in proportion to the input, and
        the re-read after a crash within about as much work as a restore.
        """
        part = self._partitions.get(source)
        if part is None:
            return False
        held = len(part.spam.index) if self.enabled else 0
        return part.offset - part.snapshot_offset >= held * SNAPSHOT_AFTER_SHARE

    def snapshot(self, source: Source) -> bytes:
        """The state of ``source`` with the offset it stands at, for the state topic."""
        part = self._partition(source)
        part.prune()
        state = _PartitionState(
            version=STATE_VERSION,
            offset=part.offset,
            latest=part.latest,
            spam=part.spam.state() if self.enabled else None,
            trends={brand: t.snapshot() for brand, t in part.trends.brands.items() if t.buckets},
            campaign_brands=[(c, sorted(b)) for c, b in part.campaign_brands.items()],
        )
        part.snapshot_offset = part.offset
        return _encode_state(state)

    def restore(self, source: Source, data: bytes) -> int:
        """Install a ``snapshot`` of ``source``; returns the offset it stands at.

        Raises ``ValueError`` for state this build cannot read.
        """
        try:
            with _no_collections():
                state = _decode_state(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            raise ValueError(f"signals state of {source} is unreadable: {e}") from e
        if state.version != STATE_VERSION:
            raise ValueError(f"signals state version {state.version} is not {STATE_VERSION}")
        self._partitions.pop(source, None)
        part = self._partition(source)
        part.offset = part.snapshot_offset = state.offset
        part.latest = state.latest
        if state.spam is not None and self.enabled:
            with _no_collections():
                part.spam.restore(state.spam)
        ts = self.settings.trends
        for brand, blob in state.trends.items():
            if brand in part.trends.brands:
                part.trends.brands[brand] = BrandTrends.restore(
                    blob, ts, self._excluded.get(brand, frozenset())
                )
        # Brands no longer configured leave with the state: no incident, label or part of theirs.
        part.campaign_brands = {
            c: kept for c, b in state.campaign_brands if (kept := set(b) & self._excluded.keys())
        }
        return state.offset

    def trend_updates(self, source: Source) -> list[tuple[str, int, bytes, bytes, dict[str, int]]]:
        """(brand, bucket, count-min, heavy hitters, filtered) of ``source``'s changed buckets."""
        part = self._partitions.get(source)
        if part is None:
            return []
        out = []
        for brand, state in part.trends.brands.items():
            for index, bucket in state.take_changed():
                out.append((brand, index, *bucket.serialized(), dict(bucket.filtered)))
        return out

    def latest_of(self, source: Source) -> float:
        """The latest event time ``source`` judged (-inf before the first)."""
        part = self._partitions.get(source)
        return part.latest if part is not None else float("-inf")

    def new_fleet(self, attach: bool = True) -> FleetTrends:
        """A fleet view of trends (to fill from the trends topic), read from now on if ``attach``.

        ``use_fleet`` attaches it later, once it holds the fleet's state.
        """
        fleet = FleetTrends(self.settings.trends, self._excluded)
        if attach:
            self.fleet = fleet
        return fleet

    def use_fleet(self, fleet: FleetTrends) -> None:
        """Read trends from ``fleet`` from now on."""
        self.fleet = fleet

    def replay(self, source: Source, until: int) -> None:
        """Offsets of ``source`` below ``until`` are read again: judge them, count none."""
        self._partition(source).replay_until = until

    def resume_offset(self, source: Source) -> int | None:
        """The first offset ``source``'s state has not seen (None: it has seen nothing)."""
        part = self._partitions.get(source)
        return part.offset + 1 if part is not None and part.offset >= 0 else None

    def drop(self, sources: Iterable[Source]) -> None:
        """Forget partitions that are gone (their new owner restores them)."""
        for source in sources:
            self._partitions.pop(source, None)

    @property
    def partitions(self) -> list[Source]:
        """The partitions with state here."""
        return sorted(self._partitions)

    # -- reading ------------------------------------------------------------------------------

    @property
    def trend_window(self) -> str:
        """The label of the recent window trends are judged over (``5m`` by default)."""
        seconds = self.settings.trends.recent_buckets * self.settings.trends.bucket_seconds
        return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"

    def brand_trends(self, brand: str) -> BrandTrends | None:
        """The brand's trend buckets merged over the fleet's partitions (None: unknown).

        Without a fleet view, over this process's partitions.
        """
        if brand not in self._excluded:
            return None
        if self.fleet is not None:
            return self.fleet.brand(brand)
        merged = BrandTrends(self.settings.trends, self._excluded[brand])
        for part in self._partitions.values():
            state = part.trends.brands.get(brand)
            if state is not None and state.buckets:
                merged.merge(state)
        return merged

    def filtered_of(self, brand: str, now: float) -> dict[str, int]:
        """The brand's filtered mentions per reason in the trend window at event time ``now``.

        The fleet's, from every partition's buckets like ``brand_trends`` (each reason present).
        """
        state = self.brand_trends(brand) if now > float("-inf") else None
        found = state.filtered(now) if state is not None else {}
        return {reason: found.get(reason, 0) for reason in FILTER_REASONS}

    def trends_ready(self, brand: str, now: float) -> bool:
        """Whether ``brand`` has a full baseline behind the recent window at ``now``."""
        state = self.brand_trends(brand)
        return state is not None and state.warm(now)

    def trends_of(self, brand: str, now: float) -> list[Trend]:
        """The brand's top trends at event time ``now`` (the fleet's, see ``brand_trends``)."""
        state = self.brand_trends(brand)
        return state.trends(now) if state is not None else []

    @property
    def event_time(self) -> float:
        """The latest event time of a mention checked here or in the fleet view (or -inf)."""
        here = max((p.latest for p in self._partitions.values()), default=float("-inf"))
        return max(here, self.fleet.latest) if self.fleet is not None else here

    def campaign_parts(self, source: Source) -> list[CampaignPart]:
        """The near-duplicate clusters of ``source`` (campaign candidates), a part per brand.

        Every cluster of ``spam.near_duplicate_min_posts`` posts or more (the largest, up to
        ``PARTS_PER_PARTITION`` parts, texts cut at ``PART_TEXT_CHARS``), not only those over
        the campaign thresholds here: a campaign
        spread over partitions may be below them in each. Each carries the MinHash signature of
        its first text (the hasher has one seed, so every worker computes the same), for
        ``group_parts`` to join one campaign's parts and judge the whole.
        """
        part = self._partitions.get(source)
        if part is None:
            return []
        out: list[CampaignPart] = []
        clusters = [
            (c, brands)
            for c in part.spam.near_duplicates(PARTS_PER_PARTITION)
            if (brands := part.campaign_brands.get(c.id))
        ]
        # In one pass: a scrape asks for every cluster, whose first texts have mostly left the
        # hasher's cache, and one text alone costs the MinHash a dozen numpy calls.
        fingerprints = self.hasher.fingerprints([c.text for c, _ in clusters])
        for (c, brands), fingerprint in zip(clusters, fingerprints, strict=True):
            signature = fingerprint.signature.tobytes()
            text = c.text[:PART_TEXT_CHARS]
            for b in sorted(brands)[: PARTS_PER_PARTITION - len(out)]:
                out.append(
                    CampaignPart(
                        source[0],
                        source[1],
                        c.id,
                        b,
                        text,
                        c.first_seen,
                        c.last_seen,
                        c.posts,
                        c.account_count,
                        signature,
                    )
                )
        return out

    def campaigns(self, brand: str | None = None) -> list[Campaign]:
        """The fleet's campaigns in the spam window, largest first; only ``brand``'s when given.

        Near-duplicate clusters of several partitions with similar first texts are one cluster,
        a campaign when the whole has ``spam.campaign_min_posts`` posts from
        ``campaign_min_accounts`` accounts, with one incident key: the clusters of the
        partitions held here as they stand, the others' from the trends topic once it is read
        (``fleet_campaigns``), less those whose last post left the window at the latest event
        time. A mention's own verdict stays its partition's (``check``).
        """
        parts = [p for s in sorted(self._partitions) for p in self.campaign_parts(s)]
        if self.fleet is not None:
            parts += self.fleet_campaigns.parts(besides=self._partitions)
            floor = self.event_time - self.settings.spam.window_seconds
            parts = [p for p in parts if p.last_seen > floor]
        # Parts of workers not yet rolled over may name brands no longer configured here.
        parts = [p for p in parts if p.brand in self._excluded]
        found = self.grouping(parts, self._known)
        return [c for c in found if brand is None or c.brand == brand]

    def lead_campaigns(self, lead: bool) -> None:
        """Whether this process announces the fleet's campaigns (and exports their gauge).

        On becoming the lead every live campaign is announced again: the alert dispatcher
        skips those the previous lead sent.
        """
        if lead and not self.campaign_lead:
            self._open = {}
            self._known = {}
        self.campaign_lead = lead

    def campaign_transitions(self) -> list[Transition]:
        """Campaigns that began or ended since the last call, as incident transitions.

        An incident's key hashes the brand, the signal and the minute of the campaign's first
        post, so a replay or a restart that sees the same posts names the same incident.
        """
        live = {c.key: c for c in self.campaigns()}
        at = self.event_time
        minute = int(at // 60) if at > float("-inf") else 0
        out = []
        for key, c in live.items():
            if key not in self._open:
                out.append(_transition(c, "firing", minute, self._min_posts))
        for key, c in self._open.items():
            if key not in live:
                out.append(_transition(c, "resolved", minute, self._min_posts))
        self._open = live
        self._known = {p: c.key for c in live.values() for p in c.parts}
        for part in self._partitions.values():
            part.prune()
        return out


def _transition(
    c: Campaign, state: Literal["firing", "resolved"], minute: int, min_posts: int
) -> Transition:
    """Observed: the campaign's posts; the band ends at ``campaign_min_posts``; score: the ratio."""
    return Transition(
        brand=c.brand,
        signal=CAMPAIGN_SIGNAL,
        state=state,
        minute=minute,
        started_minute=int(c.first_seen // 60),
        key=c.key,
        observed=float(c.posts),
        expected=0.0,
        lower=0.0,
        upper=float(min_posts),
        score=c.posts / min_posts,
    )
