"""Tokenisation for trends: words, hashtags, mentions; stop-words and brand terms left out."""

from __future__ import annotations

from socialpulse.core.terms import Tokeniser, brand_terms, stop_words

LANGS = ("en", "es", "pt", "fr", "de")


def test_words_hashtags_and_mentions_lower_cased_once_each() -> None:
    tok = Tokeniser(LANGS)
    terms = tok.terms("Battery BATTERY battery! #Launch @Alpha_Help https://x.co/abc 2024")
    assert terms == ("battery", "#launch", "@alpha_help")


def test_stop_words_of_every_configured_language_are_dropped() -> None:
    tok = Tokeniser(LANGS)
    text = "the and los und avec uma phone"
    assert tok.terms(text) == ("phone",)
    for lang, words in stop_words(LANGS).items():
        if lang:
            assert set(tok.terms(" ".join(sorted(words)[:200]), lang)) == set()


def test_a_known_language_uses_its_own_list() -> None:
    tok = Tokeniser(LANGS)
    # "die" is a German article but an English word.
    assert "die" in tok.terms("die hard", "en")
    assert "die" not in tok.terms("die hard", "de")
    assert "die" not in tok.terms("die hard")


def test_brand_terms_cover_word_tag_and_handle_forms() -> None:
    ex = brand_terms(["Aurora Coffee"], ["@aurora_co"])
    assert {"aurora", "#aurora", "@aurora", "coffee", "#coffee", "aurora_co", "@aurora_co"} <= ex
