"""posts: a compact post -> (author, is UGC) index of rolled-up hours, for an in-memory store.

Engagement received, UGC engagements and the top authors join each engagement to the mention it
is on, so a store must find any mention of its longest window by id. In buckets that is a dict
entry per mention (and a string key), about 200 bytes; a week of the demo's mentions is 30
million of them. A store that is never persisted (the fleet's join view, rebuilt from the joins
topic) moves the mentions of hours already rolled up into sorted machine arrays instead: per
post an 8-byte key, its minute and UGC flag in 4 bytes, its author as a 4-byte slot and its
source as 2: 18 bytes.

A key is Python's 64-bit ``hash`` of the post id, which is stable within a process: the archive
is never written anywhere. Two distinct ids of one brand among n archived posts share a key with
probability about n²/2⁶⁵ (below 10⁻⁴ at 30 million); a lookup then finds the older post's author.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np

_MASK: Final = (1 << 64) - 1


def post_key(post: str) -> int:
    """The archive's key of a post id (unsigned 64-bit)."""
    return hash(post) & _MASK


class PostArchive:
    """One brand's archived posts: keys sorted, with minute × 2 + UGC, author slot and source."""

    __slots__ = ("_authors", "_codes", "_keys", "_sources")

    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.uint64)
        self._codes = np.empty(0, dtype=np.int32)
        self._authors = np.empty(0, dtype=np.int32)
        self._sources = np.empty(0, dtype=np.int16)

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, rows: Iterable[tuple[int, int, int, int]]) -> None:
        """Archive (key, minute × 2 + is UGC, author slot, source slot) rows.

        The new rows are sorted and inserted in place (one pass over the arrays, not a sort
        of everything: a late event for a rolled hour adds a row or two).
        """
        listed = list(rows)
        if not listed:
            return
        new_keys = np.array([r[0] for r in listed], dtype=np.uint64)
        rest = np.array([r[1:] for r in listed], dtype=np.int64)
        order = np.argsort(new_keys, kind="stable")
        new_keys, rest = new_keys[order], rest[order]
        at = np.searchsorted(self._keys, new_keys)
        self._keys = np.insert(self._keys, at, new_keys)
        self._codes = np.insert(self._codes, at, rest[:, 0].astype(np.int32))
        self._authors = np.insert(self._authors, at, rest[:, 1].astype(np.int32))
        self._sources = np.insert(self._sources, at, rest[:, 2].astype(np.int16))

    def find(self, key: int, oldest: int) -> list[tuple[int, int]]:
        """(minute × 2 + is UGC, author slot) of archived posts with ``key`` from ``oldest`` on.

        Almost always one or none; several when one post id was mentioned in several minutes
        or sources, or two ids share a key.
        """
        keys = self._keys
        i = int(np.searchsorted(keys, np.uint64(key)))
        out = []
        while i < len(keys) and int(keys[i]) == key:
            code = int(self._codes[i])
            if code >> 1 >= oldest:
                out.append((code, int(self._authors[i])))
            i += 1
        return out

    def holding(self, keys: Sequence[int]) -> list[bool]:
        """For each of ``keys``, whether it is archived (in any minute)."""
        if not len(self._keys):
            return [False] * len(keys)
        wanted = np.array(keys, dtype=np.uint64)
        at = np.minimum(np.searchsorted(self._keys, wanted), len(self._keys) - 1)
        return (self._keys[at] == wanted).tolist()  # type: ignore[no-any-return]

    def keep(self, oldest: int) -> None:
        """Forget posts of minutes before ``oldest`` (their buckets expired)."""
        live = (self._codes >> 1) >= oldest
        if not bool(live.all()):
            self._filter(live)

    def drop_sources(self, slots: Iterable[int]) -> None:
        """Forget the posts of sources (by slot) the store no longer holds."""
        gone = np.isin(self._sources, np.fromiter(slots, dtype=np.int16))
        if bool(gone.any()):
            self._filter(~gone)

    def _filter(self, mask: np.ndarray) -> None:
        self._keys, self._codes = self._keys[mask], self._codes[mask]
        self._authors, self._sources = self._authors[mask], self._sources[mask]

    def nbytes(self) -> int:
        """Bytes the arrays hold."""
        return sum(a.nbytes for a in (self._keys, self._codes, self._authors, self._sources))
