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

    def translate(self, texts: Sequence[str]) -> list[str]:
        """Each text with every character not kept replaced by a space (lengths unchanged)."""
        if not texts:
            return []
        joined = "".join(texts)
        codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        # All ones where the character is kept, zero where not: a mask, not a boolean index
        # (measured at half the cost of ``np.where`` on a poll batch).
        mask = np.take(self._bmp(), codes, mode="clip")
        high = np.flatnonzero(codes >= _BMP)
        if high.size:
            astral = codes[high].tolist()
            known = self._astral
            for code in set(astral).difference(known):
                known[code] = self._keep(chr(code))
            flags = [known[c] for c in astral]
            mask[high] = np.where(np.array(flags, dtype=np.bool_), _ALL, np.uint32(0))
        out = (codes & mask) | (_SPACE & ~mask)
        whole = out.tobytes().decode("utf-32-le", "surrogatepass")
        ends = list(accumulate(map(len, texts)))
        return [whole[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]
