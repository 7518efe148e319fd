"""Differential fuzzing of the compiled hot loops (socialpulse_native) against the Python code.

Run by ``make fuzz`` (``tests/fuzz/fuzz.sh``): atheris drives libFuzzer over a build of the
module instrumented for coverage, AddressSanitizer and UBSan. Each input is one of:

* a batch of texts fingerprinted by the C and by ``MinHasher._compute_python`` (batch and
  one text alone), under random shingle, band and row counts: the same normalised text,
  signature and band keys, bit for bit;
* a text and a stop list tokenised by the C and by ``Tokeniser._terms_python``: the same terms;
* the texts of a batch added to a near-duplicate index (some expiring), each looked up by the
  C ``nearest`` and by ``NearDuplicateIndex._nearest_python`` at a random threshold: the same;
* arbitrary arguments (wrong types, out-of-range and overflowing ints, misaligned or short
  buffers, non-str items, str subclasses whose ``lower`` misbehaves) to any function: a
  result or TypeError, ValueError, OverflowError or MemoryError (AttributeError too for
  ``nearest``, whose index entries may be anything), never a crash or another error.

Texts mix ASCII runs, any code point (surrogates too), characters of every Unicode general
category and space, the link, handle and hashtag pieces the Python regexes hinge on, and copies
of themselves up to megabytes.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import atheris
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# The Python code is not instrumented: coverage of the C guides the search, and tracing the
# reference's loops made a long text take seconds.
import socialpulse_native as native

from native_texts import CATEGORIES, PIECES, SPACES
from socialpulse.core import neardup, terms
from socialpulse.core.neardup import MinHasher, NearDuplicateIndex
from socialpulse.core.terms import Tokeniser

if os.environ.get("SOCIALPULSE_FUZZ_BUILD") and not native.__file__.startswith(
    os.environ["SOCIALPULSE_FUZZ_BUILD"]
):
    sys.exit(f"fuzzing {native.__file__}, not the instrumented build")

LANGUAGES = ("en", "es", "pt", "fr", "de", "it", "nl")
TOKENISER = Tokeniser(LANGUAGES)
HASHERS: dict[tuple[int, int, int], MinHasher] = {}
# A sample of each general category and the characters whose case or class is unusual.
_RNG = random.Random(0)
SPECIAL = sorted(
    {c for chars in CATEGORIES.values() for c in _RNG.sample(chars, min(len(chars), 64))}
    | set(SPACES)
    | set("İıßﬃǅǄǆΣσςẞ\u0307\u0301\u200b\u200d\ufeff\U0001f600٣²_#@'")
)
ALLOWED = (TypeError, ValueError, OverflowError, MemoryError)


def text(fdp: atheris.FuzzedDataProvider) -> str:
    """A text built from the input: ASCII runs, code points, pieces, sometimes repeated."""
    parts: list[str] = []
    for _ in range(fdp.ConsumeIntInRange(0, 24)):
        op = fdp.ConsumeIntInRange(0, 9)
        if op <= 2:
            parts.append(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 16)).decode("latin-1"))
        elif op == 3:
            parts.append(chr(fdp.ConsumeIntInRange(0, sys.maxunicode)))
        elif op <= 5:
            parts.append(PIECES[fdp.ConsumeIntInRange(0, len(PIECES) - 1)])
        elif op <= 7:
            parts.append(SPECIAL[fdp.ConsumeIntInRange(0, len(SPECIAL) - 1)])
        elif op == 8:
            parts.append(fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 16)))
        elif parts:  # copies of the last part, the text kept under 256 Ki characters
            times = fdp.ConsumeIntInRange(1, 1 << fdp.ConsumeIntInRange(1, 17))
            room = (1 << 18) - sum(map(len, parts))
            parts.append(parts[-1] * min(times, max(room, 0) // (len(parts[-1]) + 1)))
    return "".join(parts)


def hasher(k: int, bands: int, rows: int) -> MinHasher:
    found = HASHERS.get((k, bands, rows))
    if found is None:
        found = HASHERS[k, bands, rows] = MinHasher(k, bands, rows)
    return found


def check_fingerprints(fdp: atheris.FuzzedDataProvider) -> None:
    k, bands, rows = (
        fdp.ConsumeIntInRange(1, 16),
        fdp.ConsumeIntInRange(1, 16),
        fdp.ConsumeIntInRange(1, 8),
    )
    texts = [text(fdp) for _ in range(fdp.ConsumeIntInRange(1, 6))]
    h = hasher(k, bands, rows)
    ours = h._compute_native(texts)
    batch = h._compute_python(texts)
    for t, o, p in zip(texts, ours, batch, strict=True):
        alone = h._compute_python([t])[0]
        for theirs in (p, alone):
            if (
                o.text != theirs.text
                or o.bands != theirs.bands
                or not np.array_equal(o.signature, theirs.signature)
            ):
                raise AssertionError(f"fingerprint differs ({k}, {bands}, {rows}): {t!r}")


def check_nearest(fdp: atheris.FuzzedDataProvider) -> None:
    """The compiled band index against the Python one: lookups, adds, expiry, its state."""
    h = hasher(
        fdp.ConsumeIntInRange(1, 8), fdp.ConsumeIntInRange(1, 8), fdp.ConsumeIntInRange(1, 4)
    )
    texts = [text(fdp) for _ in range(fdp.ConsumeIntInRange(1, 12))]
    texts += [t + text(fdp) for t in texts[: fdp.ConsumeIntInRange(0, len(texts))]]
    window, most = fdp.ConsumeIntInRange(1, 8), fdp.ConsumeIntInRange(1, 8)
    ours = NearDuplicateIndex(window, most, native=True)
    theirs = NearDuplicateIndex(window, most, native=False)
    threshold = fdp.ConsumeProbability() if fdp.ConsumeBool() else fdp.ConsumeRegularFloat()
    now = 0.0
    for post, fp in enumerate(h._compute_native(texts)):
        a, b = ours.nearest(fp, threshold), theirs.nearest(fp, threshold)
        if a != b:
            raise AssertionError(f"nearest differs ({threshold}): {texts[post]!r}: {a} {b}")
        if ours.add(post, now, fp) != theirs.add(post, now, fp):
            raise AssertionError("add differs")
        now += fdp.ConsumeIntInRange(0, 2)
        if ours.expire(now) != theirs.expire(now):
            raise AssertionError("expire differs")
    if ours.entries() != theirs.entries() or ours.oldest != theirs.oldest:
        raise AssertionError("entries differ")


def check_terms(fdp: atheris.FuzzedDataProvider) -> None:
    t = text(fdp)
    pick = fdp.ConsumeIntInRange(0, len(LANGUAGES) + 1)
    if pick <= len(LANGUAGES):
        lang = ("", *LANGUAGES)[pick]
    else:  # a stop list of the input's own words
        lang = "zz"
        stop = frozenset(text(fdp).lower().split())
        TOKENISER._stop[lang] = stop
        TOKENISER._pieces[lang] = terms._PieceTerms(stop)
    ours = native.terms(t, TOKENISER._stop[lang])
    theirs = TOKENISER._terms_python(t, lang)
    if len(t) > 10_000:  # the pieces it learnt would hold megabytes
        TOKENISER._pieces[lang].clear()
    if ours != theirs:
        raise AssertionError(f"terms differ ({lang}): {t!r}: {ours!r} != {theirs!r}")


class Evil(str):
    """A str whose ``lower`` returns what the input says, or mutates the batch being read."""

    target: list[object] = []
    answer: object = None

    def lower(self) -> Any:
        Evil.target.clear()
        return Evil.answer


def value(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> object:
    """An argument: anything a caller could pass by mistake, or by malice."""
    op = fdp.ConsumeIntInRange(0, 16)
    if op == 0:
        return fdp.ConsumeIntInRange(-(1 << 70), 1 << 70)
    if op == 1:
        big = (
            0,
            1,
            2,
            3,
            4,
            8,
            16,
            64,
            -1,
            -2,
            1 << 31,
            1 << 32,
            (1 << 62) + 1,
            1 << 62,
            (1 << 63) - 1,
            -(1 << 63),
            1 << 63,
            1 << 64,
            1 << 61,
            (1 << 61) + 1,
            1 << 30,
        )
        return big[fdp.ConsumeIntInRange(0, len(big) - 1)]
    if op == 2:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 600))
    if op == 3:  # a misaligned or strided buffer
        raw = bytearray(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 600)))
        return memoryview(raw)[fdp.ConsumeIntInRange(0, 3) :]
    if op == 4:
        return text(fdp)
    if op == 5 and depth < 2:
        return [value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 5))]
    if op == 6:
        return [text(fdp) for _ in range(fdp.ConsumeIntInRange(0, 5))]
    if op == 7:
        return tuple(text(fdp) for _ in range(fdp.ConsumeIntInRange(0, 5)))
    if op == 8:
        return frozenset(text(fdp).split())
    if op == 9:
        return {text(fdp)}
    if op == 10:
        evil = Evil(text(fdp))
        Evil.answer = value(fdp, depth + 1) if depth < 2 else None
        return evil
    if op == 11:
        batch: list[object] = [text(fdp), Evil(text(fdp)), text(fdp)]
        Evil.target = batch
        Evil.answer = text(fdp)
        return batch
    if op == 12:
        return np.zeros(fdp.ConsumeIntInRange(0, 64), dtype=np.uint32)[::2]  # not contiguous
    if op == 13:
        return iter([text(fdp)])
    if op == 14:
        return fdp.ConsumeRegularFloat()
    if op == 15 and depth < 2:  # a band map: ints to index entries, or to anything
        fp = hasher(5, 2, 2).fingerprint(text(fdp))
        index = NearDuplicateIndex(60, 10, native=False)  # its dict of band keys
        index.add(fdp.ConsumeIntInRange(-(1 << 70), 1 << 70), 0.0, fp)
        found: dict[object, object] = dict(index._by_band.items())
        key = value(fdp, depth + 1)
        try:
            hash(key)
        except (TypeError, ValueError):  # a list, a writable memoryview: its text instead
            key = repr(key)
        found[key] = value(fdp, depth + 1)
        return found
    return None


def check_arguments(fdp: atheris.FuzzedDataProvider) -> None:
    """Arbitrary arguments, or a well-formed call with one argument replaced."""
    fp = hasher(5, 2, 2).fingerprint(text(fdp))
    table = native.BandIndex(4, 2)
    table.add(1, 0.0, fp.signature, fp.bands)
    calls: tuple[tuple[Callable[..., object], list[object]], ...] = (
        (native.fingerprints, [[text(fdp)], 5, bytes(16), bytes(16), 2, 2]),
        (native.terms, [text(fdp), frozenset(text(fdp).split())]),
        (native.count_terms, [{}, tuple(text(fdp).split()), frozenset(text(fdp).split())]),
        (table.nearest, [fp.bands, fp.signature, 0.5]),
        (table.add, [2, 1.0, fp.signature, fp.bands]),
        (table.expire, [0.5, 10]),
        (native.BandIndex, [4, 2]),
    )
    func, args = calls[fdp.ConsumeIntInRange(0, len(calls) - 1)]
    if fdp.ConsumeBool():
        args = [value(fdp) for _ in range(fdp.ConsumeIntInRange(0, 7))]
    elif func is native.fingerprints:
        bands, rows = fdp.ConsumeIntInRange(1, 8), fdp.ConsumeIntInRange(1, 8)
        args = [[text(fdp)], 5, bytes(4 * bands * rows), bytes(4 * bands * rows), bands, rows]
        args[fdp.ConsumeIntInRange(0, 5)] = value(fdp)
    else:
        args[fdp.ConsumeIntInRange(0, len(args) - 1)] = value(fdp)
    try:
        func(*args)
    except ALLOWED:
        pass
    table.entries()


CHECKS = (check_fingerprints, check_terms, check_nearest, check_arguments)


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    CHECKS[fdp.ConsumeIntInRange(0, len(CHECKS) - 1)](fdp)


def main() -> None:
    assert neardup.NATIVE, "socialpulse_native is not importable"  # noqa: S101
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
