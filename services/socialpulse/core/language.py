"""language: a mention's language, from its `language` field or detected, as a bounded label.

The field is trusted when present (BCP 47-ish: `en`, `pt-BR`, `zh_Hant`; compared by primary
subtag, lower-cased), so detection runs only for mentions without one. Detection uses py3langid
(its naive Bayes model ships in the wheel, nothing is downloaded), restricted to the configured
languages: fewer candidates are both faster and less often wrong on short posts. A detection whose
probability over those candidates is below the configured threshold gives ``unknown``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Any, Final

import numpy as np
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
from py3langid.modelio import load_model

from socialpulse.core.events import Mention

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


class LanguageDetector:
    """py3langid over a fixed candidate set; ``detect`` gives a candidate or ``unknown``.

    The model loads once per process, on the first detector built (about 1.4 s); detectors of the
    same candidates share one identifier.
    """

    def __init__(
        self, candidates: Sequence[str], min_confidence: float, cache_entries: int = CACHE_ENTRIES
    ) -> None:
        self._identifier = _identifier(tuple(candidates))
        self._single = candidates[0] if len(candidates) == 1 else None
        self._min_confidence = min_confidence
        self._cached = lru_cache(maxsize=cache_entries)(self._detect) if cache_entries else None

    def _detect(self, text: str) -> str:
        language, probability = self._identifier.classify(text)
        return str(language) if probability >= self._min_confidence else UNKNOWN

    def detect(self, text: str) -> str:
        """The most probable candidate language of ``text``, or ``unknown`` below the threshold.

        With a single candidate nothing is weighed: every text is in it.
        """
        if self._single is not None:
            return self._single
        if self._cached is not None and len(text) <= CACHE_MAX_CHARS:
            return self._cached(text)
        return self._detect(text)


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

    def label(self, language: str) -> str:
        """The language itself when configured, else ``other`` (``unknown`` stays itself)."""
        if language in self._labels or language == UNKNOWN:
            return language
        return OTHER
