"""language: a mention's language, from its `language` field or detected, as a bounded label.

The field is trusted when present (BCP 47-ish: `en`, `pt-BR`, `zh_Hant`; compared by primary
subtag, lower-cased), so detection runs only for mentions without one. Detection uses py3langid
(its naive Bayes model ships in the wheel, nothing is downloaded), restricted to the configured
languages: fewer candidates are both faster and less often wrong on short posts. A detection whose
probability over those candidates is below the configured threshold gives ``unknown``.

``detect_many`` gives exactly ``detect``'s answers for a whole batch at a quarter of the cost:
py3langid walks its byte automaton in a Python loop (about 0.2 µs a byte), while here the walk
runs in numpy over every text of the batch at once (see ``_BatchWalk``).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from functools import cache
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
from py3langid.modelio import load_model

from socialpulse.core.events import Mention
from socialpulse.core.textcache import trimmed

# Label of a language that is not configured, and of one that could not be told.
OTHER: Final = "other"
UNKNOWN: Final = "unknown"
# Shares repeat a post verbatim, as for the sentiment cache; bounded in entries and text length.
CACHE_ENTRIES: Final = 4096
CACHE_MAX_CHARS: Final = 1000
# Field values that say the language is not known: BCP 47's "undetermined", or no subtag at all.
_UNDETERMINED: Final = frozenset({"", "und"})


def primary_subtag(tag: str) -> str:
    """The primary language subtag of a BCP 47-ish tag, lower case: ``pt-BR`` -> ``pt``."""
    return tag.strip().replace("_", "-").split("-", 1)[0].lower()


@cache
def _model() -> tuple[Any, ...]:
    """py3langid's model arrays, decompressed once per process (about 1.4 s, 30 MB)."""
    return tuple(load_model(MODEL_DIR / MODEL_FILE))


@cache
def _identifier(candidates: tuple[str, ...]) -> Any:
    """An identifier restricted to ``candidates``, one per set: classifying changes nothing."""
    ptc, pc, classes, nextmove, row, output = _model()
    identifier = LanguageIdentifier(
        np.asarray(ptc), np.asarray(pc), classes, nextmove, output, norm_probs=True, tk_row=row
    )
    known = set(identifier.labels)
    unknown = sorted(set(candidates) - known)
    if unknown:
        raise ValueError(
            f"languages: {unknown} unknown to the language detector (py3langid); "
            f"it knows {', '.join(sorted(known))}"
        )
    identifier.set_languages(list(candidates))
    return identifier


# The automaton's states stand for byte strings of at most this many bytes (checked at load):
# the state after any byte is the state reached from the start over the last DEPTH bytes.
_DEPTH: Final = 6
# A batch decision within this much of the threshold, or of the runner-up's probability, is
# taken again by py3langid itself: the batch sums in float64, py3langid in float32, and their
# difference stays orders of magnitude below this on texts of at most BATCH_MAX_CHARS.
_MARGIN: Final = 0.01
# Longer texts go through the exact float32 path one at a time (their walk still vectorised).
BATCH_MAX_CHARS: Final = 500
# Fewer texts than this are detected one at a time.
FEW_TEXTS: Final = 4


def _encode(text: str) -> bytes:
    """py3langid's ``_encode`` for a str: lower-cased when all upper, NFC, UTF-8."""
    if text.isupper():
        text = text.lower()
    return unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")


