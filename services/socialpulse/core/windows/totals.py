"""totals: each window's measures kept up to date as buckets change and leave, read in O(windows).

A window's totals are the sum of every held bucket keyed at or after the window's start, as of
the last read; a read applies the changes since (``Delta``: what each changed bucket was when
last totalled), then moves each window's start to ``now``, subtracting the buckets that left it
(or adding those a start moved back over). Counts are exact integers; float sums are kept as
exact integers in units of 2^-1074 (every double is a whole number of them), so subtracting a
bucket gives back exactly what adding it gave, and a read is the correctly rounded sum of the
buckets' values in any order: equal after a restore, whatever order the buckets came back in.

Distinct ids (customers) are a multiset: id -> how many of the window's buckets hold it. An
author is one entry per window: mentions and filtered mentions summed, and the multiset of its
buckets' largest follower counts (the largest of them is the author's followers over the
window: potential reach sums them), so a bucket leaving takes exactly its part away. The window
keeps potential reach and the share-of-voice reach basis summed as entries change.

What only the join KPIs read (post and DM ids, engagements per post, account snapshots) and
the reach sketch (a HyperLogLog cannot be subtracted) are not totalled: the store reads them
from the buckets (``WindowStore.join_kpis``, the reach union only when a sketch changed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any, Final, cast

import msgspec

from socialpulse.core.catalogue import MEASURES
from socialpulse.core.kpis import WindowKpis
from socialpulse.core.windows.accumulator import window_kpis
from socialpulse.core.windows.bucket import AuthorTally, Bucket
from socialpulse.core.windows.measures import CODE, SCALE, exact, exact_rest

# Measures only the join KPIs read: a store with a fleet-wide join view keeps none of them.
JOIN_ONLY: Final = frozenset(
    {"posts", "ugc", "post_engagements", "dm_opened", "dm_replies", "snapshots"}
)
COUNTS: Final = tuple(m.name for m in MEASURES if m.kind == "count")
FLOATS: Final = tuple(m.name for m in MEASURES if m.kind == "total")
LABELS: Final = tuple(
    m.name for m in MEASURES if m.kind == "label_counts" and m.name not in JOIN_ONLY
)
DISTINCT: Final = tuple(m.name for m in MEASURES if m.kind == "distinct")
AUTHORS: Final = "authors"
_NUMBERS: Final = COUNTS + FLOATS
_get_numbers: Final = attrgetter(*_NUMBERS)
_get_labels: Final = attrgetter(*LABELS)
_get_distinct: Final = attrgetter(*DISTINCT)
# Each number a window reads, in catalogue order, and where ``WindowTotals.freeze`` has it.
_VALUES: Final = (*_NUMBERS, *DISTINCT, *(m.name for m in MEASURES if m.kind == "hll"))
_NUMBER_ORDER: Final = tuple((m.name, _VALUES.index(m.name)) for m in MEASURES if m.name in _VALUES)
_FLOAT_AT: Final = {name: i for i, name in enumerate(FLOATS)}


class _Author(msgspec.Struct, gc=False):
    """One author over one window (untracked by the cycle collector: it forms no cycles)."""

    mentions: int
    filtered: int
    # The largest of its buckets' follower counts, how many buckets have it, and how many
    # have each smaller count (None while none has).
    top: int
    at_top: int
    lower: dict[int, int] | None = None


class WindowTotals:
    """One window's totals from its first bucket (``start``) on."""

    __slots__ = (
        "authors",
        "counts",
        "distinct",
        "floats",
        "labels",
        "potential_reach",
        "start",
        "voiced",
    )

    def __init__(self, start: int) -> None:
        self.start = start
        self.counts = [0] * len(COUNTS)
        self.floats = [0] * len(FLOATS)
        self.labels: list[dict[str, int]] = [{} for _ in LABELS]
        self.distinct: list[dict[str, int]] = [{} for _ in DISTINCT]
        self.authors: dict[str, _Author] = {}
        self.potential_reach = 0
        self.voiced = 0  # followers of the authors with a mention not filtered

    def enter(self, b: Bucket) -> None:
        """Add a whole bucket."""
        self._bucket(b, 1)

    def leave(self, b: Bucket) -> None:
        """Take a whole bucket away (what ``enter`` added, exactly)."""
        self._bucket(b, -1)

    def _bucket(self, b: Bucket, sign: int) -> None:
        counts, floats = self.counts, self.floats
        for i, name in enumerate(COUNTS):
            counts[i] += sign * getattr(b, name)
        for i, name in enumerate(FLOATS):
            v = getattr(b, name)
            if v:
                floats[i] += sign * exact(v)
        if b.rest:  # what rolling its minutes up rounded away (``measures.roll_into``)
            for name, parts in b.rest.items():
                floats[_FLOAT_AT[name]] += sign * exact_rest(parts)
        for into, name in zip(self.labels, LABELS, strict=True):
            got = getattr(b, name)
            if got:
                _add_labels(into, got, sign)
        for held, name in zip(self.distinct, DISTINCT, strict=True):
            ids = getattr(b, name)
            if ids:
                _add_labels(held, dict.fromkeys(ids, 1), sign)
        tallies: Mapping[str, AuthorTally] | None = b.authors
        if tallies:
            if sign > 0:
                for author, t in tallies.items():
                    self._author_in(author, t.mentions, t.filtered, t.followers)
            else:
                for author, t in tallies.items():
                    self._author_out(author, t.mentions, t.filtered, t.followers)

    def apply(self, change: Change) -> None:
        """Add what one bucket gained since it was last totalled."""
        counts, floats = self.counts, self.floats
        for i, n in change.numbers:
            if i < len(counts):
                counts[i] += n
            else:
                floats[i - len(counts)] += n
        for i, got in change.labels:
            _add_labels(self.labels[i], got, 1)
        for i, ids in change.distinct:
            _add_labels(self.distinct[i], dict.fromkeys(ids, 1), 1)
        for author, before, t in change.authors:
            if before is None:
                self._author_in(author, t.mentions, t.filtered, t.followers)
            else:
                self._author_moved(author, before, t)

    def _author_in(self, author: str, mentions: int, filtered: int, followers: int) -> None:
        e = self.authors.get(author)
        if e is None:
            self.authors[author] = _Author(mentions, filtered, followers, 1)
            self.potential_reach += followers
            if mentions > filtered:
                self.voiced += followers
            return
        self._out(e)
        e.mentions += mentions
        e.filtered += filtered
        _add_value(e, followers)
        self._in(e)

    def _author_out(self, author: str, mentions: int, filtered: int, followers: int) -> None:
        e = self.authors[author]
        self._out(e)
        e.mentions -= mentions
        e.filtered -= filtered
        _remove_value(e, followers)
        if e.at_top:
            self._in(e)
        else:
            del self.authors[author]

    def _author_moved(self, author: str, before: tuple[int, int, int], t: AuthorTally) -> None:
        e = self.authors[author]
        self._out(e)
        e.mentions += t.mentions - before[0]
        e.filtered += t.filtered - before[1]
        if t.followers != before[2]:
            _remove_value(e, before[2])
            _add_value(e, t.followers)
        self._in(e)

    def _out(self, e: _Author) -> None:
        self.potential_reach -= e.top
        if e.mentions > e.filtered:
            self.voiced -= e.top

    def _in(self, e: _Author) -> None:
        self.potential_reach += e.top
        if e.mentions > e.filtered:
            self.voiced += e.top

    def freeze(
        self,
        reach: int,
        lifetime_windows: float,
        joined: tuple[int, int | None, tuple[float, ...]],
    ) -> WindowKpis:
        """The window's KPIs; ``reach`` estimated and the join KPIs read from the buckets.

        ``joined``: UGC engagements, followers at the window's start, DM first-response times
        (``WindowStore.join_kpis``).
        """
        values: list[int | float] = [*self.counts, *(f / SCALE for f in self.floats)]
        values.extend(len(ids) for ids in self.distinct)
        values.append(reach)
        # In catalogue order, as a merge of buckets gives them.
        numbers = {name: values[i] for name, i in _NUMBER_ORDER}
        return window_kpis(
            numbers,
            dict(zip(LABELS, self.labels, strict=True)),
            potential_reach=self.potential_reach,
            unique_authors=len(self.authors),
            voiced=self.voiced,
            ugc_engagements=joined[0],
            lifetime_windows=lifetime_windows,
            followers_at_window_start=joined[1],
            dm_first_response_seconds=joined[2],
        )


