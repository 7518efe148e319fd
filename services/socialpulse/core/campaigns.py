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
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import msgspec
import numpy as np
import numpy.typing as npt

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
    similar: SimilarSignatures | None = None,
) -> list[Campaign]:
    """The campaigns of ``parts``: a brand's parts with similar signatures are one, largest first.

    Two parts are one when their signatures' estimated Jaccard similarity is at ``threshold``
    or above, or both are one with a third; a group is a campaign when its parts add up to
    ``min_posts`` posts and ``min_accounts`` accounts (the thresholds judge the whole, not a
    partition's share). A group holding a part of ``known`` (part -> key of a campaign
    announced before) keeps that key (the smallest, if several). ``similar`` (made with the
    same ``threshold``) remembers which signatures are similar from one call to the next.
    """
    known = known or {}
    pairs = similar.pairs if similar is not None else lambda items: _similar_pairs(items, threshold)
    by_brand: dict[str, list[CampaignPart]] = {}
    for p in sorted(parts, key=lambda p: (p.first_seen, p.id)):
        by_brand.setdefault(p.brand, []).append(p)
    out: list[Campaign] = []
    for brand, items in by_brand.items():
        root = list(range(len(items)))
        for i, j in pairs(items):
            a, b = _find(root, i), _find(root, j)
            root[max(a, b)] = min(a, b)
        groups: dict[int, list[CampaignPart]] = {}
        for i, p in enumerate(items):
            groups.setdefault(_find(root, i), []).append(p)
        for group in groups.values():
            # Judged before the campaign is made (its key is a hash): most groups are below.
            if sum(p.posts for p in group) >= min_posts:
                if sum(p.accounts for p in group) >= min_accounts:
                    out.append(_campaign(brand, group, known))
    if similar is not None:
        similar.retain(by_brand)
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
        self._similar = SimilarSignatures(threshold)
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
                now, self._threshold, known, self._min_posts, self._min_accounts, self._similar
            )
            self._parts, self._known = now, known
            self.computed += 1
        return list(self._found)


# Parts compared with all others at once, in blocks of rows: bounded memory (block × n values).
_BLOCK: Final = 256


def _similar_rows(
    rows: npt.NDArray[np.uint32], matrix: npt.NDArray[np.uint32], threshold: float
) -> Iterator[tuple[int, int]]:
    """(row, column) of each signature of ``rows`` ``threshold`` similar to one of ``matrix``.

    The similarity of every pair, in numpy blocks: each partition publishes hundreds of
    near-duplicate clusters, too many to compare one pair at a time.
    """
    size = matrix.shape[1]
    for lo in range(0, len(rows), _BLOCK):
        block = rows[lo : lo + _BLOCK]
        equal = np.count_nonzero(block[:, None, :] == matrix[None, :, :], axis=2)
        found_rows, cols = np.nonzero(equal / size >= threshold)  # as ``neardup.similarity``
        for r, c in zip(found_rows.tolist(), cols.tolist(), strict=True):
            yield lo + r, c


def _similar_pairs(items: Sequence[CampaignPart], threshold: float) -> Iterator[tuple[int, int]]:
    """Index pairs ``i < j`` of ``items`` whose signatures are ``threshold`` similar or more."""
    by_size: dict[int, list[int]] = {}
    sigs = [np.frombuffer(p.signature, dtype=np.uint32) for p in items]
    for i, sig in enumerate(sigs):
        by_size.setdefault(sig.size, []).append(i)
    for size, idx in by_size.items():
        if size == 0 or len(idx) < 2:
            continue
        matrix = np.stack([sigs[i] for i in idx])
        for r, c in _similar_rows(matrix, matrix, threshold):
            if r < c:
                yield idx[r], idx[c]


class SimilarSignatures:
    """Which of a brand's part signatures are ``threshold`` similar, remembered across calls.

    A part keeps its signature (its cluster's first text) while it lives; from one grouping to
    the next a few parts are new and most are not. Only the signatures not met in the last
    call are compared, with all of the call's (``_similar_rows``); those absent are forgotten.
    The pairs found join what ``_similar_pairs`` would join (the same components).
    """

    def __init__(self, threshold: float) -> None:
        self._threshold = threshold
        # brand -> signature -> the signatures similar to it (itself excluded).
        self._near: dict[str, dict[bytes, set[bytes]]] = {}

    def retain(self, brands: Iterable[str]) -> None:
        """Forget the signatures of brands not in ``brands`` (none of their parts is left)."""
        keep = set(brands)
        for brand in [b for b in self._near if b not in keep]:
            del self._near[brand]

    def pairs(self, items: Sequence[CampaignPart]) -> Iterator[tuple[int, int]]:
        """Index pairs of ``items`` (one brand's parts) that join their groups.

        Not every similar pair: parts of one signature are chained, which joins them alike.
        """
        if not items:
            return
        at: dict[bytes, list[int]] = {}
        for i, p in enumerate(items):
            at.setdefault(p.signature, []).append(i)
        near = self._near.setdefault(items[0].brand, {})
        for gone in [sig for sig in near if sig not in at]:
            for other in near.pop(gone):
                near[other].discard(gone)
        new = [sig for sig in at if sig not in near]
        for sig in new:
            near[sig] = set()
        self._compare(near, new, list(at))
        for sig, idx in at.items():
            yield from itertools.pairwise(idx)
            if sig:  # as ``_similar_pairs``: an empty signature is like no other
                # (nor is a malformed one: ``_compare`` left it without neighbours)
                for other in near[sig]:
                    if other > sig:
                        yield idx[0], at[other][0]

    def _compare(self, near: dict[bytes, set[bytes]], new: list[bytes], every: list[bytes]) -> None:
        """Record in ``near`` the similar pairs of ``new`` and ``every`` signature (equal sizes)."""
        fresh_by_size: dict[int, list[bytes]] = {}
        for sig in new:
            if sig and len(sig) % 4 == 0:  # else no uint32 values: like no other (and empty)
                fresh_by_size.setdefault(len(sig), []).append(sig)
        for size, fresh in fresh_by_size.items():
            held = [sig for sig in every if len(sig) == size]
            matrix = np.frombuffer(b"".join(held), np.uint32).reshape(len(held), -1)
            rows = np.frombuffer(b"".join(fresh), np.uint32).reshape(len(fresh), -1)
            for r, c in _similar_rows(rows, matrix, self._threshold):
                a, b = fresh[r], held[c]
                if a != b:
                    near[a].add(b)
                    near[b].add(a)


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