class _BatchWalk:
    """py3langid's automaton and naive Bayes scores over many texts in a few numpy passes.

    A state of the Aho-Corasick automaton is the longest suffix of the input that starts a
    feature, at most ``_DEPTH`` bytes, so the state after byte ``i`` is the state reached from
    the start over bytes ``i - DEPTH + 1 .. i``: ``DEPTH`` vectorised steps over every position
    at once replace the sequential walk. Feature counts then give the same scores.
    """

    def __init__(self, identifier: Any) -> None:
        self._id = identifier
        nm, row = identifier.tk_nextmove, identifier.tk_row
        self._next = np.frombuffer(nm, dtype=f"u{nm.itemsize}")
        self._rowbase = np.frombuffer(row, dtype=f"u{row.itemsize}").astype(np.int64) << 8
        self._out = np.asarray(identifier.tk_output, dtype=np.int64)
        self._table64 = np.asarray(identifier.nb_ptc, dtype=np.float64)
        self._prior64 = np.asarray(identifier.nb_pc, dtype=np.float64)
        self._labels: list[str] = list(identifier.nb_classes)
        # Aliased labels (srl -> sr) fold columns: left to py3langid itself.
        self.usable = not identifier._alias_pairs and _max_depth(self._next, self._rowbase) <= (
            _DEPTH
        )

    def _features(self, encoded: list[bytes]) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
        """(text number, feature) of every feature occurrence, in text then byte order."""
        lens = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        buf = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        n = len(buf)
        text_of = np.repeat(np.arange(len(encoded)), lens)
        since = np.arange(n) - (np.cumsum(lens) - lens)[text_of]  # byte position in its text
        states = np.zeros(n, dtype=np.int64)
        shifted = np.zeros(n, dtype=np.uint8)
        for back in range(_DEPTH - 1, 0, -1):
            shifted[back:] = buf[:-back]
            shifted[:back] = 0
            states = np.where(since >= back, self._next[self._rowbase[states] + shifted], states)
        feature = self._out[self._next[self._rowbase[states] + buf]]
        keep = feature >= 0
        return text_of[keep], feature[keep]

    def classify_exact(self, text: str) -> tuple[str, float]:
        """``classify(text)`` with the same float32 operations, the walk vectorised."""
        raw = _encode(text)
        _, feature = self._features([raw])
        ident = self._id
        if not len(feature):
            language, probability = ident.classify(text)
            return str(language), float(probability)
        found, first, counts = np.unique(feature, return_index=True, return_counts=True)
        order = np.argsort(first, kind="stable")  # Counter order: first occurrence
        scores = np.log1p(counts[order].astype(np.float32)) @ ident.nb_ptc[found[order]]
        scores = scores + ident.nb_pc
        scores *= 1.0 / math.sqrt(len(raw) or 1)
        np.exp(scores - scores.max(), out=scores)
        scores /= scores.sum()
        i = int(scores.argmax())
        return self._labels[i], float(scores[i])

    def detect(self, texts: list[str], min_confidence: float) -> list[str]:
        """Each text's language as ``LanguageDetector._detect`` gives it."""
        encoded = [_encode(t) for t in texts]
        text_of, feature = self._features(encoded)
        width = len(self._table64)
        keys = np.unique(text_of * width + feature, return_counts=True)
        texts_with, features = np.divmod(keys[0], width)
        part = np.log1p(keys[1].astype(np.float64))[:, None] * self._table64[features]
        b = len(texts)
        scores = np.zeros((b, self._table64.shape[1]))
        has = np.zeros(b, dtype=bool)
        has[texts_with] = True
        rows = np.flatnonzero(has)
        if len(rows):
            scores[rows] = np.add.reduceat(part, np.searchsorted(texts_with, rows), axis=0)
        scores += self._prior64
        lens = np.fromiter(map(len, encoded), dtype=np.float64, count=b)
        scores *= (1.0 / np.sqrt(np.maximum(lens, 1.0)))[:, None]
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        scores /= scores.sum(axis=1, keepdims=True)
        ranked = np.sort(scores, axis=1)
        best = scores.argmax(axis=1)
        prob = ranked[:, -1]
        close = (ranked[:, -1] - ranked[:, -2] < _MARGIN) | (
            np.abs(prob - min_confidence) < _MARGIN
        )
        unsure = ~has | close
        out: list[str] = []
        for i, (k, p, u) in enumerate(
            zip(best.tolist(), prob.tolist(), unsure.tolist(), strict=True)
        ):
            if u:  # too close to call in float64: py3langid's own float32 decides
                language, p = self._id.classify(texts[i])
                out.append(str(language) if p >= min_confidence else UNKNOWN)
            else:
                out.append(self._labels[k] if p >= min_confidence else UNKNOWN)
        return out


def _max_depth(nextmove: npt.NDArray[Any], rowbase: npt.NDArray[Any]) -> int:
    """Length of the longest byte string a state stands for (breadth-first from the start)."""
    seen = np.zeros(len(rowbase), dtype=bool)
    seen[0] = True
    frontier = np.zeros(1, dtype=np.int64)
    depth = 0
    while True:
        reached = np.zeros(len(rowbase), dtype=bool)
        rows = np.unique(rowbase[frontier])  # states share rows: each row once
        reached[nextmove[(rows[:, None] + np.arange(256)).ravel()]] = True
        reached &= ~seen
        if not reached.any():
            return depth
        seen |= reached
        frontier = np.flatnonzero(reached)
        depth += 1


