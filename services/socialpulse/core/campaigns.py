"""Copy-paste campaigns fleet-wide: the clusters of several partitions joined into one campaign.

Producers key mentions by author, so a campaign posted from many accounts lands in several
mentions partitions, and each partition's spam detector sees its own cluster of it. Each
partition's live campaign clusters (``CampaignPart``, with the MinHash signature of the
cluster's first text) travel on the trends topic (``kafka.trends``) into every worker's
``FleetCampaigns``; ``group_parts`` joins the parts of one brand whose signatures are similar
(transitively) into one ``Campaign``, so the fleet raises one incident per campaign. Its key
(``campaign_key``) hashes the brand, the minute and the text of the earliest first post of its
parts, the same on every worker and after a restart, and distinct for two campaigns of a brand
begun in one minute; a campaign already announced keeps its key while any of its parts lives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import msgspec
import numpy as np

from socialpulse.core.windows.timeline import Source

CAMPAIGN_SIGNAL: Final = "copy_paste_campaign"

# A part's identity: (input topic, partition, cluster id, brand).
PartId = tuple[str, int, int, str]


class CampaignPart(msgspec.Struct, frozen=True, array_like=True):
    """One partition's cluster of a campaign among one brand's mentions."""

    topic: str
    partition: int
    cluster: int
    brand: str
    text: str
    first_seen: float
    last_seen: float
    posts: int
    accounts: int
    signature: bytes  # MinHash signature of ``text`` (uint32 values)

    @property
    def id(self) -> PartId:
        """The part's identity across publishes."""
        return (self.topic, self.partition, self.cluster, self.brand)