def _add_labels(into: dict[str, int], counts: dict[str, int], sign: int) -> None:
    for k, n in counts.items():
        v = into.get(k, 0) + sign * n
        if v:
            into[k] = v
        else:
            del into[k]


def _add_value(e: _Author, followers: int) -> None:
    if followers > e.top:
        if e.at_top:
            lower = e.lower if e.lower is not None else {}
            lower[e.top] = e.at_top
            e.lower = lower
        e.top, e.at_top = followers, 1
    elif followers == e.top:
        e.at_top += 1
    else:
        lower = e.lower if e.lower is not None else {}
        lower[followers] = lower.get(followers, 0) + 1
        e.lower = lower


def _remove_value(e: _Author, followers: int) -> None:
    if followers == e.top:
        e.at_top -= 1
        if not e.at_top and e.lower:
            e.top = max(e.lower)
            e.at_top = e.lower.pop(e.top)
            if not e.lower:
                e.lower = None
        return
    lower = e.lower
    if lower is None:
        raise KeyError(followers)
    n = lower[followers] - 1
    if n:
        lower[followers] = n
    else:
        del lower[followers]
        if not lower:
            e.lower = None


class ReachUnion:
    """Buckets' reach sketches (or other unions) unioned as an ``Accumulator`` unions them."""

    __slots__ = ("reach",)

    def __init__(self) -> None:
        self.reach = _HLL.zero()

    def add(self, b: Bucket | ReachUnion) -> None:
        """Union a bucket's sketch (when it has one) or another union."""
        if b.reach:
            _MERGE_HLL(self.reach, b.reach)

    def estimate(self) -> int:
        """The union's distinct-count estimate."""
        return int(_READ_HLL(self.reach))


