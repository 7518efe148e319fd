"""match: which tracked brands a mention speaks of (terms, handles, exclusions); own accounts.

Every term, handle and exclusion of every brand is one pattern of a single Aho-Corasick DFA
(``ahocorasick_rs``) over case-folded text, so a mention is scanned once, at a cost per character
that does not grow with the number of brands. The automaton only proposes where a term may
start; the term's own regular expression decides there, so word boundaries and
``re.IGNORECASE`` mean exactly what they mean to ``re``.
"""

from __future__ import annotations

import _sre  # type: ignore[import-not-found]
import bisect
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from re._casefix import _EXTRA_CASES  # type: ignore[import-not-found]

import ahocorasick_rs

from socialpulse.settings import BrandSettings

# A plain term also matches its #hashtag and @handle forms, so only a word character may not
# precede it; an @handle or #hashtag term must not be glued to a longer handle or tag either.
_PLAIN_BEFORE = r"(?<!\w)"
_MARKED_BEFORE = r"(?<![\w@#])"
_AFTER = r"(?!\w)"

_SPACE_RUNS = re.compile(" {2,}")


@dataclass(frozen=True, slots=True)
class _Folding:
    """How text folds: a ``str.translate`` table, and the characters ``str.lower`` gets wrong."""

    table: dict[int, str]
    unlike_lower: re.Pattern[str]


@cache
def _folding() -> _Folding:
    """Each character to one representative of its ``re.IGNORECASE`` class; whitespace to a space.

    Built from the functions ``re``'s compiler itself uses for IGNORECASE (simple lower case plus
    its extra equivalences such as ``ſ``/``s``, ``ı``/``i``, ``σ``/``ς``), so two characters
    ``re.I`` treats as equal fold alike and the fold never changes a text's length. Whitespace
    folds to a space, since a multi-word term matches across any run of it. ``str.lower`` (much
    faster than a translation) folds all but a few dozen characters the same way; texts with any
    of those take the table.
    """
    table: dict[int, str] = {}
    unlike = []
    for c in range(sys.maxunicode + 1):
        char = chr(c)
        if _sre.unicode_iscased(c):
            lower = _sre.unicode_tolower(c)
            folded = chr(min((lower, *_EXTRA_CASES.get(lower, ()))))
        elif char.isspace():
            folded = " "
        else:
            continue
        if folded != char:
            table[c] = folded
        if char.lower() != folded:
            unlike.append(re.escape(char))
    return _Folding(table, re.compile(f"[{''.join(unlike)}]"))


def _fold(text: str) -> tuple[str, list[int], list[int]]:
    """``text`` folded, with whitespace runs as one space, and where those runs shortened it.

    Returns the folded text, the folded positions of the shortened runs and the characters
    removed up to and including each, to map a folded position back with ``_original``.
    """
    fold = _folding()
    folded = text.translate(fold.table) if fold.unlike_lower.search(text) else text.lower()
    if "  " not in folded:
        return folded, [], []
    at: list[int] = []
    removed: list[int] = []
    total = 0
    for run in _SPACE_RUNS.finditer(folded):
        at.append(run.start() - total)
        total += run.end() - run.start() - 1
        removed.append(total)
    return _SPACE_RUNS.sub(" ", folded), at, removed


def _original(pos: int, at: list[int], removed: list[int]) -> int:
    """The position in the original text of folded position ``pos`` (not inside a run)."""
    k = bisect.bisect_left(at, pos)
    return pos + removed[k - 1] if k else pos


def _encodable(text: str) -> str:
    """``text`` with each lone surrogate (which UTF-8 cannot carry) as a ``?``, same length.

    Only the automaton sees the stand-in; the regular expressions check the original text.
    """
    return text.encode("utf-8", "replace").decode("utf-8")


def _clean(terms: Iterable[str]) -> list[str]:
    """Distinct terms without surrounding whitespace; blank ones match nothing."""
    return list(dict.fromkeys(t.strip() for t in terms if t.strip()))


def _regex(term: str) -> str:
    """One term as a regular expression: whole words, any whitespace between them."""
    before = _MARKED_BEFORE if term[0] in "@#" else _PLAIN_BEFORE
    body = r"\s+".join(re.escape(word) for word in term.split())
    return f"{before}{body}{_AFTER}"