def campaign_key(brand: str, first_seen: float, text: str) -> str:
    """The idempotency key of a campaign of ``brand`` whose first post (of ``text``) was then."""
    minute = int(first_seen // 60)
    raw = f"socialpulse-campaign\x1f{brand}\x1f{CAMPAIGN_SIGNAL}\x1f{minute}\x1f{text}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Campaign:
    """A copy-paste campaign among one brand's mentions, as the alert and the API show it.

    ``accounts`` is the sum over its parts: exact while producers key mentions by author (an
    account's posts are in one partition), an upper bound otherwise.
    """

    brand: str
    key: str
    text: str
    first_seen: float
    last_seen: float
    posts: int
    accounts: int
    parts: tuple[PartId, ...] = ()


def group_parts(
    parts: Iterable[CampaignPart],
    threshold: float,
    known: Mapping[PartId, str] | None = None,
    min_posts: int = 0,
    min_accounts: int = 0,
) -> list[Campaign]:
    """The campaigns of ``parts``: a brand's parts with similar signatures are one, largest first.

    Two parts are one when their signatures' estimated Jaccard similarity is at ``threshold``
    or above, or both are one with a third; a group is a campaign when its parts add up to
    ``min_posts`` posts and ``min_accounts`` accounts (the thresholds judge the whole, not a
    partition's share). A group holding a part of ``known`` (part -> key of a campaign
    announced before) keeps that key (the smallest, if several).
    """
    known = known or {}
    by_brand: dict[str, list[CampaignPart]] = {}
    for p in sorted(parts, key=lambda p: (p.first_seen, p.id)):
        by_brand.setdefault(p.brand, []).append(p)
    out: list[Campaign] = []
    for brand, items in by_brand.items():
        root = list(range(len(items)))
        for i, j in _similar_pairs(items, threshold):
            a, b = _find(root, i), _find(root, j)
            root[max(a, b)] = min(a, b)
        groups: dict[int, list[CampaignPart]] = {}
        for i, p in enumerate(items):
            groups.setdefault(_find(root, i), []).append(p)
        for group in groups.values():
            c = _campaign(brand, group, known)
            if c.posts >= min_posts and c.accounts >= min_accounts:
                out.append(c)
    return sorted(out, key=lambda c: (-c.posts, c.first_seen, c.brand, c.key))


class PartGrouping:
    """``group_parts`` with fixed thresholds, its last answer kept while its parts stay the same.

    The fleet's campaigns are asked for every few seconds and at every scrape, while the parts
    change only when a partition's record arrives on the trends topic or a live cluster grows:
    grouping a thousand parts again each time (every pair compared) would repeat the same work.
    """

    def __init__(self, threshold: float, min_posts: int = 0, min_accounts: int = 0) -> None:
        self._threshold = threshold
        self._min_posts = min_posts
        self._min_accounts = min_accounts
        self._parts: tuple[CampaignPart, ...] | None = None
        self._known: dict[PartId, str] = {}
        self._found: list[Campaign] = []
        self.computed = 0  # times the parts were grouped (not given from the last answer)

    def __call__(
        self, parts: Iterable[CampaignPart], known: Mapping[PartId, str] | None = None
    ) -> list[Campaign]:
        """``group_parts(parts, threshold, known, min_posts, min_accounts)``, maybe the last one.

        The same parts in the same order, with the same known keys, give the last answer.
        """
        now = tuple(parts)
        known = dict(known or {})
        if now != self._parts or known != self._known:
            self._found = group_parts(
                now, self._threshold, known, self._min_posts, self._min_accounts
            )
            self._parts, self._known = now, known
            self.computed += 1
        return list(self._found)


# Parts compared with all others at once, in blocks of rows: bounded memory (block × n values).
_BLOCK: Final = 256


def _similar_pairs(items: Sequence[CampaignPart], threshold: float) -> Iterator[tuple[int, int]]:
    """Index pairs ``i < j`` of ``items`` whose signatures are ``threshold`` similar or more.

    The similarity of every pair, in numpy blocks: each partition publishes hundreds
    of near-duplicate clusters, too many to compare one pair at a time at every read.
    """
    by_size: dict[int, list[int]] = {}
    sigs = [np.frombuffer(p.signature, dtype=np.uint32) for p in items]
    for i, sig in enumerate(sigs):
        by_size.setdefault(sig.size, []).append(i)
    for size, idx in by_size.items():
        if size == 0 or len(idx) < 2:
            continue
        matrix = np.stack([sigs[i] for i in idx])
        for lo in range(0, len(idx), _BLOCK):
            block = matrix[lo : lo + _BLOCK]
            equal = np.count_nonzero(block[:, None, :] == matrix[None, :, :], axis=2)
            rows, cols = np.nonzero(equal / size >= threshold)  # as ``neardup.similarity``
            for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
                if lo + r < c:
                    yield idx[lo + r], idx[c]


def _find(root: list[int], i: int) -> int:
    """The representative of ``i``'s group (union-find with path halving)."""
    while root[i] != i:
        root[i] = root[root[i]]
        i = root[i]
    return i


def _campaign(brand: str, group: Sequence[CampaignPart], known: Mapping[PartId, str]) -> Campaign:
    """One campaign of ``group`` (sorted by first post): the first part's text."""
    first = group[0]
    held = sorted(known[p.id] for p in group if p.id in known)
    key = held[0] if held else campaign_key(brand, first.first_seen, first.text)
    return Campaign(
        brand,
        key,
        first.text,
        first.first_seen,
        max(p.last_seen for p in group),
        sum(p.posts for p in group),
        sum(p.accounts for p in group),
        tuple(p.id for p in group),
    )


class FleetCampaigns:
    """Every partition's campaign parts as the trends topic carries them, the newest per partition.

    A partition's record replaces the one held unless it was taken at an older offset (a
    crash's re-send, a fenced writer).
    """

    def __init__(self) -> None:
        self._held: dict[Source, tuple[int, list[CampaignPart]]] = {}
        self.latest = float("-inf")
        self.stale = 0

    def apply(
        self, source: Source, offset: int, latest: float, parts: Sequence[CampaignPart]
    ) -> bool:
        """Take one partition's published parts; False when older than the version held."""
        have = self._held.get(source)
        if have is not None and have[0] > offset:
            self.stale += 1
            return False
        self._held[source] = (offset, list(parts))
        self.latest = max(self.latest, latest)
        return True

    def parts(self, besides: Iterable[Source] = ()) -> list[CampaignPart]:
        """The parts of every partition but ``besides`` (those whose live state is at hand)."""
        skip = set(besides)
        return [p for s, (_, ps) in sorted(self._held.items()) if s not in skip for p in ps]
