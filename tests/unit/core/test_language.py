"""core.language and core.scorers: a mention's language, its label, and who scores it.

A language comes from the ``language`` field (primary subtag, lower case) or is detected; below
the threshold it is ``unknown``. Mentions no scorer covers count in every volume and as
``unscored`` in sentiment, never in the compound score, net sentiment or a share of sentiment.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
from pydantic import ValidationError

from builders import encoded, mention, off
from socialpulse.core.language import OTHER, UNKNOWN, LanguageDetector, Languages, primary_subtag
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.scorers import ScorerLoadError, load_scorer
from socialpulse.export.api import kpis_json
from socialpulse.settings import DEFAULT_LANGUAGE_MIN_CONFIDENCE, DEFAULT_LANGUAGES, Settings
from vader_corpus import read_corpus

NOW = 1_800_000_030.0
SRC = ("m", 0)
BRAND = [{"id": "a", "name": "A", "terms": ["alpha"], "competitors": []}]
SPANISH = "unit.core.spanish_scorer:SpanishScorer"


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector(DEFAULT_LANGUAGES, 0.5)


def _fed(settings: Settings, *mentions: Any) -> dict[str, Any]:
    p = Pipeline(settings)
    for m in mentions:
        assert p.process("mentions", encoded(m), SRC, NOW, off()) is None
    return kpis_json(p.store.snapshot(NOW)["a"]["5m"])


@pytest.mark.parametrize(
    ("tag", "subtag"),
    [("en", "en"), ("pt-BR", "pt"), ("EN-gb", "en"), ("zh_Hant", "zh"), (" es ", "es")],
)
def test_the_primary_subtag_is_compared_lower_cased(tag: str, subtag: str) -> None:
    assert primary_subtag(tag) == subtag


def test_the_field_wins_over_detection(detector: LanguageDetector) -> None:
    langs = Languages(DEFAULT_LANGUAGES, detector)
    english_text = mention(NOW, text="I love alpha, great coffee!", language="pt-BR")
    assert langs.of(english_text) == "pt"
    assert langs.of(mention(NOW, text="¡Me encanta alpha!", language="und")) == UNKNOWN


def test_without_the_field_the_language_is_detected(detector: LanguageDetector) -> None:
    langs = Languages(DEFAULT_LANGUAGES, detector)
    cases = {
        "I love alpha, the best coffee in town": "en",
        "¡Me encanta el café de alpha! El mejor de la ciudad": "es",
        "Le meilleur cappuccino de la ville chez alpha": "fr",
        "Der Cold Brew von alpha ist super lecker": "de",
        "Adoro o café da alpha, muito bom": "pt",
    }
    for text, lang in cases.items():
        assert langs.of(mention(NOW, text=text, language=None)) == lang, text


def test_below_the_threshold_the_language_is_unknown(detector: LanguageDetector) -> None:
    # "lol" is about 0.23 probable as its likeliest language among the seven
    assert detector.detect("lol") == UNKNOWN
    assert LanguageDetector(DEFAULT_LANGUAGES, 0.0).detect("lol") != UNKNOWN
    assert LanguageDetector(DEFAULT_LANGUAGES, 1.0).detect("I love alpha") == UNKNOWN


def test_labels_are_the_configured_languages_other_and_unknown(
    detector: LanguageDetector,
) -> None:
    langs = Languages(("en", "es"), detector)
    assert [langs.label(x) for x in ("en", "es", "ko", "xx", UNKNOWN)] == [
        "en",
        "es",
        OTHER,
        OTHER,
        UNKNOWN,
    ]


def test_a_language_the_detector_does_not_know_is_refused() -> None:
    with pytest.raises(ValueError, match=r"languages: \['qq'\] unknown to the language detector"):
        LanguageDetector(("en", "qq"), 0.5)


def test_detection_stays_cheap_on_short_posts(detector: LanguageDetector) -> None:
    """Far below the budget per mention; ``bench_language.py`` measures the real figures."""
    fresh = LanguageDetector(DEFAULT_LANGUAGES, 0.5, cache_entries=0)
    texts = [f"post {i} about alpha, so good" for i in range(500)]
    start = time.thread_time()
    for t in texts:
        fresh.detect(t)
    assert (time.thread_time() - start) / len(texts) < 2e-3


def test_unscored_mentions_count_in_volume_never_in_sentiment() -> None:
    settings = Settings(brands=BRAND)
    doc = _fed(
        settings,
        mention(NOW - 5, "u1", 100, text="I love alpha, amazing"),
        mention(NOW - 5, "u2", 50, text="alpha is awful", platform="instagram"),
        mention(NOW - 5, "u3", 7, text="¡Me encanta alpha! El mejor café", language="es"),
        mention(NOW - 5, "u4", 9, text="alpha は最高です", language="ja"),
        mention(NOW - 5, "u5", 3, text="alpha jest świetna", language="pl"),
        mention(NOW - 5, "u6", 1, text="lol alpha", language=None),
    )
    assert doc["mentions"] == 6
    assert doc["mentions_by_sentiment"] == {
        "positive": 1,
        "neutral": 0,
        "negative": 1,
        "unscored": 4,
    }
    assert doc["mentions_by_language"] == {"en": 2, "es": 1, "ja": 1, "other": 1, "unknown": 1}
    assert doc["unique_authors"] == 6 and doc["potential_reach"] == 170
    assert doc["mentions_by_platform"] == {"instagram": 1, "x": 5}
    assert doc["share_of_voice_base"]["mentions"] == 6
    # Only the two English mentions are in the compound score and the polar counts.
    english = Pipeline(settings)
    for text in ("I love alpha, amazing", "alpha is awful"):
        english.process("mentions", encoded(mention(NOW - 5, text=text)), SRC, NOW, off())
    ref = kpis_json(english.store.snapshot(NOW)["a"]["5m"])
    assert doc["sentiment_compound_sum"] == pytest.approx(ref["sentiment_compound_sum"])
    assert doc["sentiment_compound_mean"] == pytest.approx(ref["sentiment_compound_sum"] / 2)
    assert doc["net_sentiment"] == 0.0
    assert doc["share_of_voice_base"]["positive"] == 1
    assert doc["share_of_voice_base"]["negative"] == 1


def test_only_unscored_mentions_leave_every_sentiment_figure_undefined() -> None:
    doc = _fed(Settings(brands=BRAND), mention(NOW - 5, text="alpha é ótimo", language="pt"))
    assert doc["mentions"] == 1 and doc["mentions_by_sentiment"]["unscored"] == 1
    assert doc["sentiment_compound_mean"] is None and doc["net_sentiment"] is None
    assert doc["sentiment_compound_sum"] == 0


def test_a_scorer_named_in_settings_scores_its_language() -> None:
    # Five posts of one low-follower account in a minute would be a new-account burst.
    settings = Settings(
        brands=BRAND, sentiment={"scorers": {"es": SPANISH}}, spam={"enabled": False}
    )
    doc = _fed(
        settings,
        mention(NOW - 5, text="¡Me encanta alpha! El mejor café", language="es"),
        mention(NOW - 5, text="El servicio en alpha es terrible", language="es-MX"),
        mention(NOW - 5, text="alpha abre los domingos", language="es"),
        mention(NOW - 5, text="I love alpha", language="en"),
        mention(NOW - 5, text="Le café chez alpha", language="fr"),
    )
    assert doc["mentions_by_sentiment"] == {
        "positive": 2,
        "neutral": 1,
        "negative": 1,
        "unscored": 1,
    }
    assert doc["net_sentiment"] == pytest.approx(1 / 3)


def test_english_keeps_the_builtin_scorer_beside_configured_ones() -> None:
    p = Pipeline(Settings(brands=BRAND, sentiment={"scorers": {"es": SPANISH}}))
    assert set(p.scorers) == {"en", "es"}
    assert type(p.scorers["es"]).__name__ == "SpanishScorer"
    no_english = Pipeline(Settings(brands=BRAND, languages=["es"]))
    assert no_english.scorers == {}


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("unit.core.no_such_module:X", r"sentiment\.scorers\.es: cannot import module"),
        ("unit.core.spanish_scorer:Missing", r"sentiment\.scorers\.es: .* has no 'Missing'"),
        ("unit.core.spanish_scorer:Broken", r"sentiment\.scorers\.es: .* lexicon file not found"),
        ("unit.core.spanish_scorer:POSITIVE", r"sentiment\.scorers\.es: .* could not be built"),
    ],
)
def test_a_scorer_that_cannot_be_loaded_stops_start_up_naming_the_setting(
    path: str, message: str
) -> None:
    with pytest.raises(ScorerLoadError, match=message):
        load_scorer("es", path)
    with pytest.raises(ScorerLoadError, match=message):
        Pipeline(Settings(brands=BRAND, sentiment={"scorers": {"es": path}}))


def test_scorer_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="not `package.module:ClassName`"):
        Settings(sentiment={"scorers": {"es": "no_colon"}})
    with pytest.raises(ValidationError, match=r"not in `languages`: \['ko'\]"):
        Settings(sentiment={"scorers": {"ko": SPANISH}})
    with pytest.raises(ValidationError, match="languages must be distinct"):
        Settings(languages=["en", "en"])
    with pytest.raises(ValidationError):
        Settings(languages=["other"])  # the bounded labels are reserved
    with pytest.raises(ValidationError):
        Settings(languages=[f"l{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(51)])


def _reference(detector: LanguageDetector, text: str, min_confidence: float) -> str:
    """py3langid's own ``classify``, thresholded as the detector thresholds it."""
    language, probability = detector._identifier.classify(text)
    return str(language) if probability >= min_confidence else UNKNOWN


