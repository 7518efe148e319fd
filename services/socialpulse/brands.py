"""match: which tracked brands a mention speaks of, by configured terms, handles and exclusions."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from socialpulse.settings import BrandSettings

# A plain term also matches its #hashtag and @handle forms, so only a word character may not
# precede it; an @handle or #hashtag term must not be glued to a longer handle or tag either.
_PLAIN_BEFORE = r"(?<!\w)"
_MARKED_BEFORE = r"(?<![\w@#])"
_AFTER = r"(?!\w)"


def _pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    parts = []
    for term in sorted({t.strip() for t in terms if t.strip()}, key=len, reverse=True):
        before = _MARKED_BEFORE if term[0] in "@#" else _PLAIN_BEFORE
        body = r"\s+".join(re.escape(word) for word in term.split())
        parts.append(f"{before}{body}{_AFTER}")
    if not parts:
        return None
    return re.compile("|".join(parts), re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class BrandMatch:
    """One brand a mention speaks of, and whether the brand's own handle was tagged."""

    brand: str
    tagged: bool


class _CompiledBrand:
    __slots__ = ("id", "include", "exclude", "handles")

    def __init__(self, brand: BrandSettings) -> None:
        self.id = brand.id
        self.include = _pattern((*brand.terms, *brand.handles))
        self.exclude = _pattern(brand.exclude)
        self.handles = _pattern(brand.handles)


class BrandMatcher:
    """Matches text against every tracked brand: zero, one or several may match."""

    def __init__(self, brands: Sequence[BrandSettings]) -> None:
        self._brands = tuple(_CompiledBrand(b) for b in brands)

    def match(self, text: str, tagged: bool = False) -> list[BrandMatch]:
        """Brands whose terms occur in ``text`` on word boundaries and whose exclusions do not.

        A match counts as tagged when the event says so or the brand's @handle is in the text.
        """
        found = []
        for b in self._brands:
            if b.include is None or b.include.search(text) is None:
                continue
            if b.exclude is not None and b.exclude.search(text) is not None:
                continue
            is_tagged = tagged or (b.handles is not None and b.handles.search(text) is not None)
            found.append(BrandMatch(b.id, is_tagged))
        return found
