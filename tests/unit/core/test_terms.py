"""Tokenisation for trends: words, hashtags, mentions; stop-words and brand terms left out."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialpulse.core import terms as terms_module
from socialpulse.core.terms import _TOKEN, _URL, MAX_TERM_CHARS, Tokeniser, brand_terms, stop_words

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


def _regex_terms(text: str, stop: frozenset[str]) -> tuple[str, ...]:
    """The definition: ``_TOKEN`` over the whole lower-cased text, URLs dropped."""
    seen: dict[str, None] = {}
    for tok in _TOKEN.findall(_URL.sub(" ", text.lower())):
        if tok[0] in "#@":
            if 3 <= len(tok) <= MAX_TERM_CHARS:
                seen[tok] = None
            continue
        tok = tok.strip("'") if len(tok) <= MAX_TERM_CHARS else ""
        if len(tok) >= 2 and tok not in stop:
            seen[tok] = None
    return tuple(seen)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="aB'#@_1 é-.ñ😀²½ßİ:/whtps", max_size=60))
def test_splitting_first_gives_the_regex_terms_in_order(text: str) -> None:
    tok = Tokeniser(LANGS)
    assert tok.terms(text) == _regex_terms(text, stop_words(LANGS)[""])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(alphabet="aB'#@_1 é-.ñ😀²½ßİ:/whtps𝔘", max_size=60), max_size=10),
    st.sampled_from([None, "en", "de", "xx"]),
)
def test_a_prefetched_batch_gives_the_terms_of_each_text_alone(
    texts: list[str], language: str | None
) -> None:
    alone = [Tokeniser(LANGS).terms(t, language) for t in texts]
    tok = Tokeniser(LANGS)
    tok.prefetch(texts)
    assert [tok.terms(t, language) for t in texts] == alone


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.text(alphabet="aB'#@_1 é-.ñ😀ßİ:/whtps", max_size=40), max_size=40),
    st.sampled_from([None, "en", "de"]),
)
def test_one_tokeniser_over_many_texts_gives_the_regex_terms(
    texts: list[str], language: str | None
) -> None:
    """Pieces learnt from earlier texts (and forgotten when too many) give the same terms."""
    stop = stop_words(LANGS)[language or ""]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(terms_module, "PIECES_HELD", 8)
        tok = Tokeniser(LANGS, cache_entries=0)
        assert [tok.terms(t, language) for t in texts] == [_regex_terms(t, stop) for t in texts]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["alpha #Beta the", "los gatos y @Alpha", "und die Katze", "x"]),
            st.sampled_from([None, "", "en", "EN-gb", "de", "es", "xx", "e"]),
        ),
        max_size=60,
    ),
    st.integers(0, 6),
)
def test_a_small_cache_gives_the_terms_of_a_fresh_tokeniser(
    posts: list[tuple[str, str | None]], entries: int
) -> None:
    """Cached terms (and the remembered stop list of each language) equal those computed anew.

    The cache forgets its oldest texts and stays within ``cache_entries``; the languages
    remembered stay within ``LANGUAGES_HELD`` whatever the input names.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(terms_module, "LANGUAGES_HELD", 3)
        tok = Tokeniser(LANGS, cache_entries=entries)
        for text, language in posts:
            assert tok.terms(text, language) == Tokeniser(LANGS).terms(text, language)
            assert len(tok._cache) <= entries
            assert len(tok._langs) <= 3


def test_a_repost_in_another_language_uses_that_language_s_stop_words() -> None:
    tok = Tokeniser(LANGS)
    assert tok.terms("die katze los gatos", "de") == ("katze", "los", "gatos")
    assert tok.terms("die katze los gatos", "es") == ("die", "katze", "gatos")
