"""Timeline: event time to one-minute buckets, and the first bucket of a window."""

from __future__ import annotations

from socialpulse.core.windows.timeline import bucket_of, first_bucket

NOW = 1_800_000_000.0  # a whole minute: 2027-01-15T08:00:00Z


def test_bucket_math() -> None:
    assert bucket_of(NOW) == bucket_of(NOW + 59.999)
    assert bucket_of(NOW - 0.001) == bucket_of(NOW) - 1
    assert first_bucket(NOW, 300) == bucket_of(NOW) - 4
    assert first_bucket(NOW + 30, 300) == bucket_of(NOW) - 4
