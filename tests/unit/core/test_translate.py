"""Batch translation by character class: exactly what per-text ``str.translate`` gives."""

from __future__ import annotations

import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from socialpulse.core.translate import CharClass

LETTERS = CharClass(str.isalpha)


def _one_by_one(text: str) -> str:
    return "".join(c if c.isalpha() else " " for c in text)


def test_letters_stay_and_the_rest_become_spaces() -> None:
    texts = ["Ünïcode 😍 ok!", "", "123 abc", "𝔘𝔫𝔦 😀 x"]  # math letters lie above the BMP
    assert LETTERS.translate(texts) == [_one_by_one(t) for t in texts]
    assert LETTERS.translate([]) == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=12))
def test_any_batch_equals_each_text_alone(texts: list[str]) -> None:
    """Any code point, surrogates included, in batches of any size and mix of lengths."""
    assert LETTERS.translate(texts) == [_one_by_one(t) for t in texts]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(min_codepoint=0x10000), max_size=8), max_size=6))
def test_code_points_above_the_plane_are_asked_once_each(texts: list[str]) -> None:
    asked: list[str] = []

    def keep(char: str) -> bool:
        asked.append(char)
        return char.isalpha()

    cls = CharClass(keep)
    assert cls.translate(texts) == [_one_by_one(t) for t in texts]
    astral = [c for c in asked if ord(c) >= 0x10000]
    assert len(astral) == len(set(astral)) == len({c for t in texts for c in t})
    assert cls.translate(texts) == [_one_by_one(t) for t in texts]
    assert len([c for c in asked if ord(c) >= 0x10000]) == len(astral)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=12))
def test_words_equal_the_translated_text_split_and_joined(texts: list[str]) -> None:
    """Any code point, empty and blank texts among them, in batches of any size."""
    assert LETTERS.words(texts) == [" ".join(_one_by_one(t).split()) for t in texts]


def test_words_collapse_runs_and_strip_each_text_alone() -> None:
    texts = ["  a  b ", "", "!!", "c", "😍d e😍", " ", "f"]
    assert LETTERS.words(texts) == ["a b", "", "", "c", "d e", "", "f"]
    assert LETTERS.words([]) == []


def test_no_letter_is_whitespace() -> None:
    """What lets ``normalise_many`` collapse spacing with ``words`` (no letter splits a word)."""
    assert not [c for c in range(sys.maxunicode + 1) if chr(c).isalpha() and chr(c).isspace()]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=" \t\u00a0\u2003\u3000a😀é\n", max_size=30), max_size=8))
def test_words_treat_every_unicode_space_as_str_split_does(texts: list[str]) -> None:
    assert LETTERS.words(texts) == [" ".join(_one_by_one(t).split()) for t in texts]
