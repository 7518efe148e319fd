"""Event time cut into one-minute buckets: which bucket an event falls in, where a window starts."""

from __future__ import annotations

from typing import Final

BUCKET_SECONDS: Final = 60

# (topic, partition) the events of a piece of state were read from.
Source = tuple[str, int]


def bucket_of(ts: float) -> int:
    """Index of the one-minute bucket holding event time ``ts`` (seconds since the epoch)."""
    return int(ts // BUCKET_SECONDS)


def first_bucket(now: float, length_seconds: int) -> int:
    """Oldest bucket inside a window of ``length_seconds`` that ends in the bucket holding ``now``.

    Buckets newer than ``now`` (events from clocks up to the allowed skew ahead) are inside too.
    """
    return bucket_of(now) - length_seconds // BUCKET_SECONDS + 1
