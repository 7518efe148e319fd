"""Differential test: the compiled fingerprint (socialpulse_native) against the Python one.

Both must give the same normalised text, signature and band keys, bit for bit, on the demo
posts, the VADER corpus and generated texts drawing on every Unicode general category. Where a
C compiler exists ``make install`` builds the module, so its absence there is a failure.
"""

from __future__ import annotations

import random
import shutil

import numpy as np
import pytest

from native_texts import CATEGORIES, CORPORA, demo_texts, generated
from socialpulse.core import neardup
from socialpulse.core.neardup import MinHasher
from vader_corpus import read_corpus


def test_built_where_a_compiler_is() -> None:
    """``make install`` builds it wherever ``cc`` exists; a failed build must not pass unseen."""
    assert neardup.NATIVE or shutil.which("cc") is None, "cc is here, socialpulse_native is not"


# Where no C compiler exists (the check above then passes) the Python code is the only one.
native = pytest.mark.skipif(not neardup.NATIVE, reason="no C compiler: nothing to compare")


def _assert_same(texts: list[str], shingle: int = 5, bands: int = 8, rows: int = 4) -> None:
    hasher = MinHasher(shingle, bands, rows)
    native = hasher._compute_native(texts)
    python = hasher._compute_python(texts)
    singles = [hasher._compute_python([t])[0] for t in texts[:300]]
    for text, ours, theirs in zip(texts, native, python, strict=True):
        assert ours.text == theirs.text, text
        assert np.array_equal(ours.signature, theirs.signature), text
        assert ours.bands == theirs.bands, text
    for ours, alone in zip(native, singles, strict=False):
        assert (ours.text, ours.bands) == (alone.text, alone.bands)
        assert np.array_equal(ours.signature, alone.signature)


@native
def test_native_is_used_when_built() -> None:
    assert MinHasher(5, 8, 4).native


@native
def test_demo_posts_match() -> None:
    _assert_same(demo_texts(2000))


@native
@pytest.mark.parametrize("name", CORPORA)
def test_vader_corpus_matches(name: str) -> None:
    _assert_same([text for _rating, text in read_corpus(name)])


@native
@pytest.mark.parametrize(("shingle", "bands", "rows"), [(2, 1, 1), (5, 8, 4), (16, 64, 16)])
def test_generated_texts_of_every_category_match(shingle: int, bands: int, rows: int) -> None:
    texts = generated(random.Random(shingle), 3000)
    texts += ["", " ", "a", "@only http://links.too", "ab", "\U0010ffff", "\ud800x"]
    texts += ["".join(chars) for chars in CATEGORIES.values()][:40]
    _assert_same(texts, shingle, bands, rows)


@native
def test_rejects_mismatched_parameters() -> None:
    from socialpulse.core.native import COMPILED

    assert COMPILED is not None

    hasher = MinHasher(5, 8, 4)
    with pytest.raises(ValueError, match="disagree"):
        COMPILED.fingerprints(["x"], 5, hasher._a_bytes, b"", 8, 4)
    with pytest.raises(TypeError, match="str"):
        COMPILED.fingerprints([b"x"], 5, hasher._a_bytes, hasher._b_bytes, 8, 4)
