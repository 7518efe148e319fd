"""Parity with vaderSentiment 3.3.2 over the VADER paper's 23,703 human-rated texts."""

from __future__ import annotations

import math

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from socialpulse.core.sentiment import Sentiment, SentimentScorer
from vader_corpus import read_corpus

FILES = {
    "tweets_GroundTruth.txt": (4200, 0.872),
    "movieReviewSnippets_GroundTruth.txt": (10605, 0.427),
    "amazonReviewSnippets_GroundTruth.txt": (3708, 0.590),
    "nytEditorialSnippets_GroundTruth.txt": (5190, 0.503),
}


def _pearson(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    vx = sum((x - mx) ** 2 for x in xs)
    vy = sum((y - my) ** 2 for y in ys)
    return cov / math.sqrt(vx * vy)


@pytest.fixture(scope="module")
def scorer() -> SentimentScorer:
    return SentimentScorer()


@pytest.mark.parametrize("name", sorted(FILES))
def test_scores_equal_vadersentiment_on_every_line(name: str, scorer: SentimentScorer) -> None:
    expected_count, expected_r = FILES[name]
    rows = read_corpus(name)
    assert len(rows) == expected_count
    reference = SentimentIntensityAnalyzer()
    compounds = []
    for _rating, text in rows:
        ours = scorer.score(text)
        ref = reference.polarity_scores(text)
        for key in ("compound", "pos", "neu", "neg"):
            assert abs(getattr(ours, key) - ref[key]) <= 1e-12, (key, text)
        compounds.append(ours.compound)
    r = _pearson(compounds, [rating for rating, _ in rows])
    assert round(r, 3) == expected_r


@pytest.mark.parametrize(
    ("compound", "label"),
    [
        (0.05, "positive"),
        (0.0499, "neutral"),
        (0.0, "neutral"),
        (-0.0499, "neutral"),
        (-0.05, "negative"),
        (0.9, "positive"),
        (-0.9, "negative"),
    ],
)
def test_class_uses_vader_thresholds(compound: float, label: str) -> None:
    assert Sentiment(compound, 0.0, 1.0, 0.0).label == label


def test_scores_emoji_slang_and_caps(scorer: SentimentScorer) -> None:
    assert scorer.score("I LOVE this coffee!!! 😍").label == "positive"
    assert scorer.score("worst latte ever, never again 😡").label == "negative"
    assert scorer.score("The store opens at 9.").label == "neutral"
    assert scorer.score("").compound == 0.0
