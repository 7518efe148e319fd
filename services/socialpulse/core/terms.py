"""Terms of a mention for trend detection: lower-cased words, #hashtags and @mentions.

Stop-words come from the ``stop-words`` package (maintained lists per language); a mention in a
known language drops that language's list, one without a language (or in another) drops the
union of the configured lists. Hashtags and @mentions are never stop-words: someone chose them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Final

from stop_words import get_stop_words

from socialpulse.core.native import COMPILED
from socialpulse.core.textcache import trimmed
from socialpulse.core.translate import CharClass

LANGUAGE_NAMES: Final = {
    "en": "english",
    "es": "spanish",
    "pt": "portuguese",
    "fr": "french",
    "de": "german",
    "it": "italian",
    "nl": "dutch",
}
# A token: an optional # or @, then a letter and more word characters (unicode); bare numbers
# and one-letter words are noise, not terms. Apostrophes inside words stay ("don't").
_TOKEN: Final = re.compile(r"[#@]?[^\W\d_][\w']*|[#@]\w+")
_URL: Final = re.compile(r"https?://\S+|www\.\S+")
MAX_TERM_CHARS: Final = 64


class _Wordish(dict[int, str]):
    """``str.translate`` table: the characters a token may hold stay, the rest become spaces.

    Those are the regex's word characters (``isalnum`` or ``_``), ``#``, ``@`` and ``'``; the
    table learns each code point on first sight (at most Unicode's). One C pass and a split
    cost a third of ``findall`` over the whole text.
    """

    def __missing__(self, code: int) -> str:
        char = chr(code)
        kept = self[code] = char if char.isalnum() or char in "_#@'" else " "
        return kept


_WORDISH: Final = _Wordish()
_WORDISH_CLASS: Final = CharClass(lambda char: char.isalnum() or char in "_#@'")
CACHE_ENTRIES: Final = 4096
# Distinct ``language`` values whose stop list is remembered (``Tokeniser._lang``).
LANGUAGES_HELD: Final = 256
# Pieces (words) whose terms are remembered per stop list (``_PieceTerms``).
PIECES_HELD: Final = 20_000


def _unlinked(text: str) -> str:
    low = text.lower()
    if "http" in low or "www." in low:
        low = _URL.sub(" ", low)
    return low


def stop_words(languages: Iterable[str]) -> dict[str, frozenset[str]]:
    """Each language's stop-words, and their union under ``""`` (for mentions of no language)."""
    lists = {
        lang: frozenset(w.lower() for w in get_stop_words(LANGUAGE_NAMES[lang]))
        for lang in languages
    }
    lists[""] = frozenset().union(*lists.values())
    return lists


def brand_terms(terms: Iterable[str], handles: Iterable[str]) -> frozenset[str]:
    """What a brand's own match terms look like as tokens: every word, as word, #tag and @name."""
    out: set[str] = set()
    for phrase in (*terms, *handles):
        for word in _TOKEN.findall(phrase.lower()):
            bare = word.lstrip("#@")
            out.update((bare, f"#{bare}", f"@{bare}"))
    return frozenset(out)


class Tokeniser:
    """Splits mention texts into candidate terms; in Python, repeated texts hit a cache.

    ``prefetch`` prepares a batch's texts in one numpy pass; ``terms`` finds them there.
    """

    def __init__(self, languages: Iterable[str], cache_entries: int = CACHE_ENTRIES) -> None:
        self._stop = stop_words(languages)
        # (text, stop list) -> terms, oldest first: a miss costs a dict insert, where an LRU's
        # bookkeeping and call cost a fifth of the compiled tokeniser's time on every text.
        self._cache: dict[tuple[str, str], tuple[str, ...]] = {}
        # A mention's language as given -> the stop list it uses (``_lang``), a bounded memo.
        self._langs: dict[str | None, str] = {}
        self._cache_entries = cache_entries
        self._ahead: dict[str, str] = {}
        self._pieces = {lang: _PieceTerms(stop) for lang, stop in self._stop.items()}
        self._compiled = COMPILED.terms if COMPILED is not None else None
        """The compiled ``_terms`` (``services/socialpulse-native``), where it is built."""

    def prefetch(self, texts: Sequence[str]) -> None:
        """Lower-case and translate ``texts`` for ``terms`` in one pass (``core.translate``).

        Held until the next call: the texts of one batch, at most ``cache_entries`` of them.
        Nothing to do for the compiled ``_terms``, which reads the text itself.
        """
        if self._compiled is not None:
            return
        distinct = list(dict.fromkeys(texts))[: self._cache_entries]
        wordish = _WORDISH_CLASS.translate([_unlinked(t) for t in distinct])
        self._ahead = dict(zip(distinct, wordish, strict=True))

    def terms(self, text: str, language: str | None = None) -> tuple[str, ...]:
        """The distinct terms of ``text``, in first-seen order, stop-words removed.

        A term counts once per mention, so one post repeating a word cannot make it trend.
        """
        lang = self._langs.get(language)
        if lang is None:
            lang = self._lang(language)
        if self._compiled is not None:
            # No text cache: the compiled tokeniser remembers words itself, and reposts by
            # other accounts are filtered before their terms are asked for, so the cache
            # missed on nearly every text and its key, lookup and insert cost half of a call.
            return self._terms(text, lang)
        key = (text, lang)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._terms(text, lang)
            if len(self._cache) > self._cache_entries:
                self._evict()
        return found

    def _lang(self, language: str | None) -> str:
        """The stop list of a mention in ``language``: its own if configured, else the union."""
        lang = (language or "")[:2].lower()
        lang = lang if lang in self._stop else ""
        if len(self._langs) >= LANGUAGES_HELD:  # languages come from the input: bounded
            self._langs.clear()
        self._langs[language] = lang
        return lang

    def _evict(self) -> None:
        """Forget the oldest texts: one pass for many misses, not one a miss."""
        self._cache = trimmed(self._cache, self._cache_entries)

    def _terms(self, text: str, lang: str) -> tuple[str, ...]:
        if self._compiled is not None:
            terms: tuple[str, ...] = self._compiled(text, self._stop[lang])
            return terms
        return self._terms_python(text, lang)

    def _terms_python(self, text: str, lang: str) -> tuple[str, ...]:
        # Splitting, the per-piece lookups and the first-seen dedup are C loops (``split``,
        # ``map``, ``chain``, ``dict.fromkeys``); Python runs only for a piece seen first.
        wordish = self._ahead.get(text)
        if wordish is None:
            wordish = _unlinked(text).translate(_WORDISH)
        pieces = self._pieces[lang]
        return tuple(dict.fromkeys(chain.from_iterable(map(pieces.__getitem__, wordish.split()))))


def piece_terms(piece: str, stop: frozenset[str]) -> tuple[str, ...]:
    """The terms of one piece of a text split at characters no token holds, in order.

    No token holds a character outside ``_WORDISH``, so a text's terms are its pieces' terms
    in order; a piece of letters alone is a token (most are), the rest go to the regex.
    """
    if piece.isalpha():
        return (piece,) if 2 <= len(piece) <= MAX_TERM_CHARS and piece not in stop else ()
    out: list[str] = []
    for tok in _TOKEN.findall(piece):
        n = len(tok)
        if n < 2 or n > MAX_TERM_CHARS:
            continue
        first = tok[0]
        if first == "#" or first == "@":
            if n >= 3:
                out.append(tok)
            continue
        if "'" in tok:
            tok = tok.strip("'")
            if len(tok) < 2:
                continue
        if tok not in stop:
            out.append(tok)
    return tuple(out)


class _PieceTerms(dict[str, tuple[str, ...]]):
    """Piece -> its terms under one stop list, learnt on first sight (``piece_terms``).

    Texts share most of their words, so a mention's terms are a lookup per word. Forgotten
    all at once at ``PIECES_HELD`` pieces: memory stays bounded whatever the vocabulary.
    """

    def __init__(self, stop: frozenset[str]) -> None:
        super().__init__()
        self.stop = stop

    def __missing__(self, piece: str) -> tuple[str, ...]:
        if len(self) >= PIECES_HELD:
            self.clear()
        terms = self[piece] = piece_terms(piece, self.stop)
        return terms