@dataclass(frozen=True, slots=True)
class BrandMatch:
    """One brand a mention speaks of, and whether the brand's own handle was tagged."""

    brand: str
    tagged: bool


class _Term:
    """One distinct term and the brands it includes, excludes or tags (by brand position)."""

    __slots__ = ("regex", "include", "exclude", "tags")

    def __init__(self, regex: str) -> None:
        self.regex = re.compile(regex, re.IGNORECASE)
        self.include: list[int] = []
        self.exclude: list[int] = []
        self.tags: list[int] = []


class BrandMatcher:
    """Matches text against every tracked brand: zero, one or several may match."""

    def __init__(self, brands: Sequence[BrandSettings]) -> None:
        self._ids = tuple(b.id for b in brands)
        table = _folding().table
        by_regex: dict[str, _Term] = {}
        by_key: dict[str, list[_Term]] = {}

        def add(terms: Iterable[str], roles: str, index: int) -> None:
            for term in _clean(terms):
                regex = _regex(term)
                entry = by_regex.get(regex)
                if entry is None:
                    key = " ".join(word.translate(table) for word in term.split())
                    entry = by_regex[regex] = _Term(regex)
                    by_key.setdefault(key, []).append(entry)
                brands: list[int] = getattr(entry, roles)
                if not brands or brands[-1] != index:
                    brands.append(index)

        for i, b in enumerate(brands):
            add((*b.terms, *b.handles), "include", i)
            add(b.exclude, "exclude", i)
            add(b.handles, "tags", i)
        # Pattern i of the automaton is the folded key of the terms in self._terms[i].
        self._terms = tuple(tuple(entries) for entries in by_key.values())
        self._automaton = (
            ahocorasick_rs.AhoCorasick(
                [_encodable(key) for key in by_key],
                matchkind=ahocorasick_rs.MATCHKIND_STANDARD,
                implementation=ahocorasick_rs.Implementation.DFA,
            )
            if by_key
            else None
        )

    def match(self, text: str, tagged: bool = False) -> list[BrandMatch]:
        """Brands whose terms occur in ``text`` on word boundaries and whose exclusions do not.

        A match counts as tagged when the event says so or the brand's @handle is in the text.
        """
        if self._automaton is None:
            return []
        folded, at, removed = _fold(text)
        found: set[_Term] = set()
        try:
            hits = self._automaton.find_matches_as_indexes(folded, True)
        except UnicodeEncodeError:
            hits = self._automaton.find_matches_as_indexes(_encodable(folded), True)
        for pattern, start, _end in hits:
            if at:
                start = _original(start, at, removed)
            for entry in self._terms[pattern]:
                if entry not in found and entry.regex.match(text, start) is not None:
                    found.add(entry)
        if not found:
            return []
        include: set[int] = set()
        exclude: set[int] = set()
        tags: set[int] = set()
        for entry in found:
            include.update(entry.include)
            exclude.update(entry.exclude)
            tags.update(entry.tags)
        return [BrandMatch(self._ids[i], tagged or i in tags) for i in sorted(include - exclude)]


def account_name(name: str) -> str:
    """An account handle or id as compared with a brand's: lower case, without a leading ``@``."""
    return name.lower().removeprefix("@")


class BrandAccounts:
    """Each brand's own accounts: its handles, and for interactions also its id as a user id."""

    __slots__ = ("_accounts", "_handles", "_owners")

    def __init__(self, brands: Sequence[BrandSettings]) -> None:
        self._handles = {b.id: {account_name(h) for h in b.handles} for b in brands}
        self._accounts = {b.id: self._handles[b.id] | {account_name(b.id)} for b in brands}
        owners: dict[str, list[str]] = {}
        for brand, handles in self._handles.items():
            for name in handles:
                owners.setdefault(name, []).append(brand)
        self._owners = {name: tuple(ids) for name, ids in owners.items()}

    def owners(self, handle: str) -> list[str]:
        """Brands whose own account has ``handle`` (a mention by it is an owned post)."""
        return list(self._owners.get(account_name(handle), ()))

    def is_own_handle(self, brand: str, handle: str) -> bool:
        """Whether ``handle`` is one of ``brand``'s configured handles."""
        return account_name(handle) in self._handles[brand]

    def is_brand_account(self, brand: str, user_id: str) -> bool:
        """Whether an interaction's ``user_id`` is ``brand`` itself (a handle or the brand id)."""
        return account_name(user_id) in self._accounts[brand]