_HLL: Final = CODE["hll"]
_MERGE_HLL: Final = cast(Callable[[Any, Any], None], _HLL.merge)
_READ_HLL: Final = cast(Callable[[Any], float], _HLL.read)


class Delta(msgspec.Struct, gc=False):
    """What one bucket was when last totalled: numbers, labels, and each author tallied since.

    An author's tally is recorded as it was before (``_NEW`` for one new to the bucket). Taken
    when an event first changes the bucket after a read; only authors are recorded as they
    change (a bucket may tally thousands), the small maps are copied whole. Nothing here is
    tracked by the cycle collector (it forms no cycles): a delta lives until the next read, and
    every tracked object that lived that long would bring the next full collection nearer.
    """

    numbers: tuple[Any, ...]
    labels: tuple[dict[str, int], ...]
    distinct: tuple[set[str] | None, ...]
    # Author id -> its tally before, packed into one int (``_pack``), so the map holds no
    # tracked object and the collector stops tracking it.
    authors: dict[str, int]

    @classmethod
    def of(cls, b: Bucket) -> Delta:
        """What ``b`` is now."""
        return cls(
            _get_numbers(b),
            tuple(dict(got) if got else _EMPTY for got in _get_labels(b)),
            tuple(set(got) if got else None for got in _as_tuple(_get_distinct(b))),
            {},
        )

    def author(self, author: str, t: AuthorTally | None) -> None:
        """Record the author's tally before an event changes it (the first change only)."""
        if author not in self.authors:
            self.authors[author] = _NEW if t is None else _pack(t)

    def change(self, b: Bucket) -> Change:
        """What the bucket gained since this was taken."""
        return Change(self, b)


