"""Types of the optional compiled fingerprint (fingerprint.c)."""

from collections.abc import Sequence

def fingerprints(
    texts: Sequence[str], shingle: int, a: bytes, b: bytes, bands: int, rows: int, /
) -> tuple[list[str], bytearray, list[tuple[int, ...]]]: ...
def terms(text: str, stop: frozenset[str], /) -> tuple[str, ...]: ...
