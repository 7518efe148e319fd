"""What each measure kind of the catalogue is in code: its stored type, window zero and merge.

A number kind is summed (``merge`` None: the accumulator adds it inline); any other kind
merges one newer-to-older bucket's (or another window accumulator's) value into the window's in
place, and is skipped when the bucket's value is empty (None until it holds something). ``roll``
folds an older minute's value into its hour's bucket (``roll_into``). A new kind (a sketch,
say) is one ``MeasureCode`` here and one entry in ``catalogue.MeasureKind``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from datasketches import hll_sketch, hll_union, tgt_hll_type

from socialpulse.core.catalogue import MEASURES, MeasureKind
from socialpulse.core.windows.bucket import REACH_LG_K, AuthorTally, Bucket

_HLL_8: Final = tgt_hll_type.HLL_8
_HLL_4: Final = tgt_hll_type.HLL_4


@dataclass(frozen=True, slots=True)
class MeasureCode:
    """A measure kind's ``Bucket`` field type, its zero over a window, its merge, its reading.

    ``merge`` is None for numbers, which are summed. ``read`` gives the window's value as one
    number (a count, a distinct count, an estimate), or is None where there is no such number.
    ``roll`` returns a newer bucket's value with an older one's folded in (either may be None).
    """

    bucket_type: Any
    zero: Callable[[], Any]
    merge: Callable[[Any, Any], None] | None
    roll: Callable[[Any, Any], Any]
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
            into[author] = AuthorTally(t.handle, t.followers, t.verified, t.mentions, t.filtered)
        else:
            seen.followers = max(seen.followers, t.followers)
            seen.verified = seen.verified or t.verified
            seen.mentions += t.mentions
            seen.filtered += t.filtered


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


def _add(newer: Any, older: Any) -> Any:
    return newer + older


def _rolled(merge: Callable[[Any, Any], None]) -> Callable[[Any, Any], Any]:
    """A roll from an in-place merge: the older value is taken over (its bucket is dropped)."""

    def roll(newer: Any, older: Any) -> Any:
        if older is None:
            return newer
        if newer is None:
            return older
        merge(newer, older)
        return newer

    return roll


def _hll_roll(newer: Any, older: Any) -> Any:
    if newer is None or older is None:
        return older if newer is None else newer
    union = hll_union(REACH_LG_K)
    union.update(newer)
    union.update(older)
    return union.get_result(_HLL_4)


def _size(ids: set[str]) -> int:
    return len(ids)


def _update(into: Any, other: Any) -> None:
    into.update(other)


CODE: Final[Mapping[MeasureKind, MeasureCode]] = {
    "count": MeasureCode(int, int, None, _add, int),
    "total": MeasureCode(float, float, None, _add, float),
    "label_counts": MeasureCode(dict[str, int] | None, dict, add_counts, _rolled(add_counts)),
    "distinct": MeasureCode(set[str] | None, set, _union, _rolled(_union), _size),
    "hll": MeasureCode(
        hll_sketch | None, lambda: hll_union(REACH_LG_K), _hll_union, _hll_roll, _estimate
    ),
    "authors": MeasureCode(Mapping[str, AuthorTally] | None, dict, _tally, _rolled(_tally)),
    "earliest": MeasureCode(dict[str, float] | None, dict, keep_min, _rolled(keep_min)),
    "series": MeasureCode(list[tuple[float, int]] | None, list, _extend, _rolled(_extend)),
    "join_map": MeasureCode(dict[str, str] | None, dict, _not_merged, _rolled(_update)),
    "join_set": MeasureCode(set[str] | None, set, _not_merged, _rolled(_update)),
}

_ROLLS: Final = tuple((m.name, CODE[m.kind].roll) for m in MEASURES)
_TOTALS: Final = tuple(m.name for m in MEASURES if m.kind == "total")
# Every double is a whole multiple of 2^-1074 (the smallest subnormal).
SCALE: Final = 1 << 1074


def exact(x: float) -> int:
    """``x`` in units of 2^-1074, exactly."""
    n, d = x.as_integer_ratio()
    return n * (SCALE // d)


def exact_rest(parts: tuple[float, ...]) -> int:
    """The exact sum of a ``Bucket.rest`` entry, in units of 2^-1074."""
    return sum(map(exact, parts))


def _as_doubles(units: int) -> tuple[float, ...]:
    """Fewest doubles whose exact sum is ``units`` × 2^-1074 (nearly always one).

    Each takes the next 53 bits of what is left, correctly rounded.
    """
    parts = []
    while units:
        part = units / SCALE  # correctly rounded, so the remainder shrinks by 52 bits or more
        parts.append(part)
        units -= exact(part)
    return tuple(parts)


def _lost(hour: Bucket, older: Bucket) -> list[tuple[str, float]]:
    """What adding ``older``'s float sums to ``hour``'s rounds away (TwoSum: exact, no overflow)."""
    lost = []
    for name in _TOTALS:
        a = getattr(hour, name)
        b = getattr(older, name)
        if a and b:
            s = a + b
            bb = s - a
            err = (a - (s - bb)) + (b - bb)
            if err:
                lost.append((name, err))
    return lost


def roll_into(hour: Bucket, older: Bucket) -> None:
    """Fold a minute's bucket into its hour's (fed newest first; ``older`` is consumed).

    The float sums are added as doubles; what that rounds away goes to ``hour.rest``, so the
    hour's exact value is the exact sum of what it absorbed.
    """
    lost = _lost(hour, older)
    for name, roll in _ROLLS:
        setattr(hour, name, roll(getattr(hour, name), getattr(older, name)))
    hour.offset = max(hour.offset, older.offset)
    if lost or older.rest:
        units = {name: exact_rest(parts) for name, parts in (hour.rest or {}).items()}
        for name, parts in (older.rest or {}).items():
            units[name] = units.get(name, 0) + exact_rest(parts)
        for name, err in lost:
            units[name] = units.get(name, 0) + exact(err)
        # Kept as the fewest doubles: one per sum nearly always (about 250 bytes an hour).
        rest = {name: _as_doubles(n) for name, n in units.items() if n}
        hour.rest = rest or None
