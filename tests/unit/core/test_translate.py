"""Batch translation by character class: exactly what per-text ``str.translate`` gives."""

from __future__ import annotations

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