class _Lru:
    """A bounded map of recent texts to their language, least recently used out first.

    Over its bound it keeps the most recently used half (``trimmed``).
    """

    __slots__ = ("_d", "_max")

    def __init__(self, entries: int) -> None:
        self._d: dict[str, str] = {}
        self._max = entries

    def get(self, text: str) -> str | None:
        d = self._d
        language = d.pop(text, None)
        if language is not None:
            d[text] = language
        return language

    def put(self, text: str, language: str) -> str:
        d = self._d
        d[text] = language
        if len(d) > self._max:
            self._d = trimmed(d, self._max)
        return language


@cache
def _walk(candidates: tuple[str, ...]) -> _BatchWalk:
    return _BatchWalk(_identifier(candidates))


class LanguageDetector:
    """py3langid over a fixed candidate set; ``detect`` gives a candidate or ``unknown``.

    The model loads once per process, on the first detector built (about 1.4 s); detectors of the
    same candidates share one identifier.
    """

    def __init__(
        self, candidates: Sequence[str], min_confidence: float, cache_entries: int = CACHE_ENTRIES
    ) -> None:
        self._identifier = _identifier(tuple(candidates))
        self._walk = _walk(tuple(candidates))
        self._single = candidates[0] if len(candidates) == 1 else None
        self._min_confidence = min_confidence
        self._cached = _Lru(cache_entries) if cache_entries else None

    def _detect(self, text: str) -> str:
        if len(text) > BATCH_MAX_CHARS and self._walk.usable:
            # A long text: py3langid's walk would hold the loop ~0.2 µs a byte.
            language, probability = self._walk.classify_exact(text)
        else:
            language, probability = self._identifier.classify(text)
        return str(language) if probability >= self._min_confidence else UNKNOWN

    def detect(self, text: str) -> str:
        """The most probable candidate language of ``text``, or ``unknown`` below the threshold.

        With a single candidate nothing is weighed: every text is in it.
        """
        if self._single is not None:
            return self._single
        cached = self._cached
        if cached is None or len(text) > CACHE_MAX_CHARS:
            return self._detect(text)
        language = cached.get(text)
        if language is None:
            language = cached.put(text, self._detect(text))
        return language

    def detect_many(self, texts: Sequence[str]) -> list[str]:
        """``[detect(t) for t in texts]``, the uncached short texts scored together."""
        if self._single is not None:
            return [self._single] * len(texts)
        cached = self._cached
        out: list[str | None] = [None] * len(texts)
        todo: list[int] = []
        for i, t in enumerate(texts):
            if len(t) > BATCH_MAX_CHARS or not self._walk.usable:
                out[i] = self.detect(t)
            elif cached is not None and (hit := cached.get(t)) is not None:
                out[i] = hit
            else:
                todo.append(i)
        if todo:
            batch = [texts[i] for i in todo]
            # A handful of texts costs less one by one than numpy's fixed cost per batch.
            found = (
                [self._detect(t) for t in batch]
                if len(batch) < FEW_TEXTS
                else self._walk.detect(batch, self._min_confidence)
            )
            for i, t, language in zip(todo, batch, found, strict=True):
                out[i] = language
                if cached is not None and len(t) <= CACHE_MAX_CHARS:
                    cached.put(t, language)
        return [o if o is not None else UNKNOWN for o in out]


class Languages:
    """A mention's language (a primary subtag, or ``unknown``) and its bounded label."""

    def __init__(self, labels: Sequence[str], detector: LanguageDetector) -> None:
        self._labels = frozenset(labels)
        self._detector = detector

    def of(self, mention: Mention) -> str:
        """The mention's field when it has one, else the detected language."""
        if mention.language is not None:
            subtag = primary_subtag(mention.language)
            return UNKNOWN if subtag in _UNDETERMINED else subtag
        return self._detector.detect(mention.text)

    def of_many(self, mentions: Sequence[Mention]) -> list[str]:
        """``[of(m) for m in mentions]``, the texts to detect detected together."""
        out = [self.of(m) if m.language is not None else "" for m in mentions]
        todo = [i for i, m in enumerate(mentions) if m.language is None]
        if todo:
            found = self._detector.detect_many([mentions[i].text for i in todo])
            for i, language in zip(todo, found, strict=True):
                out[i] = language
        return out

    def label(self, language: str) -> str:
        """The language itself when configured, else ``other`` (``unknown`` stays itself)."""
        if language in self._labels or language == UNKNOWN:
            return language
        return OTHER
