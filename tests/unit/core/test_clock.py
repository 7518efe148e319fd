"""The one time formatter: RFC 3339 in UTC with a Z, from epoch seconds or an aware time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from socialpulse.core.clock import rfc3339

T = 1_800_000_000  # 2027-01-15T08:00:00Z


def test_epoch_seconds_int_or_float() -> None:
    assert rfc3339(T) == "2027-01-15T08:00:00Z"
    assert rfc3339(float(T)) == "2027-01-15T08:00:00Z"
    assert rfc3339(T + 0.5) == "2027-01-15T08:00:00.500000Z"


def test_milliseconds() -> None:
    assert rfc3339(T + 0.5, "milliseconds") == "2027-01-15T08:00:00.500Z"
    assert rfc3339(float(T), "milliseconds") == "2027-01-15T08:00:00.000Z"


def test_aware_times_are_shown_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    assert rfc3339(datetime(2027, 1, 15, 9, 0, tzinfo=paris)) == "2027-01-15T08:00:00Z"
    assert rfc3339(datetime.fromtimestamp(T, tz=UTC)) == "2027-01-15T08:00:00Z"
