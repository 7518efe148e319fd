"""A tiny Spanish scorer on a word list: the README's example of a scorer named in settings.

``sentiment.scorers: {es: "unit.core.spanish_scorer:SpanishScorer"}`` (the tests folder is on the
import path under pytest) makes the pipeline score Spanish mentions with it.
"""

from __future__ import annotations

import math
import re
from typing import Final

from socialpulse.core.sentiment import Sentiment

POSITIVE: Final = frozenset({"encanta", "mejor", "excelente", "bueno", "rico", "genial"})
NEGATIVE: Final = frozenset({"terrible", "malo", "peor", "frío", "horrible", "lento"})
_WORD: Final = re.compile(r"\w+")


class SpanishScorer:
    """+1 per positive word, −1 per negative one, normalised as VADER does (x / √(x² + 15))."""

    def score(self, text: str) -> Sentiment:
        """Score one text; never raises for any string."""
        words = _WORD.findall(text.lower())
        pos = sum(w in POSITIVE for w in words)
        neg = sum(w in NEGATIVE for w in words)
        total = pos - neg
        compound = total / math.sqrt(total * total + 15)
        n = len(words) or 1
        return Sentiment(compound, pos / n, (n - pos - neg) / n, neg / n)


class Broken:
    """A scorer that cannot be built: start-up must stop naming the setting."""

    def __init__(self) -> None:
        raise OSError("lexicon file not found")
