"""Types of the optional compiled module: fingerprints, trend terms and the band index."""

from collections.abc import Sequence
from typing import Any

from numpy.typing import NDArray

API: int  # SOCIALPULSE_NATIVE_API (links.h): socialpulse uses a build only of its own API

def fingerprints(
    texts: Sequence[str], shingle: int, a: bytes, b: bytes, bands: int, rows: int, /
) -> tuple[list[str], bytearray, list[tuple[int, ...]]]: ...
def terms(text: str, stop: frozenset[str], /) -> tuple[str, ...]: ...
def count_terms(
    counts: dict[str, int], terms: tuple[str, ...], excluded: frozenset[str], /
) -> int: ...

class BandIndex:
    """core.neardup.NearDuplicateIndex's posts in flat arrays (bandindex.c)."""

    oldest: float
    def __init__(self, values: int, bands: int) -> None: ...
    def __len__(self) -> int: ...
    def add(
        self, post: int, ts: float, signature: NDArray[Any] | bytes, bands: Sequence[int], /
    ) -> int: ...
    def nearest(
        self, bands: Sequence[int], signature: NDArray[Any] | bytes, threshold: float, /
    ) -> tuple[int, float] | None: ...
    def expire(self, cutoff: float, max_posts: int, /) -> list[int]: ...
    def entries(self) -> list[tuple[float, int, bytes, tuple[int, ...]]]: ...
