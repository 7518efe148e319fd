"""score: VADER sentiment for a mention's text, with VADER's own class thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Final, Literal, Protocol, get_args

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from socialpulse.core.vader import VaderRules

SentimentClass = Literal["positive", "neutral", "negative"]
SENTIMENT_CLASSES: Final[tuple[str, ...]] = get_args(SentimentClass)

# VADER's published thresholds on the compound score.
POSITIVE_THRESHOLD: Final = 0.05
NEGATIVE_THRESHOLD: Final = -0.05

# Shares repeat a post verbatim; remembering recent short texts skips rescoring them. Bounded in
# entries and in the length of a remembered text: at most 4,096 × 1,000 characters.
CACHE_ENTRIES: Final = 4096
CACHE_MAX_CHARS: Final = 1000
# VADER's rules cost about 0.45 µs a word, and an emoji is several words ("smiling face with
# heart-eyes"): 10,000 emoji take ~18 ms. Longer texts are scored off the consumer loop (see
# ``score_texts``), which keeps any one text on the loop to a few milliseconds.
OFF_LOOP_CHARS: Final = 2000


@dataclass(frozen=True, slots=True)
class Sentiment:
    """VADER's four scores for one text, plus the class they imply."""

    compound: float
    pos: float
    neu: float
    neg: float

    @property
    def label(self) -> SentimentClass:
        """Positive at compound ≥ 0.05, negative at ≤ −0.05, else neutral (VADER's rule)."""
        if self.compound >= POSITIVE_THRESHOLD:
            return "positive"
        if self.compound <= NEGATIVE_THRESHOLD:
            return "negative"
        return "neutral"


class Scorer(Protocol):
    """Anything that scores a text as vaderSentiment 3.3.2 does; never raises for any string."""

    def score(self, text: str) -> Sentiment:
        """Score one text."""
        ...


class VaderScorer:
    """The reference: vaderSentiment 3.3.2 ``polarity_scores`` itself.

    Kept as the yardstick of the parity tests and as a fallback; quadratic in the length of a
    text (500 × 😍 takes about 130 ms of CPU).
    """

    def __init__(self) -> None:
        self._vader = SentimentIntensityAnalyzer()

    def score(self, text: str) -> Sentiment:
        """Score one text; never raises for any string."""
        s = self._vader.polarity_scores(text)
        return Sentiment(compound=s["compound"], pos=s["pos"], neu=s["neu"], neg=s["neg"])


class SentimentScorer:
    """The default: the same scores as ``VaderScorer`` from ``VaderRules``, in linear time.

    The lexicon loads once per scorer; build one at start-up and share it. Texts of at most
    ``CACHE_MAX_CHARS`` characters are remembered in an LRU of ``cache_entries`` (0 turns it off).
    """

    def __init__(self, cache_entries: int = CACHE_ENTRIES) -> None:
        self._rules = VaderRules()
        self._cached = lru_cache(maxsize=cache_entries)(self._score) if cache_entries else None

    def _score(self, text: str) -> Sentiment:
        compound, pos, neu, neg = self._rules.scores(text)
        return Sentiment(compound=compound, pos=pos, neu=neu, neg=neg)

    def score(self, text: str) -> Sentiment:
        """Score one text; never raises for any string."""
        if self._cached is not None and len(text) <= CACHE_MAX_CHARS:
            return self._cached(text)
        return self._score(text)


@cache
def _rules() -> VaderRules:
    return VaderRules()


def score_texts(texts: Sequence[str]) -> list[Sentiment]:
    """``SentimentScorer().score`` of each text; what a worker process runs for long texts."""
    rules = _rules()
    return [Sentiment(*rules.scores(t)) for t in texts]
