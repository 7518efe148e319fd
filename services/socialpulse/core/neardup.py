"""Near-duplicate texts: MinHash signatures of character shingles and an LSH index over a window.

Texts are normalised first (lower case, URLs and @handles dropped, digits folded, punctuation
and spacing collapsed), so a copy with a different link, handle or counter is the same text.
Shingles are hashed and MinHashed with numpy: the ``datasketch`` package was measured at
50-140 µs per signature and ~200 µs per LSH query and insert on a tweet, 5-20 times the whole
pipeline's cost per event; this one costs ~20-30 µs per new text, and a repeated text hits a cache.
The index maps each band of a signature to the latest post that had it, so memory is bounded by
the posts in the window, and expiry is oldest first.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import numpy as np
import numpy.typing as npt

_DROP: Final = re.compile(r"https?://\S+|www\.\S+|@\w+")
_NON_LETTERS: Final = re.compile(r"[\W\d_]+")
CACHE_ENTRIES: Final = 4096
_SHIFT32: Final = np.uint64(32)
_PRIME: Final = np.uint64(1_099_511_628_211)  # FNV-1a 64-bit prime: mixes the shingle bytes

Signature = npt.NDArray[np.uint32]


def normalise(text: str) -> str:
    """The text two copies of one post share: no URLs, handles or digits, single spaces."""
    return _NON_LETTERS.sub(" ", _DROP.sub(" ", text.lower())).strip()


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the index needs of a text: its normalised form, signature and band keys."""

    text: str
    signature: Signature
    bands: tuple[bytes, ...]


class MinHasher:
    """MinHash signatures of ``bands × rows`` values; one seed, so every worker agrees."""

    def __init__(self, shingle: int, bands: int, rows: int, cache_entries: int = CACHE_ENTRIES):
        rng = np.random.default_rng(0x5EED)
        n = bands * rows
        # Multiply-shift hashing: odd 64-bit multipliers, the high 32 bits of a·h + b.
        self._a = (rng.integers(1, 2**63, size=(n, 1), dtype=np.uint64) << np.uint64(1)) | 1
        self._b = rng.integers(0, 2**63, size=(n, 1), dtype=np.uint64)
        self._shingle = shingle
        self._bands = bands
        self._rows = rows
        self._cached = lru_cache(maxsize=cache_entries)(self._fingerprint)

    def fingerprint(self, text: str) -> Fingerprint:
        """The fingerprint of ``text`` (cached: reposts repeat texts)."""
        return self._cached(text)

    def _fingerprint(self, text: str) -> Fingerprint:
        norm = normalise(text)
        raw = np.frombuffer(norm.encode(), dtype=np.uint8).astype(np.uint64)
        k = self._shingle
        if raw.size < k:
            raw = np.concatenate([raw, np.zeros(k - raw.size, dtype=np.uint64)])
        # Polynomial hash of every k-byte window, built from k shifted slices (a repeated
        # shingle only repeats a value: it cannot change a minimum).
        n = raw.size - k + 1
        with np.errstate(over="ignore"):
            shingles = raw[:n].copy()
            for j in range(1, k):
                shingles = shingles * _PRIME + raw[j : j + n]
            mixed = self._a * shingles[None, :] + self._b
        signature = (mixed.min(axis=1) >> _SHIFT32).astype(np.uint32)
        raw_sig = signature.tobytes()
        width = 4 * self._rows
        # A band's key carries its number, so equal values in different bands never collide.
        bands = tuple(
            bytes((i,)) + raw_sig[i * width : (i + 1) * width] for i in range(self._bands)
        )
        return Fingerprint(norm, signature, bands)


def similarity(a: Signature, b: Signature) -> float:
    """Estimated Jaccard similarity of two texts' shingle sets."""
    return float(np.count_nonzero(a == b)) / a.size


@dataclass(slots=True)
class _Entry:
    ts: float
    post: int
    signature: Signature
    bands: tuple[bytes, ...]


class NearDuplicateIndex:
    """Posts of the last ``window_seconds`` (at most ``max_posts``) by their LSH bands."""

    def __init__(self, window_seconds: float, max_posts: int) -> None:
        self.window = window_seconds
        self.max_posts = max_posts
        self._by_band: dict[bytes, _Entry] = {}
        self._entries: deque[_Entry] = deque()

    def __len__(self) -> int:
        return len(self._entries)

    def nearest(self, fp: Fingerprint, threshold: float) -> tuple[int, float] | None:
        """The most similar post sharing a band with ``fp`` at ``threshold`` or above."""
        best: tuple[int, float] | None = None
        seen: set[int] = set()
        for band in fp.bands:
            entry = self._by_band.get(band)
            if entry is None or entry.post in seen:
                continue
            seen.add(entry.post)
            sim = similarity(fp.signature, entry.signature)
            if sim >= threshold and (best is None or sim > best[1]):
                best = (entry.post, sim)
        return best

    def add(self, post: int, ts: float, fp: Fingerprint) -> None:
        """Remember ``post`` (created at ``ts``) as the latest holder of each of its bands."""
        entry = _Entry(ts, post, fp.signature, fp.bands)
        self._entries.append(entry)
        for band in fp.bands:
            self._by_band[band] = entry

    def expire(self, now: float) -> list[int]:
        """Forget posts older than the window at ``now`` or beyond ``max_posts``; their ids."""
        gone = []
        entries = self._entries
        while entries and (entries[0].ts <= now - self.window or len(entries) > self.max_posts):
            entry = entries.popleft()
            gone.append(entry.post)
            for band in entry.bands:
                if self._by_band.get(band) is entry:
                    del self._by_band[band]
        return gone
