"""Event time cut into one-minute buckets, hours rolled up: which bucket, where a window starts.

Windows up to an hour long start at a whole minute. Longer windows start at the whole hour their
first minute falls in, so they cover their length plus up to 59 minutes: that lets every hour
wholly older than the last hour be kept as one bucket (``rolled_before``) with no KPI changing.
"""

from __future__ import annotations

from typing import Final

BUCKET_SECONDS: Final = 60
# Minutes one rolled-up bucket covers; it is keyed by the first of them.
HOUR_BUCKETS: Final = 60
# Windows up to this long start at a whole minute; longer ones at a whole hour.
MINUTE_EDGE_SECONDS: Final = 3600

# (topic, partition) the events of a piece of state were read from.
Source = tuple[str, int]


def bucket_of(ts: float) -> int:
    """Index of the one-minute bucket holding event time ``ts`` (seconds since the epoch)."""
    return int(ts // BUCKET_SECONDS)


def hour_of(index: int) -> int:
    """Minute index of the first minute of the hour holding minute ``index``."""
    return index - index % HOUR_BUCKETS


def first_bucket(now: float, length_seconds: int) -> int:
    """Oldest minute inside a window of ``length_seconds`` that ends in the minute of ``now``.

    Windows longer than ``MINUTE_EDGE_SECONDS`` start at the first minute of that minute's hour.
    Buckets newer than ``now`` (events from clocks up to the allowed skew ahead) are inside too.
    """
    first = bucket_of(now) - length_seconds // BUCKET_SECONDS + 1
    return hour_of(first) if length_seconds > MINUTE_EDGE_SECONDS else first


def rolled_before(now: float) -> int:
    """Minutes before this one (whole hours, older than any minute-edged window) roll up."""
    return hour_of(first_bucket(now, MINUTE_EDGE_SECONDS))
