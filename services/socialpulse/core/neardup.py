"""Near-duplicate texts: MinHash signatures of character shingles and an LSH index over a window.

Texts are normalised first (lower case, URLs and @handles dropped, digits folded, punctuation
and spacing collapsed), so a copy with a different link, handle or counter is the same text.
Shingles are hashed and MinHashed with numpy: the ``datasketch`` package was measured at
50-140 µs per signature and ~200 µs per LSH query and insert on a tweet, 5-20 times the whole
pipeline's cost per event; this one costs ~20 µs for one new text alone and a few µs a text
in batches (``fingerprints``). Where the optional compiled module is built
(``services/socialpulse-native``) the same fingerprints come from it, ~3 times faster in
batches, and the index's posts live in its flat arrays; this code is its reference and its
fallback. The index maps each band of a signature to the latest post that had it, so memory is
bounded by the posts in the window, and expiry is oldest first.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from itertools import repeat
from typing import Any, Final

import msgspec
import numpy as np
import numpy.typing as npt

from socialpulse.core.native import COMPILED
from socialpulse.core.textcache import trimmed
from socialpulse.core.translate import CharClass

NATIVE: Final = COMPILED is not None
"""Whether the compiled fingerprint is built: ``MinHasher`` then uses it, else the Python."""

# URLs and handles, dropped before the letters are kept.
_LINKS: Final = re.compile(r"(?:https?://|www\.)\S+|@\w+")
CACHE_ENTRIES: Final = 4096
_SHIFT32: Final = np.uint64(32)
_PRIME: Final = np.uint64(1_099_511_628_211)  # FNV-1a 64-bit prime: mixes the shingle bytes

Signature = npt.NDArray[np.uint32]
# Hash functions applied per numpy call, and the most values such a block may hold (4 MB).
_HASH_BLOCK: Final = 8
_BLOCK_VALUES: Final = 1 << 20


class _LettersOnly(dict[int, str]):
    """``str.translate`` table: a letter stays, anything else becomes a space (learnt lazily).

    One C pass over the text: a regex over non-letters cost three times as much per tweet. It
    holds the code points seen, at most Unicode's.
    """

    def __missing__(self, code: int) -> str:
        char = chr(code)
        kept = self[code] = char if char.isalpha() else " "
        return kept


_LETTERS: Final = _LettersOnly()
_LETTER_CLASS: Final = CharClass(str.isalpha)


def _unlinked(text: str) -> str:
    low = text.lower()
    if "@" in low or "http" in low or "www." in low:
        low = _LINKS.sub(" ", low)
    return low


def normalise(text: str) -> str:
    """The text two copies of one post share: no URLs, handles or digits, single spaces."""
    return " ".join(_unlinked(text).translate(_LETTERS).split())


def normalise_many(texts: Sequence[str]) -> list[str]:
    """``normalise`` of each text, the letters kept and the spacing collapsed in numpy passes.

    No letter is whitespace, so ``CharClass.words`` is the per-text split and join.
    """
    return _LETTER_CLASS.words([_unlinked(t) for t in texts])


class Fingerprint(msgspec.Struct, frozen=True, gc=False):
    """What the index needs of a text: its normalised form, signature and band keys.

    Not tracked by the cycle collector (it holds no cycles), like the index's entries: the
    window keeps tens of thousands of them.
    """

    text: str
    signature: Signature
    bands: tuple[int, ...]


class MinHasher:
    """MinHash signatures of ``bands × rows`` values; one seed, so every worker agrees.

    ``fingerprints`` hashes a batch of texts in one pass of numpy calls: their per-call cost,
    not the arithmetic, dominates a single tweet, so a consumer's poll batch costs a fraction
    per text of what one text alone does. Recent texts are kept in a cache.
    """

    def __init__(self, shingle: int, bands: int, rows: int, cache_entries: int = CACHE_ENTRIES):
        rng = np.random.default_rng(0x5EED)
        n = bands * rows
        # Each of the n hashes is a·h + b mod 2^32 with an odd a: a permutation of the 32-bit
        # shingle hashes. 32-bit, because numpy multiplies uint32 with SIMD and uint64 not:
        # measured 10 times faster on a poll batch's shingles.
        self._a = (rng.integers(0, 2**31, size=(n, 1), dtype=np.uint32) << np.uint32(1)) | 1
        self._b = rng.integers(0, 2**32, size=(n, 1), dtype=np.uint32)
        self._band_seeds = (np.arange(bands, dtype=np.uint64) + np.uint64(1)) * _PRIME
        self._shingle = shingle
        self._bands = bands
        self._rows = rows
        self._cache: dict[str, Fingerprint] = {}
        self._cache_entries = cache_entries
        self._a_bytes = self._a.tobytes()
        self._b_bytes = self._b.tobytes()
        self.native = NATIVE

    @property
    def cache_entries(self) -> int:
        """Fingerprints kept for texts seen again (and for ``fingerprints`` computed ahead)."""
        return self._cache_entries

    def fingerprint(self, text: str) -> Fingerprint:
        """The fingerprint of ``text`` (from the cache when ``fingerprints`` computed it ahead)."""
        hit = self._cache.get(text)
        return hit if hit is not None else self.fingerprints((text,))[0]

    def prepare(self, texts: Sequence[str]) -> None:
        """Fingerprint ahead, in one pass, the texts not cached, for ``fingerprint`` to find.

        At most ``cache_entries`` texts (the rest would push the first out).
        """
        cache = self._cache
        missing = [t for t in dict.fromkeys(texts) if t not in cache][: self._cache_entries]
        if missing:
            cache.update(zip(missing, self._compute(missing), strict=True))
            self._evict()

    def _evict(self) -> None:
        self._cache = trimmed(self._cache, self._cache_entries)

    def fingerprints(self, texts: Sequence[str]) -> list[Fingerprint]:
        """The fingerprints of ``texts``, in order; repeated texts (reposts) come from the cache.

        The cache forgets the oldest texts first (insertion order): an LRU's reordering on
        every hit cost more than the hits it kept.
        """
        cache = self._cache
        found = [cache.get(t) for t in texts]
        missing = list(dict.fromkeys(t for t, f in zip(texts, found, strict=True) if f is None))
        if not missing:
            return found  # type: ignore[return-value]  # every text was a hit
        computed = dict(zip(missing, self._compute(missing), strict=True))
        cache.update(computed)
        self._evict()
        return [f if f is not None else computed[t] for t, f in zip(texts, found, strict=True)]

    def _compute(self, texts: Sequence[str]) -> list[Fingerprint]:
        if self.native:
            return self._compute_native(texts)
        return self._compute_python(texts)

    def _compute_native(self, texts: Sequence[str]) -> list[Fingerprint]:
        """``_compute_python``'s fingerprints, bit for bit, from the compiled loop."""
        assert COMPILED is not None  # noqa: S101 - ``native`` is only true then
        norms, raw, keys = COMPILED.fingerprints(
            texts,
            self._shingle,
            self._a_bytes,
            self._b_bytes,
            self._bands,
            self._rows,
        )
        signatures = np.frombuffer(raw, dtype=np.uint32).reshape(len(norms), -1)
        return [
            Fingerprint(norm, signature, bands)
            for norm, signature, bands in zip(norms, signatures, keys, strict=True)
        ]

    def _compute_python(self, texts: Sequence[str]) -> list[Fingerprint]:
        k = self._shingle
        norms = normalise_many(texts) if len(texts) > 1 else [normalise(t) for t in texts]
        # Each text padded to at least one shingle; shingles never cross two texts.
        encoded = [n.encode().ljust(k, b"\0") for n in norms]
        lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
        raw = np.frombuffer(b"".join(encoded), dtype=np.uint8).astype(np.uint64)
        ends = np.cumsum(lengths)
        counts = lengths - k + 1
        starts = np.cumsum(counts) - counts
        n = raw.size - k + 1
        with np.errstate(over="ignore"):
            # Polynomial hash of every k-byte window, from k shifted slices, in place.
            rolled = raw[:n].copy()
            for j in range(1, k):
                np.multiply(rolled, _PRIME, out=rolled)
                np.add(rolled, raw[j : j + n], out=rolled)
            # The windows that start inside a text and end inside it: all but those starting
            # in a text's last k - 1 bytes (the last text's are past ``n`` already).
            inside = np.ones(n, dtype=np.bool_)
            for j in range(1, k):
                inside[ends[:-1] - j] = False
            shingles = rolled[inside]
            folded = (shingles ^ (shingles >> _SHIFT32)).astype(np.uint32)
            # A few hash functions at a time over one buffer: it stays in the CPU cache, where a
            # (hashes × shingles) array did not, in a quarter of the numpy calls of one at a
            # time (measured 40 % faster than the whole array, 40 % faster again in blocks).
            hashes = self._a.shape[0]
            block = max(1, min(_HASH_BLOCK, _BLOCK_VALUES // max(folded.size, 1)))
            mins = np.empty((hashes, len(norms)), dtype=np.uint32)
            mixed = np.empty((block, folded.size), dtype=np.uint32)
            for lo in range(0, hashes, block):
                hi = min(lo + block, hashes)
                part = mixed[: hi - lo]
                np.multiply(folded, self._a[lo:hi], out=part)
                np.add(part, self._b[lo:hi], out=part)
                np.minimum.reduceat(part, starts, axis=1, out=mins[lo:hi])
            signatures = mins.T.copy()
            # A band's key: its rows hashed into 64 bits, seeded by the band's number, so equal
            # values in different bands never meet. Keys are ints from one ``tolist``: slicing
            # bytes per band cost more than the hashing. A collision only costs a comparison
            # (``nearest`` checks the signatures).
            rows = signatures.reshape(len(norms), self._bands, self._rows).astype(np.uint64)
            keys = self._band_seeds + rows[:, :, 0]
            for j in range(1, self._rows):
                keys = keys * _PRIME + rows[:, :, j]
        return [
            Fingerprint(norm, signature, tuple(bands))
            for norm, signature, bands in zip(norms, signatures, keys.tolist(), strict=True)
        ]


def similarity(a: Signature, b: Signature) -> float:
    """Estimated Jaccard similarity of two texts' shingle sets."""
    return float(np.count_nonzero(a == b)) / a.size


class _Entry(msgspec.Struct, gc=False):
    ts: float
    post: int
    signature: Signature
    bands: tuple[int, ...]


class NearDuplicateIndex:
    """Posts of the last ``window_seconds`` (at most ``max_posts``) by their LSH bands.

    Where the compiled module is built the posts live in its ``BandIndex``: flat arrays of
    every post's time, id, signature and band keys, and an open-addressing table of band key
    to post, about 420 bytes a post with the default 8 × 4 signature where a dict of band keys
    and an object per post took about 1,050. The Python below (a dict and a deque) is its
    reference and fallback, with the same answers to every call.
    """

    def __init__(self, window_seconds: float, max_posts: int, native: bool = NATIVE) -> None:
        """``native``: hold the posts in the compiled ``BandIndex`` (where it is built)."""
        self.window = window_seconds
        self.max_posts = max_posts
        self._by_band: dict[int, _Entry] = {}
        self._entries: deque[_Entry] = deque()
        self._native = native and COMPILED is not None
        self._table: Any = None  # the BandIndex, made at the first post (it knows its shape)

    def __len__(self) -> int:
        return len(self._table) if self._table is not None else len(self._entries)

    @property
    def oldest(self) -> float:
        """Creation time of the oldest post held (+inf when none): when ``expire`` is due."""
        if self._table is not None:
            oldest: float = self._table.oldest
            return oldest
        return self._entries[0].ts if self._entries else float("inf")

    def nearest(self, fp: Fingerprint, threshold: float) -> tuple[int, float] | None:
        """The most similar post sharing a band with ``fp`` at ``threshold`` or above.

        Candidates in band order, so of equally similar posts the first found wins.
        """
        if self._table is not None:
            found: tuple[int, float] | None = self._table.nearest(fp.bands, fp.signature, threshold)
            return found
        if self._native:
            return None  # nothing held yet
        return self._nearest_python(fp, threshold)

    def _nearest_python(self, fp: Fingerprint, threshold: float) -> tuple[int, float] | None:
        """``nearest`` in Python, the compiled one's reference and fallback.

        The bands are looked up by C loops (``map``, ``filter``): most find nothing.
        """
        found = list(filter(None, map(self._by_band.get, fp.bands)))
        if not found:
            return None
        best: tuple[int, float] | None = None
        seen: set[int] = set()
        signature = fp.signature
        size = signature.size
        for entry in found:
            if entry.post in seen:
                continue
            seen.add(entry.post)
            sim = float(np.count_nonzero(signature == entry.signature)) / size
            if sim >= threshold and (best is None or sim > best[1]):
                best = (entry.post, sim)
        return best

    def _made(self, values: int, bands: int) -> Any:
        assert COMPILED is not None  # noqa: S101 - ``_native`` is only true then
        self._table = COMPILED.BandIndex(values, bands)
        return self._table

    def add(self, post: int, ts: float, fp: Fingerprint) -> int:
        """Remember ``post`` (created at ``ts``) as the latest holder of each of its bands.

        Returns the posts held now (``len``), which the caller checks against its bound. The
        bands are set by a loop: ``update(zip(bands, repeat(entry)))`` was measured at twice
        its cost.
        """
        if self._native:
            table = self._table or self._made(fp.signature.size, len(fp.bands))
            held: int = table.add(post, ts, fp.signature, fp.bands)
            return held
        entry = _Entry(ts, post, fp.signature, fp.bands)
        entries = self._entries
        entries.append(entry)
        by_band = self._by_band
        for band in fp.bands:
            by_band[band] = entry
        return len(entries)

    def expire(self, now: float) -> list[int]:
        """Forget posts older than the window at ``now`` or beyond ``max_posts``; their ids."""
        cutoff = now - self.window
        if self._table is not None:
            gone: list[int] = self._table.expire(cutoff, self.max_posts)
            return gone
        gone = []
        entries = self._entries
        by_band = self._by_band
        while entries and (entries[0].ts <= cutoff or len(entries) > self.max_posts):
            entry = entries.popleft()
            gone.append(entry.post)
            for band in entry.bands:
                if by_band.get(band) is entry:
                    del by_band[band]
        return gone

    def entries(self) -> list[tuple[float, int, bytes, tuple[int, ...]]]:
        """The posts held, oldest first, as (created at, post, signature bytes, band keys)."""
        if self._table is not None:
            held: list[tuple[float, int, bytes, tuple[int, ...]]] = self._table.entries()
            return held
        return [(e.ts, e.post, e.signature.tobytes(), e.bands) for e in self._entries]

    def load(self, entries: Sequence[tuple[float, int, bytes, Sequence[int]]]) -> None:
        """Hold ``entries`` (as ``entries`` gave them) in place of the current posts.

        Adding them oldest first rebuilds the band map exactly: each band names the latest
        post holding it, and a band whose latest post expired was dropped with it.
        """
        self._by_band = {}
        self._entries = deque()
        self._table = None
        if self._native:
            for ts, post, signature, bands in entries:
                table = self._table or self._made(len(signature) // 4, len(bands))
                table.add(post, ts, signature, bands)
            return
        for ts, post, signature, bands in entries:
            entry = _Entry(ts, post, np.frombuffer(signature, dtype=np.uint32), tuple(bands))
            self._entries.append(entry)
            self._by_band.update(zip(entry.bands, repeat(entry)))
