"""The default scorer against vaderSentiment 3.3.2 ``polarity_scores``, score for score.

Three sources of text: the VADER paper's 23,703 rated texts, hand-written cases that each hit
one quirk of 3.3.2, and deterministic generated texts built from every rule's trigger words
(5,000 in the fast run, 100,000 under the ``slow`` marker).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator

import pytest
from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    NEGATE,
    SENTIMENT_LADEN_IDIOMS,
    SPECIAL_CASES,
    SentimentIntensityAnalyzer,
)

from socialpulse.core.sentiment import Sentiment, SentimentScorer
from vader_corpus import read_corpus

KEYS = ("compound", "pos", "neu", "neg")
CORPUS_FILES = (
    "amazonReviewSnippets_GroundTruth.txt",
    "movieReviewSnippets_GroundTruth.txt",
    "nytEditorialSnippets_GroundTruth.txt",
    "tweets_GroundTruth.txt",
)
REFERENCE = SentimentIntensityAnalyzer()

# One text per quirk of 3.3.2; each either changes the score or must not.
QUIRKS = (
    "",
    "   \t\n ",
    "\xa0\u2028",
    "good",
    "GOOD",
    "GOOD day",
    "The food was GOOD and the service was BAD!",
    "NO GOOD AT ALL",
    "NO good at all",
    "no good",
    "no no good",
    "no bad or nice",
    "no way or nor nice",
    "not good",
    "isn't good",
    "it wasn't really that good",
    "never so good",
    "it was never this good",
    "a b so good",
    "x y this bad",
    "without doubt good",
    "without a doubt good",
    "without a doubt, an excellent idea",
    "at least good",
    "very least good",
    "least good",
    "least good very",
    "Least bad at",
    "the least good",
    "kind of good",
    "kind good",
    "sort of good",
    "it is kind of a good idea",
    "it is sort of a great idea",
    "just enough good stuff",
    "VERY good",
    "very GOOD",
    "VERY GOOD and fine",
    "the movie is the shit",
    "this is the bomb dot com",
    "he is a bad ass dude",
    "such a badass",
    "yeah right, great",
    "the kiss of death for good",
    "cake to die for",
    "my beating heart is glad",
    "meet at the bus stop, lovely",
    "good good but good good",
    "good but good",
    "great good but great",
    "bad good but bad good but good",
    "love hate but love hate but",
    "But it was good",
    "good BUT bad",
    "good!",
    "good!!!!!!",
    "good??",
    "good???",
    "good????",
    "bad?!?!",
    "😀",
    "😀x good",
    "I 💘 you",
    "👍🏻 thanks",
    "☺️ nice",
    "🔛 on",
    "⬆ up! 🆙 UP!",
    ":) :( :D :-D <3 </3",
    "'good' (bad) ...great...",
    "!!!good!!! ??bad??",
    "café naïve ΣΟΦΊΑ İstanbul K ß good",
    "ЛЮБЛЮ love",
    "好 good 😍😍😍",
    "good\u200bbad",
)

NEUTRAL = (
    "the a it was product store I we you they at on of to for and or in is my this that".split()
)
NEUTRAL += ["", "x", "12", "ok?", "—", "#tag", "@user", "http://t.co/x", "e.g.", "..."]
TRIGGERS = (
    "no or nor never so this without doubt least at very but kind of sort just enough "
    "isn't doesn't can't won't n't none nothing"
).split()
IDIOMS: list[str] = sorted(SPECIAL_CASES) + sorted(SENTIMENT_LADEN_IDIOMS)
IDIOM_WORDS = sorted({w for key in IDIOMS for w in key.split()})
NON_ASCII = ("café", "naïve", "ΣΟΦΊΑ", "İstanbul", "K", "ß", "ЛЮБЛЮ", "好", "\u0301", "ﬁne")
PUNCT = ("!", "!!", "!!!!!", "?", "??", "???", "????", ".", ",", "...", "?!", "'", '"', "(", ")")
SEPARATORS = (" ",) * 12 + ("  ", "\t", "\n", "\xa0", "\u3000", "")


class Texts:
    """Deterministic texts that hit every rule of 3.3.2, and a tally of which rules they hit."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        lexicon: list[str] = sorted(REFERENCE.lexicon)
        self.lexicon = lexicon
        # Lexicon words with equal valences make the "but" rule's value look-ups collide.
        self.common = [w for w in lexicon if w.isalpha()][:: max(1, len(lexicon) // 300)]
        self.boosters: list[str] = sorted(BOOSTER_DICT)
        self.negations: list[str] = sorted(NEGATE)
        emojis: list[str] = sorted(REFERENCE.emojis)
        self.emoji = [e for e in emojis if len(e) == 1]
        self.emoji_sequences = [e for e in emojis if len(e) > 1]
        self.hits: Counter[str] = Counter()

    def _word(self) -> str:
        rng = self.rng
        pool = rng.random()
        if pool < 0.25:
            word = rng.choice(self.common)
        elif pool < 0.33:
            word = rng.choice(self.lexicon)
        elif pool < 0.43:
            word = rng.choice(self.boosters)
            self.hits["booster"] += 1
        elif pool < 0.50:
            word = rng.choice(self.negations)
            self.hits["negation"] += 1
        elif pool < 0.62:
            word = rng.choice(TRIGGERS)
            self.hits[word] += 1
        elif pool < 0.68:
            word = rng.choice(IDIOM_WORDS)
            self.hits["idiom word"] += 1
        elif pool < 0.74:
            pool_emoji = self.emoji if rng.random() < 0.8 else self.emoji_sequences
            word = rng.choice(pool_emoji)
            self.hits["emoji"] += 1
        elif pool < 0.77:
            word = rng.choice(NON_ASCII)
            self.hits["non-ascii"] += 1
        else:
            word = rng.choice(NEUTRAL)
        shape = rng.random()
        if shape < 0.12:
            word = word.upper()
            self.hits["upper"] += 1
        elif shape < 0.18:
            word = word.title()
        if rng.random() < 0.15:
            word = rng.choice(PUNCT) + word if rng.random() < 0.3 else word + rng.choice(PUNCT)
            self.hits["punctuation"] += 1
        return word

    def _phrase(self) -> list[str]:
        """A whole idiom or multi-word rule, so the n-gram checks see their exact sequence."""
        rng = self.rng
        phrase: list[str]
        kind = rng.random()
        if kind < 0.3:
            phrase = rng.choice(IDIOMS[: len(SPECIAL_CASES)]).split()
            self.hits["special case"] += 1
        elif kind < 0.45:
            phrase = rng.choice(IDIOMS[len(SPECIAL_CASES) :]).split()
        elif kind < 0.65:
            phrase = [rng.choice(("kind of", "sort of", "just enough")), rng.choice(self.common)]
            phrase = " ".join(phrase).split()
            self.hits["kind of"] += 1
        elif kind < 0.8:
            phrase = [
                rng.choice(("never", "without")),
                rng.choice(("so", "this", "doubt", "a")),
                rng.choice(self.common),
            ]
            self.hits["never so"] += 1
        else:
            phrase = [rng.choice(("at", "very", "the")), "least", rng.choice(self.common)]
            self.hits["least"] += 1
        return phrase

    def text(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.01:
            self.hits["blank"] += 1
            return "".join(rng.choice(SEPARATORS) for _ in range(rng.randrange(4)))
        if roll < 0.015:
            count = rng.randrange(200, 1500)
            self.hits["long"] += 1
        else:
            count = rng.randrange(1, 25)
        words: list[str] = []
        while len(words) < count:
            if rng.random() < 0.1:
                words.extend(self._phrase())
            else:
                words.append(self._word())
        if rng.random() < 0.15:
            # Repeats give equal scores, the case the "but" rule's value look-up gets wrong.
            words = words + words[: rng.randrange(1, len(words) + 1)]
            self.hits["repeat"] += 1
        if rng.random() < 0.05:
            words = [w.upper() for w in words]
            self.hits["all caps"] += 1
        out = [words[0]]
        for w in words[1:]:
            out.append(rng.choice(SEPARATORS))
            out.append(w)
        return "".join(out)

    def __iter__(self) -> Iterator[str]:
        while True:
            yield self.text()


def _mismatch(scorer: SentimentScorer, text: str) -> tuple[str, Sentiment, dict[str, float]] | None:
    ours = scorer.score(text)
    ref = REFERENCE.polarity_scores(text)
    if all(abs(getattr(ours, key) - ref[key]) <= 1e-12 for key in KEYS):
        return None
    return text, ours, ref


def _assert_parity(count: int, seed: int) -> Counter[str]:
    scorer = SentimentScorer(cache_entries=0)
    texts = Texts(seed)
    failures = []
    for text, _ in zip(texts, range(count), strict=False):
        bad = _mismatch(scorer, text)
        if bad is not None:
            failures.append(bad)
    assert not failures, f"{len(failures)} of {count} differ, first: {failures[:3]}"
    return texts.hits


@pytest.fixture(scope="module")
def scorer() -> SentimentScorer:
    return SentimentScorer()


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_every_corpus_line_scores_as_vadersentiment(name: str, scorer: SentimentScorer) -> None:
    rows = read_corpus(name)
    assert len(rows) > 3000
    failures = [bad for _, text in rows if (bad := _mismatch(scorer, text)) is not None]
    assert not failures, failures[:3]


@pytest.mark.parametrize("text", QUIRKS)
def test_each_quirk_scores_as_vadersentiment(text: str, scorer: SentimentScorer) -> None:
    assert _mismatch(scorer, text) is None


def test_quirks_are_not_all_neutral(scorer: SentimentScorer) -> None:
    """The hand-written cases exercise the rules, not just the empty path."""
    compounds = {scorer.score(text).compound for text in QUIRKS}
    assert len(compounds) > len(QUIRKS) // 2


def test_cache_returns_what_a_fresh_score_gives() -> None:
    cached = SentimentScorer(cache_entries=2)
    fresh = SentimentScorer(cache_entries=0)
    for text in ("good", "bad", "good", "ugly", "good", "x" * 2000 + " good"):
        assert cached.score(text) == fresh.score(text)


def test_generated_texts_score_as_vadersentiment() -> None:
    hits = _assert_parity(5_000, seed=1)
    assert min(hits.values()) > 0


@pytest.mark.slow
def test_100k_generated_texts_score_as_vadersentiment() -> None:
    hits = _assert_parity(100_000, seed=2)
    expected = {
        "booster", "negation", "idiom word", "emoji", "non-ascii", "upper", "punctuation",
        "special case", "kind of", "never so", "least", "blank", "long", "repeat", "all caps",
        *TRIGGERS,
    }  # fmt: skip
    assert expected <= set(hits), expected - set(hits)
    assert min(hits[k] for k in expected) >= 50, hits
