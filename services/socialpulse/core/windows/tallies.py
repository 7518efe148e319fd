"""tallies: a settled hour's author tallies in parallel arrays, about 41 bytes an author.

Every bucket-hour holds one ``AuthorTally`` per distinct mention author, and the same authors
recur hour after hour, in the window store and again in the join view: as a dict of structs an
entry costs about 100 bytes (the entry, the struct, its follower count), which made author
tallies the largest part of the state that grows with traffic. An hour nothing is still rolling
into is read (window totals entering or leaving it, an hour's sum for the top authors) but
rarely written, so the store freezes its tallies into ``ColdTallies``: a tuple of author ids, a
tuple of handles (both interned, so shared by every hour that names them), one array of
follower counts, mentions and filtered mentions, and one byte of ``verified`` each.

``ColdTallies`` is a read-only ``Mapping`` equal to the dict it was made from, in the same
order, and it serialises as that dict (``bucket.to_bytes``), so state bytes and every KPI are
unchanged. A late event for a frozen hour thaws it back into a dict (``thawed``).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping
from typing import Final

from socialpulse.core.windows.bucket import AuthorTally

# Below this many authors a dict costs no more than the arrays' own headers.
FREEZE_FROM: Final = 4


class ColdTallies(Mapping[str, AuthorTally]):
    """Author id -> tally, read-only, as parallel arrays in the dict's order."""

    __slots__ = ("_handles", "_ids", "_numbers", "_verified")

    def __init__(self, tallies: Mapping[str, AuthorTally]) -> None:
        self._ids = tuple(tallies)
        values = tallies.values()
        self._handles = tuple(t.handle for t in values)
        numbers = array("q")
        for t in values:
            numbers.extend((t.followers, t.mentions, t.filtered))
        self._numbers = numbers
        self._verified = bytes(t.verified for t in values)

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __getitem__(self, author: str) -> AuthorTally:
        # Rare (a delta's "before" of an author a late event touches): a scan is enough.
        for i, a in enumerate(self._ids):
            if a == author:
                return self._tally(i)
        raise KeyError(author)

    def __contains__(self, author: object) -> bool:
        return author in self._ids

    def _tally(self, i: int) -> AuthorTally:
        n = self._numbers
        return AuthorTally(
            self._handles[i], n[3 * i], bool(self._verified[i]), n[3 * i + 1], n[3 * i + 2]
        )

    def items(self) -> Iterator[tuple[str, AuthorTally]]:  # type: ignore[override]
        """(author, a fresh tally) in the frozen dict's order: what merges and totals read."""
        n, handles, verified = self._numbers, self._handles, self._verified
        for i, a in enumerate(self._ids):
            j = 3 * i
            yield a, AuthorTally(handles[i], n[j], bool(verified[i]), n[j + 1], n[j + 2])

    def values(self) -> Iterator[AuthorTally]:  # type: ignore[override]
        """Fresh tallies in order."""
        return (t for _, t in self.items())

    def __repr__(self) -> str:
        return f"ColdTallies({dict(self.items())!r})"


def frozen(tallies: Mapping[str, AuthorTally] | None) -> Mapping[str, AuthorTally] | None:
    """``tallies`` as ``ColdTallies`` when that holds them in less memory, else as they are."""
    if type(tallies) is dict and len(tallies) >= FREEZE_FROM:
        return ColdTallies(tallies)
    return tallies


def thawed(tallies: Mapping[str, AuthorTally] | None) -> dict[str, AuthorTally] | None:
    """``tallies`` as a mutable dict (the same object when it is one already)."""
    if tallies is None or isinstance(tallies, dict):
        return tallies
    return dict(tallies.items())
