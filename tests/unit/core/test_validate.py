"""Validation limits exactly at their edges: text length, clock skew ahead, the late horizon."""

from __future__ import annotations

import pytest

from builders import at, interaction, mention
from socialpulse.core.validate import Validator
from socialpulse.core.windows.timeline import bucket_of, first_bucket

NOW = 1_800_000_030.0  # mid-minute: the horizon starts 30 s before a whole hour back
HORIZON = 3600
# The first second of the oldest bucket still inside the longest window: 3570 s before NOW.
OLDEST = first_bucket(NOW, HORIZON) * 60.0
VALIDATOR = Validator(max_text_chars=10, max_future_seconds=300, horizon_seconds=HORIZON)


def test_the_oldest_bucket_starts_where_the_tests_expect() -> None:
    assert NOW - OLDEST == 3570


@pytest.mark.parametrize("ts", [NOW, NOW + 300, OLDEST, OLDEST + 0.001, NOW - 3569.999])
def test_events_inside_the_limits_are_accepted(ts: float) -> None:
    assert VALIDATOR.check(mention(ts, text="ten chars!"), NOW) is None
    assert VALIDATOR.check(interaction(ts, "like"), NOW) is None


def test_text_one_character_over_the_limit_is_oversized() -> None:
    assert VALIDATOR.check(mention(NOW, text="x" * 10), NOW) is None
    rejection = VALIDATOR.check(mention(NOW, text="x" * 11), NOW)
    assert rejection is not None and rejection.reason == "oversized"
    assert rejection.detail == "text has 11 characters; the limit is 10"


def test_characters_not_bytes_are_counted() -> None:
    assert VALIDATOR.check(mention(NOW, text="é☕" * 5), NOW) is None  # 10 characters, 20 bytes


def test_oversized_is_reported_before_the_event_time() -> None:
    rejection = VALIDATOR.check(mention(NOW - 86400, text="x" * 11), NOW)
    assert rejection is not None and rejection.reason == "oversized"


def test_just_past_the_allowed_skew_is_future() -> None:
    for event in (mention(NOW + 300.001), interaction(NOW + 300.001, "like")):
        rejection = VALIDATOR.check(event, NOW)
        assert rejection is not None and rejection.reason == "future"
    rejection = VALIDATOR.check(mention(NOW + 301), NOW)
    assert rejection is not None
    assert rejection.detail == (
        f"created_at {at(NOW + 301).isoformat()} is 301 s ahead of the service clock; "
        "at most 300 s is allowed"
    )


def test_just_before_the_oldest_bucket_is_late() -> None:
    for event in (mention(OLDEST - 0.001), interaction(OLDEST - 0.001, "like")):
        rejection = VALIDATOR.check(event, NOW)
        assert rejection is not None and rejection.reason == "late"
    rejection = VALIDATOR.check(mention(OLDEST - 60), NOW)
    assert rejection is not None
    assert rejection.detail == (
        f"created_at {at(OLDEST - 60).isoformat()} is 3630 s old, outside the longest window "
        "(3600 s)"
    )


def test_no_skew_allowed_rejects_anything_ahead() -> None:
    strict = Validator(max_text_chars=10, max_future_seconds=0, horizon_seconds=HORIZON)
    assert strict.check(mention(NOW), NOW) is None
    rejection = strict.check(mention(NOW + 0.001), NOW)
    assert rejection is not None and rejection.reason == "future"


@pytest.mark.parametrize(
    "ts",
    [NOW, NOW + 300, NOW + 300.001, OLDEST, OLDEST - 0.001, OLDEST + 0.001, NOW - 86400, 0.0],
)
@pytest.mark.parametrize("chars", [0, 10, 11])
def test_the_bounds_accept_exactly_what_check_accepts(ts: float, chars: int) -> None:
    """The pipeline's fast path (``bounds``) and ``check`` agree at every edge."""
    latest, oldest = VALIDATOR.bounds(NOW)
    within = ts <= latest and bucket_of(ts) >= oldest
    m = mention(ts, text="x" * chars)
    assert (VALIDATOR.check(m, NOW) is None) == (within and chars <= VALIDATOR.max_text_chars)
    assert (VALIDATOR.check(interaction(ts, "like"), NOW) is None) == within
