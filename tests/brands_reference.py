"""The brand matcher as it was before the single-pass automaton, kept verbatim as an oracle.

``ReferenceBrandMatcher`` runs one regular-expression search per brand and
``ReferenceBrandAccounts`` loops over every brand: slow with many brands, but plainly right.
The differential test holds ``socialpulse.core.brands`` to exactly its results and the matcher
benchmark times both.
"""

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
class ReferenceMatch:
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


class ReferenceBrandMatcher:
    """Matches text against every tracked brand: zero, one or several may match."""

    def __init__(self, brands: Sequence[BrandSettings]) -> None:
        self._brands = tuple(_CompiledBrand(b) for b in brands)

    def match(self, text: str, tagged: bool = False) -> list[ReferenceMatch]:
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
            found.append(ReferenceMatch(b.id, is_tagged))
        return found


def account_name(name: str) -> str:
    """An account handle or id as compared with a brand's: lower case, without a leading ``@``."""
    return name.lower().removeprefix("@")


class ReferenceBrandAccounts:
    """Each brand's own accounts: its handles, and for interactions also its id as a user id."""

    __slots__ = ("_accounts", "_handles")

    def __init__(self, brands: Sequence[BrandSettings]) -> None:
        self._handles = {b.id: {account_name(h) for h in b.handles} for b in brands}
        self._accounts = {b.id: self._handles[b.id] | {account_name(b.id)} for b in brands}

    def owners(self, handle: str) -> list[str]:
        """Brands whose own account has ``handle`` (a mention by it is an owned post)."""
        name = account_name(handle)
        return [b for b, handles in self._handles.items() if name in handles]

    def is_own_handle(self, brand: str, handle: str) -> bool:
        """Whether ``handle`` is one of ``brand``'s configured handles."""
        return account_name(handle) in self._handles[brand]

    def is_brand_account(self, brand: str, user_id: str) -> bool:
        """Whether an interaction's ``user_id`` is ``brand`` itself (a handle or the brand id)."""
        return account_name(user_id) in self._accounts[brand]
