"""Dead-letter headers: what the schema in schemas/ promises, for every rejection reason.

And the letters too large for the topic: truncated, with the original's size and digest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    TopicAuthorizationFailedError,
)

from socialpulse.core.rejection import REJECT_REASONS, Rejection
from socialpulse.kafka.deadletter import (
    TRUNCATED_VALUE_BYTES,
    DeadLetter,
    dead_letter_headers,
    headers_as_dict,
    is_retriable,
    refusal_kind,
    truncated,
)

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schemas"
SCHEMA = json.loads((SCHEMA_DIR / "dead-letter.v1.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
NOW = 1_800_000_000.25  # 2027-01-15T08:00:00.25Z


@pytest.mark.parametrize("reason", REJECT_REASONS)
def test_headers_of_every_reason_match_the_schema(reason: str) -> None:
    rejection = Rejection(reason, "what was wrong")  # type: ignore[arg-type]
    headers = dead_letter_headers(rejection, "socialpulse.mentions", 3, 77120, NOW)
    decoded = headers_as_dict(headers)
    VALIDATOR.validate(decoded)
    assert decoded == {
        "socialpulse.reason": reason,
        "socialpulse.error": "what was wrong",
        "socialpulse.source.topic": "socialpulse.mentions",
        "socialpulse.source.partition": "3",
        "socialpulse.source.offset": "77120",
        "socialpulse.rejected_at": "2027-01-15T08:00:00.250000Z",
    }


def test_header_values_are_utf8_bytes_and_a_whole_second_has_no_fraction() -> None:
    rejection = Rejection("schema", "Expected `str` - at `$.text` (café ☕)")
    headers = dead_letter_headers(rejection, "in", 0, 0, 1_800_000_000.0)
    assert all(isinstance(value, bytes) for _, value in headers)
    assert dict(headers)["socialpulse.error"] == "Expected `str` - at `$.text` (café ☕)".encode()
    decoded = headers_as_dict(headers)
    VALIDATOR.validate(decoded)
    assert decoded["socialpulse.rejected_at"] == "2027-01-15T08:00:00Z"
    assert (decoded["socialpulse.source.partition"], decoded["socialpulse.source.offset"]) == (
        "0",
        "0",
    )


def test_reading_keeps_only_our_headers() -> None:
    headers = (
        ("traceparent", b"00-abc-def-01"),
        *dead_letter_headers(Rejection("late", "old"), "in", 1, 2, NOW),
    )
    decoded = headers_as_dict(headers)
    assert "traceparent" not in decoded and len(decoded) == 6


def test_the_schema_rejects_what_the_service_must_never_write() -> None:
    good = headers_as_dict(dead_letter_headers(Rejection("late", "old"), "in", 1, 2, NOW))
    for name, bad in (
        ("socialpulse.source.offset", "007"),
        ("socialpulse.rejected_at", "2027-01-15T08:00:00+00:00"),
        ("socialpulse.reason", "duplicate"),
    ):
        assert not VALIDATOR.is_valid({**good, name: bad}), name


def test_a_truncated_letter_keeps_why_where_from_size_and_digest() -> None:
    value = b"\xff" + b"x" * 5000
    headers = dead_letter_headers(Rejection("undecodable", "not UTF-8"), "m", 0, 7, NOW)
    letter = DeadLetter(TopicPartition("m", 0), 7, b"key", value, headers)
    for keep in (TRUNCATED_VALUE_BYTES, 0):
        cut = truncated(letter, MessageSizeTooLargeError(), keep=keep)
        h = headers_as_dict(cut.headers)
        VALIDATOR.validate(h)
        assert cut.value == value[:keep]
        assert cut.key == (b"key" if keep else None)
        assert h["socialpulse.original.bytes"] == "5001"
        assert h["socialpulse.original.sha256"] == hashlib.sha256(value).hexdigest()
        assert "MessageSizeTooLargeError" in h["socialpulse.truncated"]
        assert h["socialpulse.reason"] == "undecodable"


def test_errors_are_told_apart() -> None:
    assert is_retriable(KafkaConnectionError()) and is_retriable(KafkaTimeoutError())
    assert not is_retriable(MessageSizeTooLargeError())
    assert refusal_kind(MessageSizeTooLargeError()) == "too_large"
    assert refusal_kind(TopicAuthorizationFailedError()) == "authorization"
    assert refusal_kind(KafkaError()) == "other"


def test_the_schema_wants_size_and_digest_with_a_truncated_value() -> None:
    example = json.loads((SCHEMA_DIR / "examples" / "dead-letter.truncated.json").read_text())
    assert VALIDATOR.is_valid(example)
    for name in ("socialpulse.original.sha256", "socialpulse.original.bytes"):
        assert not VALIDATOR.is_valid({k: v for k, v in example.items() if k != name})
    assert not VALIDATOR.is_valid(example | {"socialpulse.original.sha256": "ABC"})
    untouched = {k: v for k, v in example.items() if "truncated" not in k and "original" not in k}
    assert VALIDATOR.is_valid(untouched)
    assert not VALIDATOR.is_valid(untouched | {"socialpulse.original.bytes": "5"})