def _generated(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = "the of café über ñandú 😀 🎉 LOVE no way! ¿qué? très bien danke schön ok lol".split()
    alphabet = "abcdefghijklmnopqrstuvwxyzéèàüößñç😀 !?.,ABCDE\u0301"
    out = []
    for i in range(n):
        if i % 2:
            out.append(" ".join(rng.choice(words) for _ in range(rng.randrange(0, 40))))
        else:
            out.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 300))))
    return out


@pytest.mark.parametrize("min_confidence", [DEFAULT_LANGUAGE_MIN_CONFIDENCE, 0.2, 0.9])
def test_batch_detection_decides_as_py3langid_does(min_confidence: float) -> None:
    detector = LanguageDetector(DEFAULT_LANGUAGES, min_confidence, cache_entries=0)
    texts = [t for _, t in read_corpus("tweets_GroundTruth.txt")] + _generated(3000, 7)
    texts += ["", " ", "LOUD CAPS ONLY", "x" * 499, "y" * 501]
    expected = [_reference(detector, t, min_confidence) for t in texts]
    got: list[str] = []
    for i in range(0, len(texts), 700):
        got += detector.detect_many(texts[i : i + 700])
    assert got == expected


def test_long_texts_are_scored_exactly_without_the_byte_loop(detector: LanguageDetector) -> None:
    walk = detector._walk
    assert walk.usable
    for text in ("😀" * 10_000, "hello world, the coffee here " * 1_500, "Das ist gut. " * 800):
        assert walk.classify_exact(text) == detector._identifier.classify(text)
