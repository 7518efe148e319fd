"""Differential test: the compiled tokeniser (socialpulse_native.terms) against the Python one.

Both must give the same terms in the same order for every stop list, on the demo posts, the
VADER corpus and generated texts (``native_texts``); without the module the Python code's two
paths (texts prepared in a batch by ``prefetch``, one text alone) are checked against each other.
Where the module can be built it must be: ``test_neardup_native.test_built_where_a_compiler_is``.
"""

from __future__ import annotations

import random

import pytest

from native_texts import CORPORA, case_changing_texts, demo_texts, generated
from socialpulse.core.native import COMPILED
from socialpulse.core.terms import Tokeniser
from vader_corpus import read_corpus

LANGUAGES = ("en", "es", "pt", "fr", "de", "it", "nl")

native = pytest.mark.skipif(COMPILED is None, reason="no C compiler: no compiled module")


def _assert_same(texts: list[str]) -> None:
    tokeniser = Tokeniser(LANGUAGES)
    batch = Tokeniser(LANGUAGES)
    batch._compiled = None  # the Python code, texts prepared a batch at a time
    for start in range(0, len(texts), batch._cache_entries):
        chunk = texts[start : start + batch._cache_entries]
        batch.prefetch(chunk)
        for lang in ("", *LANGUAGES):
            stop = tokeniser._stop[lang]
            for text in chunk:
                expected = tokeniser._terms_python(text, lang)
                assert batch._terms(text, lang) == expected, text
                if tokeniser._compiled is not None:
                    assert tokeniser._compiled(text, stop) == expected, text


def test_tokeniser_uses_it_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    tokeniser = Tokeniser(["en"])
    if COMPILED is not None:  # the public path must not reach the Python tokeniser

        def python(*_: object) -> tuple[str, ...]:
            raise AssertionError("the Python tokeniser ran though the module is built")

        monkeypatch.setattr(tokeniser, "_terms_python", python)
    assert tokeniser.terms("Loving the #NewRoast from @Lumen, don't you?", "en") == (
        "loving",
        "#newroast",
        "@lumen",
    )


def test_demo_posts_match() -> None:
    _assert_same(demo_texts(2000))


@pytest.mark.parametrize("name", CORPORA)
def test_vader_corpus_matches(name: str) -> None:
    _assert_same([text for _rating, text in read_corpus(name)])


def test_generated_texts_of_every_category_match() -> None:
    _assert_same(generated(random.Random(11), 3000) + ["", " ", "http://", "ab"])


def test_every_case_changing_character_is_lowered_as_str_lower_does() -> None:
    """Texts lowered in C, the rest by ``str.lower``: never told apart wrongly, for any char."""
    _assert_same(case_changing_texts())


@native
def test_rejects_a_mutable_stop_set() -> None:
    assert COMPILED is not None
    with pytest.raises(TypeError):
        COMPILED.terms("text", {"a"})


def _words(rng: random.Random, count: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyzé"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(count)]


@native
def test_a_term_in_one_stop_list_and_not_another_is_judged_per_list() -> None:
    # The compiled tokeniser remembers a term's stop-ness for the last list asked of it.
    assert COMPILED is not None
    tokeniser = Tokeniser(("en", "es"))
    en, es = tokeniser._stop["en"], tokeniser._stop["es"]
    text = "the coffee y el cafe the coffee"
    for _ in range(3):
        assert COMPILED.terms(text, en) == ("coffee", "el", "cafe")
        assert COMPILED.terms(text, es) == ("the", "coffee", "cafe")
        assert COMPILED.terms(text, frozenset()) == ("the", "coffee", "el", "cafe")


@native
def test_more_distinct_terms_than_the_compiled_cache_holds_match() -> None:
    # Past the cache's bound (emptied between texts, left alone within one, then terms made
    # uncached) and past the scan's 64 terms (a set tells them apart): the same terms.
    assert COMPILED is not None
    rng = random.Random(3)
    tokeniser = Tokeniser(("en",))
    stop = tokeniser._stop["en"]
    huge = _words(rng, 70_000)
    texts = [
        " ".join(huge + huge[:500]),  # one text: more distinct terms than the cache holds
        " ".join(_words(rng, 200) * 2),  # repeats past 64 terms
        *(" ".join(_words(rng, 30)) for _ in range(3000)),
    ]
    for text in texts * 2:
        assert COMPILED.terms(text, stop) == tokeniser._terms_python(text, "en")


def _count_python(counts: dict[str, int], terms: tuple[str, ...], excluded: frozenset[str]) -> int:
    for t in terms:
        if t not in excluded:
            counts[t] = counts.get(t, 0) + 1
    return len(counts)


@native
def test_compiled_counting_equals_the_python_loop() -> None:
    # core.trends.Bucket.add's counting: each term once per call, the excluded left out.
    assert COMPILED is not None
    rng = random.Random(8)
    vocabulary = _words(rng, 300)
    excluded = frozenset(vocabulary[:20])
    ours: dict[str, int] = {}
    theirs: dict[str, int] = {}
    for _ in range(2000):
        terms = tuple(dict.fromkeys(rng.choices(vocabulary, k=rng.randint(0, 12))))
        for exclude in (excluded, frozenset()):
            assert COMPILED.count_terms(ours, terms, exclude) == _count_python(
                theirs, terms, exclude
            )
    assert ours == theirs
    assert list(ours) == list(theirs)  # the same insertion order: the sketches see the same


@native
def test_compiled_counting_rejects_what_the_loop_is_not_given() -> None:
    assert COMPILED is not None
    with pytest.raises(TypeError):
        COMPILED.count_terms({}, ["a"], frozenset())  # a list: Bucket.add loops over it instead
    with pytest.raises(TypeError):
        COMPILED.count_terms({}, ("a",), {"a"})
    with pytest.raises(OverflowError):
        COMPILED.count_terms({"a": 2**70}, ("a",), frozenset())
