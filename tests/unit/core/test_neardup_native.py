"""Differential test: the compiled fingerprint (socialpulse_native) against the Python one.

Both must give the same normalised text, signature and band keys, bit for bit, on the demo
posts, the VADER corpus and generated texts drawing on every Unicode general category. Where a
C compiler exists ``make install`` builds the module, so its absence there is a failure.
"""

from __future__ import annotations

import random
import shutil
import sys
import unicodedata
from collections import defaultdict
from datetime import UTC, datetime

import numpy as np
import pytest

from socialpulse.core import neardup
from socialpulse.core.neardup import MinHasher
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.demo.generator import DemoTraffic
from vader_corpus import read_corpus

CORPORA = (
    "tweets_GroundTruth.txt",
    "movieReviewSnippets_GroundTruth.txt",
    "amazonReviewSnippets_GroundTruth.txt",
    "nytEditorialSnippets_GroundTruth.txt",
)


def test_built_where_a_compiler_is() -> None:
    """``make install`` builds it wherever ``cc`` exists; a failed build must not pass unseen."""
    assert neardup.NATIVE or shutil.which("cc") is None, "cc is here, socialpulse_native is not"


# Where no C compiler exists (the check above then passes) the Python code is the only one.
native = pytest.mark.skipif(not neardup.NATIVE, reason="no C compiler: nothing to compare")


def _by_category() -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for code in range(sys.maxunicode + 1):
        found[unicodedata.category(chr(code))].append(chr(code))
    return found


CATEGORIES = _by_category()
SPACES = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
# Links and handles at the edges of ``neardup._LINKS``, and letters whose lower case grows.
PIECES = (
    *("http://x.co/a1", "HTTPS://Q.org/x?y", "www.q.org", "WwW.Ab", "@han_dle", "@Bob_9"),
    *("http://", "https://", "https:// x", "http:/x", "www.", "wwww.x", "www. x", "@", "@@a"),
    *("@_", "@١٢٣", "@x\u0301y", "#tag", "123", "İ", "ΣΑΣ ", "ß", "\u0307", "ﬃ", "ǅ", "Ⅻ"),
)


def _generated(rng: random.Random, count: int) -> list[str]:
    names = sorted(CATEGORIES)
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randrange(0, 40)):
            pick = rng.random()
            if pick < 0.5:
                parts.append(rng.choice(CATEGORIES[rng.choice(names)]))
            elif pick < 0.6:
                parts.append(rng.choice(PIECES))
            elif pick < 0.7:
                parts.append(rng.choice(SPACES))
            else:
                parts.append(rng.choice("abcXYZ é "))
        texts.append("".join(parts))
    return texts


def _demo_texts(count: int) -> list[str]:
    demo = DemoTraffic(DEMO_BRANDS, random.Random(3))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return [str(demo.mention(at)["text"]) for _ in range(count)]


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
    _assert_same(_demo_texts(2000))


@native
@pytest.mark.parametrize("name", CORPORA)
def test_vader_corpus_matches(name: str) -> None:
    _assert_same([text for _rating, text in read_corpus(name)])


@native
@pytest.mark.parametrize(("shingle", "bands", "rows"), [(2, 1, 1), (5, 8, 4), (16, 64, 16)])
def test_generated_texts_of_every_category_match(shingle: int, bands: int, rows: int) -> None:
    texts = _generated(random.Random(shingle), 3000)
    texts += ["", " ", "a", "@only http://links.too", "ab", "\U0010ffff", "\ud800x"]
    texts += ["".join(chars) for chars in CATEGORIES.values()][:40]
    _assert_same(texts, shingle, bands, rows)


@native
def test_rejects_mismatched_parameters() -> None:
    import socialpulse_native  # only where it is built

    hasher = MinHasher(5, 8, 4)
    with pytest.raises(ValueError, match="disagree"):
        socialpulse_native.fingerprints(["x"], 5, hasher._a_bytes, b"", 8, 4)
    with pytest.raises(TypeError, match="str"):
        socialpulse_native.fingerprints([b"x"], 5, hasher._a_bytes, hasher._b_bytes, 8, 4)  # type: ignore[list-item]
