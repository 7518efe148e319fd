"""Differential test: the compiled fingerprint (socialpulse_native) against the Python one.

Both must give the same normalised text, signature and band keys, bit for bit, on the demo
posts, the VADER corpus and generated texts drawing on every Unicode general category. Where
``make install`` builds the module (``native_texts.buildable``) its absence is a failure; where
it cannot, the same texts still check the Python code's two paths (a batch, one text alone)
against each other, and a fresh interpreter without the module falls back to them.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from native_texts import CATEGORIES, CORPORA, buildable, case_changing_texts, demo_texts, generated
from socialpulse.core import neardup
from socialpulse.core.neardup import MinHasher, NearDuplicateIndex
from vader_corpus import read_corpus


def test_built_where_a_compiler_is() -> None:
    """``make install`` builds it wherever it can; a failed build must not pass unseen."""
    assert neardup.NATIVE or not buildable(), "a C compiler is here, socialpulse_native is not"


# The tests of the C alone (its argument checks); the differential ones run everywhere.
native = pytest.mark.skipif(not neardup.NATIVE, reason="no C compiler: no compiled module")


def _assert_same(texts: list[str], shingle: int = 5, bands: int = 8, rows: int = 4) -> None:
    """The compiled batch (or, without it, the Python batch) against the Python, both ways."""
    hasher = MinHasher(shingle, bands, rows)
    python = hasher._compute_python(texts)
    ours = hasher._compute_native(texts) if neardup.NATIVE else python
    singles = [hasher._compute_python([t])[0] for t in texts[:300]]
    if neardup.NATIVE:  # without the module only the batch-against-one-text check applies
        for text, mine, theirs in zip(texts, ours, python, strict=True):
            assert mine.text == theirs.text, text
            assert np.array_equal(mine.signature, theirs.signature), text
            assert mine.bands == theirs.bands, text
    for text, mine, alone in zip(texts, ours, singles, strict=False):
        assert (mine.text, mine.bands) == (alone.text, alone.bands), text
        assert np.array_equal(mine.signature, alone.signature), text


@native
def test_native_is_used_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """The public fingerprint and lookup paths never reach the Python code once it is built."""

    def python(*_: object) -> Any:
        raise AssertionError("the Python path ran though the module is built")

    hasher = MinHasher(5, 8, 4)
    index = NearDuplicateIndex(3600, 100)
    monkeypatch.setattr(hasher, "_compute_python", python)
    monkeypatch.setattr(index, "_nearest_python", python)
    a, b = hasher.fingerprints(
        ["the same long text posted twice", "the same long text posted twice!"]
    )
    index.add(1, 0.0, a)
    assert index.nearest(b, 0.6) == (1, 1.0)


def test_demo_posts_match() -> None:
    _assert_same(demo_texts(2000))


@pytest.mark.parametrize("name", CORPORA)
def test_vader_corpus_matches(name: str) -> None:
    _assert_same([text for _rating, text in read_corpus(name)])


@pytest.mark.parametrize(("shingle", "bands", "rows"), [(2, 1, 1), (5, 8, 4), (16, 64, 16)])
def test_generated_texts_of_every_category_match(shingle: int, bands: int, rows: int) -> None:
    texts = generated(random.Random(shingle), 3000)
    texts += ["", " ", "a", "@only http://links.too", "ab", "\U0010ffff", "\ud800x"]
    texts += ["".join(chars) for chars in CATEGORIES.values()][:40]
    _assert_same(texts, shingle, bands, rows)


def test_every_case_changing_character_is_lowered_as_str_lower_does() -> None:
    """Texts lowered in C, the rest by ``str.lower``: never told apart wrongly, for any char."""
    _assert_same(case_changing_texts())


_FALLBACK = """
import json, sys
sys.modules["socialpulse_native"] = None  # what an install without a compiler has: no module
from socialpulse.core import native, neardup
from socialpulse.core.terms import Tokeniser
texts = json.loads(sys.stdin.read())
hasher = neardup.MinHasher(5, 8, 4)
tokeniser = Tokeniser(["en"])
tokeniser.prefetch(texts)
print(json.dumps({
    "compiled": [
        native.COMPILED is not None,
        hasher.native,
        neardup.NearDuplicateIndex(60, 10)._native,
        tokeniser._compiled is not None,
    ],
    "fingerprints": [[f.text, f.signature.tolist(), f.bands] for f in hasher.fingerprints(texts)],
    "terms": [tokeniser.terms(t, "en") for t in texts],
}))
"""


def test_without_the_module_the_python_code_is_used() -> None:
    """A fresh interpreter where the import fails falls back to the Python code: same results."""
    texts = [*demo_texts(50), "Loving the #NewRoast from @Lumen, don't you? http://x.co/1"]
    out = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", _FALLBACK],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(out.stdout)
    assert found["compiled"] == [False, False, False, False]
    hasher = MinHasher(5, 8, 4)
    expected = hasher._compute_native(texts) if neardup.NATIVE else hasher._compute_python(texts)
    assert found["fingerprints"] == [
        [f.text, f.signature.tolist(), list(f.bands)] for f in expected
    ]
    assert found["terms"][-1] == ["loving", "#newroast", "@lumen"]


@native
def test_rejects_mismatched_parameters() -> None:
    from socialpulse.core.native import COMPILED

    assert COMPILED is not None

    hasher = MinHasher(5, 8, 4)
    with pytest.raises(ValueError, match="disagree"):
        COMPILED.fingerprints(["x"], 5, hasher._a_bytes, b"", 8, 4)
    with pytest.raises(TypeError, match="str"):
        COMPILED.fingerprints([b"x"], 5, hasher._a_bytes, hasher._b_bytes, 8, 4)


class _Lying(str):
    """A str whose own ``lower`` returns no str, and empties the batch it is in."""

    batch: list[str] = []

    def lower(self) -> Any:
        _Lying.batch.clear()
        return 5


@native
def test_a_str_subclass_is_lowered_by_str_lower() -> None:
    """Its own ``lower`` is never called: it can neither lie about the text nor change the batch."""
    from socialpulse.core.native import COMPILED

    assert COMPILED is not None
    hasher = MinHasher(5, 8, 4)
    texts = ["Hello there", "Copy THIS text", "third one"]
    batch: list[str] = [texts[0], _Lying(texts[1]), texts[2]]
    _Lying.batch = batch
    args = (5, hasher._a_bytes, hasher._b_bytes, 8, 4)
    assert COMPILED.fingerprints(batch, *args) == COMPILED.fingerprints(texts, *args)
    assert len(batch) == 3
    assert COMPILED.terms(_Lying("Copy THIS text"), frozenset()) == ("copy", "this", "text")


@native
@pytest.mark.parametrize(
    ("shingle", "bands", "rows"),
    [(0, 8, 4), (1025, 8, 4), (5, 0, 4), (5, 8, 0), (5, 2**62, 4), (5, 2**62 + 1, 4),
     (5, 4, 2**62), (5, 65536, 2), (2**62, 8, 4), (-1, 8, 4)],
)  # fmt: skip
def test_rejects_counts_out_of_range(shingle: int, bands: int, rows: int) -> None:
    """Counts whose product would overflow, or whose buffers would, are refused before use."""
    from socialpulse.core.native import COMPILED

    assert COMPILED is not None
    with pytest.raises(ValueError, match="shingle must be 1 to 1024"):
        COMPILED.fingerprints(["hello world"], shingle, b"", b"", bands, rows)


@native
def test_accepts_misaligned_buffers_and_any_iterable() -> None:
    from socialpulse.core.native import COMPILED

    assert COMPILED is not None
    hasher = MinHasher(5, 8, 4)
    a = memoryview(b"\0" + hasher._a_bytes)[1:]
    b = memoryview(b"\0\0\0" + hasher._b_bytes)[3:]
    texts = ["a misaligned read", "is undefined in C"]
    expected = COMPILED.fingerprints(texts, 5, hasher._a_bytes, hasher._b_bytes, 8, 4)
    assert COMPILED.fingerprints(iter(texts), 5, a, b, 8, 4) == expected
    with pytest.raises(TypeError):
        COMPILED.fingerprints(5, 5, a, b, 8, 4)
    with pytest.raises(TypeError):
        COMPILED.fingerprints(["x", None], 5, a, b, 8, 4)


def _same(ours: NearDuplicateIndex, theirs: NearDuplicateIndex) -> None:
    assert len(ours) == len(theirs)
    assert ours.oldest == theirs.oldest
    assert ours.entries() == theirs.entries()


@native
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.6, 1.0, float("nan")])
def test_the_band_index_answers_as_the_python_one(threshold: float) -> None:
    """The compiled ``BandIndex`` against the Python index on posts that come and go."""
    hasher = MinHasher(5, 8, 4)
    posts = demo_texts(400)
    texts = posts + [t[:-4] + "edit" for t in posts[:200]] + generated(random.Random(4), 300)
    ours, theirs = NearDuplicateIndex(3600, 300), NearDuplicateIndex(3600, 300, native=False)
    assert ours._native and not theirs._native
    rng = random.Random(9)
    now = 0.0
    for post, fp in enumerate(hasher._compute_python(texts)):
        assert ours.nearest(fp, threshold) == theirs.nearest(fp, threshold), texts[post]
        assert ours.add(post, now, fp) == theirs.add(post, now, fp)
        now += rng.choice([0.0, 1.0, 7.0])  # equal times too: expiry at the window's edge
        assert ours.expire(now) == theirs.expire(now)
        if post % 97 == 0:
            _same(ours, theirs)
    _same(ours, theirs)
    again = NearDuplicateIndex(3600, 300)
    again.load(theirs.entries())  # what a restore does, from the Python index's state
    _same(again, theirs)
    for fp in hasher._compute_python(texts[::7]):
        assert again.nearest(fp, threshold) == theirs.nearest(fp, threshold)


@native
def test_the_band_index_keeps_every_key_findable_through_collisions() -> None:
    """Posts sharing band keys, added and expired: every other key stays where lookups find it.

    The table's deletions move later keys of a probe run back; few keys make long runs.
    """
    rng = random.Random(3)
    keys = [rng.getrandbits(64) for _ in range(40)]  # few keys: long probe runs, shared keys
    sig = np.zeros(8, dtype=np.uint32)
    ours, theirs = NearDuplicateIndex(50, 500), NearDuplicateIndex(50, 500, native=False)
    for post in range(3000):
        sig = sig.copy()
        sig[rng.randrange(8)] = rng.randrange(3)
        fp = neardup.Fingerprint("x", sig, tuple(rng.choice(keys) for _ in range(4)))
        assert ours.nearest(fp, 0.5) == theirs.nearest(fp, 0.5)
        ours.add(post, post / 10, fp)
        theirs.add(post, post / 10, fp)
        assert ours.expire(post / 10) == theirs.expire(post / 10)
    _same(ours, theirs)


@native
def test_the_band_index_reads_a_changed_list_of_keys_afresh() -> None:
    """Keys remembered from the last call are those of a tuple; a list may change between."""
    from socialpulse.core.native import COMPILED

    assert COMPILED is not None
    table = COMPILED.BandIndex(4, 2)
    sig = np.arange(4, dtype=np.uint32)
    keys = [1, 2]
    assert table.nearest(keys, sig, 0.5) is None
    table.add(1, 0.0, sig, keys)
    keys[:] = [3, 4]
    assert table.nearest(keys, sig, 0.5) is None  # neither 3 nor 4 is held
    table.add(2, 0.0, sig, keys)
    assert table.nearest((3, 0), sig, 0.5) == (2, 1.0)
    assert table.nearest((1, 0), sig, 0.5) == (1, 1.0)
    assert [bands for *_, bands in table.entries()] == [(1, 2), (3, 4)]


@native
def test_the_band_index_refuses_bad_arguments() -> None:
    from socialpulse.core.native import COMPILED

    assert COMPILED is not None
    fp = MinHasher(5, 8, 4).fingerprint("a text long enough to be near another")
    table = COMPILED.BandIndex(32, 8)
    assert table.add(7, 0.0, fp.signature, fp.bands) == 1
    odd = memoryview(b"\0" + fp.signature.tobytes())[1:]  # misaligned: read as 4-byte groups
    assert table.nearest(fp.bands, odd, 0.5) == (7, 1.0)
    assert table.nearest(list(fp.bands), fp.signature, 0.5) == (7, 1.0)
    for method, args in [
        (table.nearest, (5, fp.signature, 0.5)),
        (table.nearest, (fp.bands, b"", 0.5)),
        (table.nearest, (fp.bands, b"abc", 0.5)),
        (table.nearest, (fp.bands, fp.signature[:3], 0.5)),
        (table.nearest, (fp.bands[:3], fp.signature, 0.5)),
        (table.nearest, ([[]] * 8, fp.signature, 0.5)),
        (table.nearest, ([-1] * 8, fp.signature, 0.5)),
        (table.nearest, ([2**64] * 8, fp.signature, 0.5)),
        (table.add, (2**63, 0.0, fp.signature, fp.bands)),
        (table.add, (8, "now", fp.signature, fp.bands)),
        (table.add, (8, 0.0, fp.signature[:4], fp.bands)),
        (table.expire, ("x", 10)),
        (COMPILED.BandIndex, (0, 8)),
        (COMPILED.BandIndex, (32, 70_000)),
        (table.__init__, (32, 8)),  # once only
    ]:
        with pytest.raises((TypeError, ValueError, OverflowError, RuntimeError)):
            method(*args)
    assert len(table) == 1 and table.entries()[0][:2] == (0.0, 7)
