"""Texts of a batch translated by character class in one numpy pass: kept characters stay.

``str.translate`` with a mapping is fast on ASCII alone; one emoji or accented letter sends
the whole text down a per-character path that costs ~30 ns a character (about 4 µs for a
demo mention). A poll batch's texts joined, viewed as UTF-32 code points and looked up in a
table of the kept ones cost a fraction of that per text. The result is exactly what the
per-text ``str.translate`` gives (tested property by property against it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Final

import numpy as np
import numpy.typing as npt

_BMP: Final = 0x10000
_SPACE: Final = np.uint32(0x20)
_ALL: Final = np.uint32(0xFFFFFFFF)


class CharClass:
    """A set of kept characters, given by a predicate; everything else becomes one space.

    The Basic Multilingual Plane is tabulated once (65,536 predicate calls, ~10 ms); the few
    code points above it that a batch holds (emoji, mostly) are asked one by one.
    """

    def __init__(self, keep: Callable[[str], bool]) -> None:
        self._keep = keep
        self._table: npt.NDArray[np.uint32] | None = None
        self._astral: dict[int, bool] = {}

    def _bmp(self) -> npt.NDArray[np.uint32]:
        if self._table is None:
            keep = self._keep
            flags = np.fromiter((keep(chr(c)) for c in range(_BMP)), dtype=np.bool_, count=_BMP)
            self._table = np.where(flags, _ALL, np.uint32(0)).astype(np.uint32)
        return self._table

    def _masked(
        self, texts: Sequence[str]
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
        """The batch's code points joined, and all ones where kept, zero where not."""
        joined = "".join(texts)
        codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        # A mask, not a boolean index (measured at half the cost of ``np.where`` on a batch).
        mask = np.take(self._bmp(), codes, mode="clip")
        high = np.flatnonzero(codes >= _BMP)
        if high.size:
            astral = codes[high].tolist()
            known = self._astral
            for code in set(astral).difference(known):
                known[code] = self._keep(chr(code))
            flags = [known[c] for c in astral]
            mask[high] = np.where(np.array(flags, dtype=np.bool_), _ALL, np.uint32(0))
        return codes, mask

    def translate(self, texts: Sequence[str]) -> list[str]:
        """Each text with every character not kept replaced by a space (lengths unchanged)."""
        if not texts:
            return []
        codes, mask = self._masked(texts)
        out = (codes & mask) | (_SPACE & ~mask)
        return _split(out, list(accumulate(map(len, texts))))

    def words(self, texts: Sequence[str]) -> list[str]:
        """Each text's runs of kept characters joined by single spaces.

        What ``" ".join(t.split())`` of each ``translate``d text gives, when no kept character
        is whitespace (``str.split`` splits at any), for half its cost on a poll batch.
        """
        if not texts:
            return []
        codes, mask = self._masked(texts)
        kept = mask.astype(np.bool_)
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        ends = np.cumsum(lengths)
        # A character stays if kept or right after a kept one of its text: runs collapse to
        # one space and leading spaces go; a trailing one is stripped from the string.
        stays = kept.copy()
        stays[1:] |= kept[:-1]
        firsts = (ends - lengths)[lengths > 0]
        stays[firsts] = kept[firsts]
        at = np.flatnonzero(stays)
        out = ((codes & mask) | (_SPACE & ~mask))[at]
        return [t.rstrip(" ") for t in _split(out, np.searchsorted(at, ends).tolist())]


def _split(codes: npt.NDArray[np.uint32], ends: list[int]) -> list[str]:
    """The joined ``codes`` as one string, cut at ``ends``."""
    whole = codes.tobytes().decode("utf-32-le", "surrogatepass")
    return [whole[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]
