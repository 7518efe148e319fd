"""Types of the optional compiled module: fingerprints, trend terms and the band lookup."""

from collections.abc import Mapping, Sequence
from typing import Any

from numpy.typing import NDArray

API: int  # SOCIALPULSE_NATIVE_API (links.h): socialpulse uses a build only of its own API

def fingerprints(
    texts: Sequence[str], shingle: int, a: bytes, b: bytes, bands: int, rows: int, /
) -> tuple[list[str], bytearray, list[tuple[int, ...]]]: ...
def terms(text: str, stop: frozenset[str], /) -> tuple[str, ...]: ...
def nearest(
    by_band: Mapping[int, Any], bands: Sequence[int], signature: NDArray[Any], threshold: float, /
) -> tuple[int, float] | None: ...
