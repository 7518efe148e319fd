"""What each measure kind of the catalogue is in code: its stored type, window zero and merge.

A number kind is summed (``merge`` None: the accumulator adds it inline); any other kind
merges one newer-to-older bucket's (or another window accumulator's) value into the window's in
place, and is skipped when the bucket's value is empty. A new kind (a sketch, say) is one
``MeasureCode`` here and one entry in ``catalogue.MeasureKind``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from datasketches import hll_sketch, hll_union, tgt_hll_type

from socialpulse.core.catalogue import MeasureKind
from socialpulse.core.windows.bucket import REACH_LG_K, AuthorTally

_HLL_8: Final = tgt_hll_type.HLL_8


@dataclass(frozen=True, slots=True)
class MeasureCode:
    """A measure kind's ``Bucket`` field type, its zero over a window, its merge, its reading.

    ``merge`` is None for numbers, which are summed. ``read`` gives the window's value as one
    number (a count, a distinct count, an estimate), or is None where there is no such number.
    """

    bucket_type: Any
    zero: Callable[[], Any]
    merge: Callable[[Any, Any], None] | None
    read: Callable[[Any], int | float] | None = None


def add_counts(into: dict[str, int], counts: Mapping[str, int]) -> None:
    """Add per-key counts into ``into``."""
    for k, n in counts.items():
        into[k] = into.get(k, 0) + n


def keep_min(into: dict[str, float], times: Mapping[str, float]) -> None:
    """Keep the earliest time per key."""
    for k, t in times.items():
        if t < into.get(k, t + 1):
            into[k] = t


def _tally(into: dict[str, AuthorTally], tallies: Mapping[str, AuthorTally]) -> None:
    for author, t in tallies.items():
        seen = into.get(author)
        if seen is None:  # newest first: its handle is the current one
            into[author] = AuthorTally(t.handle, t.followers, t.verified, t.mentions)
        else:
            seen.followers = max(seen.followers, t.followers)
            seen.verified = seen.verified or t.verified
            seen.mentions += t.mentions


def _union(into: set[str], ids: set[str]) -> None:
    into.update(ids)


def _hll_union(into: Any, sketch: Any) -> None:
    """Union a bucket's sketch (absent when it saw no id) or another window's union."""
    if sketch is not None:
        into.update(sketch if isinstance(sketch, hll_sketch) else sketch.get_result(_HLL_8))


def _extend(into: list[Any], items: list[Any]) -> None:
    into.extend(items)


def _estimate(union: Any) -> int:
    """A sketch union's distinct-count estimate, rounded to a whole id."""
    return round(float(union.get_estimate()))


def _not_merged(into: Any, _: Any) -> None:
    raise TypeError("a per-bucket join measure is never merged over a window")


CODE: Final[Mapping[MeasureKind, MeasureCode]] = {
    "count": MeasureCode(int, int, None, int),
    "total": MeasureCode(float, float, None, float),
    "label_counts": MeasureCode(dict[str, int], dict, add_counts),
    "distinct": MeasureCode(set[str], set, _union, len),
    "hll": MeasureCode(hll_sketch | None, lambda: hll_union(REACH_LG_K), _hll_union, _estimate),
    "authors": MeasureCode(dict[str, AuthorTally], dict, _tally),
    "earliest": MeasureCode(dict[str, float], dict, keep_min),
    "series": MeasureCode(list[tuple[float, int]], list, _extend),
    "join_map": MeasureCode(dict[str, str], dict, _not_merged),
    "join_set": MeasureCode(set[str], set, _not_merged),
}
