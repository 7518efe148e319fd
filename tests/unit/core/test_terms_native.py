"""Differential test: the compiled tokeniser (socialpulse_native.terms) against the Python one.

Both must give the same terms in the same order for every stop list, on the demo posts, the
VADER corpus and generated texts (``native_texts``); without the module the Python code's two
paths (texts prepared in a batch by ``prefetch``, one text alone) are checked against each other.
Where the module can be built it must be: ``test_neardup_native.test_built_where_a_compiler_is``.
"""

from __future__ import annotations

import random

import pytest

from native_texts import CORPORA, demo_texts, generated
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


@native
def test_rejects_a_mutable_stop_set() -> None:
    assert COMPILED is not None
    with pytest.raises(TypeError):
        COMPILED.terms("text", {"a"})
