"""score: VADER sentiment for a mention's text, with VADER's own class thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

SentimentClass = Literal["positive", "neutral", "negative"]
SENTIMENT_CLASSES: Final[tuple[str, ...]] = get_args(SentimentClass)

# VADER's published thresholds on the compound score.
POSITIVE_THRESHOLD: Final = 0.05
NEGATIVE_THRESHOLD: Final = -0.05


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


class SentimentScorer:
    """Scores texts exactly as vaderSentiment 3.3.2 ``polarity_scores`` does.

    The lexicon loads once per scorer; build one at start-up and share it.
    """

    def __init__(self) -> None:
        self._vader = SentimentIntensityAnalyzer()

    def score(self, text: str) -> Sentiment:
        """Score one text; never raises for any string."""
        s = self._vader.polarity_scores(text)
        return Sentiment(compound=s["compound"], pos=s["pos"], neu=s["neu"], neg=s["neg"])