_EMPTY: Final[dict[str, int]] = {}
_NEW: Final = -1
_FIELD: Final = 64  # bits per packed count (each is below 2^63: ``bucket``)
_MASK: Final = (1 << _FIELD) - 1


def _pack(t: AuthorTally) -> int:
    return (t.mentions << 2 * _FIELD) | (t.filtered << _FIELD) | t.followers


def _unpack(packed: int) -> tuple[int, int, int]:
    return packed >> 2 * _FIELD, packed >> _FIELD & _MASK, packed & _MASK


def _as_tuple(got: Any) -> tuple[Any, ...]:
    """``attrgetter`` of one name gives the value itself, of several a tuple."""
    return got if len(DISTINCT) > 1 else (got,)


class Change:
    """A bucket's gain since its ``Delta``, worked out once for every window it is in."""

    __slots__ = ("authors", "distinct", "labels", "numbers")

    def __init__(self, d: Delta, b: Bucket) -> None:
        numbers: list[tuple[int, int]] = []
        counts = len(COUNTS)
        for i, (after, before) in enumerate(zip(_get_numbers(b), d.numbers, strict=True)):
            if after != before:
                numbers.append((i, after - before if i < counts else exact(after) - exact(before)))
        self.numbers = numbers
        self.labels: list[tuple[int, dict[str, int]]] = []
        for i, (got, before_labels) in enumerate(zip(_get_labels(b), d.labels, strict=True)):
            if got and got != before_labels:
                gained = {k: n - before_labels.get(k, 0) for k, n in got.items()}
                self.labels.append((i, {k: n for k, n in gained.items() if n}))
        self.distinct: list[tuple[int, set[str]]] = []
        for i, (ids, before_ids) in enumerate(
            zip(_as_tuple(_get_distinct(b)), d.distinct, strict=True)
        ):
            if ids and len(ids) != len(before_ids or ()):  # ids are only ever added
                self.distinct.append((i, ids - before_ids if before_ids else set(ids)))
        tallies = b.authors or {}
        self.authors = [
            (a, None if before == _NEW else _unpack(before), tallies[a])
            for a, before in d.authors.items()
        ]


class BrandTotals:
    """Every window's totals of one brand, and the deltas of its buckets changed since a read.

    ``built`` False: the totals are to be summed afresh from the buckets at the next read (a
    restore, a rebalance, or never read yet); no deltas are kept meanwhile.
    """

    __slots__ = ("built", "deltas", "reach", "windows")

    def __init__(self) -> None:
        self.windows: list[WindowTotals] = []
        self.deltas: dict[tuple[Any, int], Delta] = {}
        self.built = False
        # Each window's reach estimate, or None when a sketch inside it may have changed.
        self.reach: list[int] | None = None

    def unbuild(self) -> None:
        """Sum afresh at the next read."""
        self.built = False
        self.deltas.clear()
        self.windows = []
        self.reach = None

    def build(self, starts: Sequence[int], buckets: Iterable[tuple[int, Bucket]]) -> None:
        """Sum every window afresh from (index, bucket) of every held bucket."""
        self.windows = [WindowTotals(s) for s in starts]
        for idx, b in buckets:
            for w in self.windows:
                if idx >= w.start:
                    w.enter(b)
        self.deltas.clear()
        self.built = True
        self.reach = None

    def enter(self, idx: int, b: Bucket) -> None:
        """A whole bucket at ``idx`` joins the windows it is in."""
        for w in self.windows:
            if idx >= w.start:
                w.enter(b)

    def leave(self, idx: int, b: Bucket) -> None:
        """A whole bucket at ``idx`` leaves the windows it was in."""
        for w in self.windows:
            if idx >= w.start:
                w.leave(b)
