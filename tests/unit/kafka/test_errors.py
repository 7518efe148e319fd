"""Kafka client errors sort into a bounded set of kinds; the permanent ones carry advice."""

from __future__ import annotations

from aiokafka import errors

from socialpulse.kafka.errors import ERROR_KINDS, PERMANENT, advice, error_kind


def test_errors_map_to_their_kind() -> None:
    assert error_kind(errors.UnsupportedCodecError("lz4")) == "codec"
    assert error_kind(errors.SaslAuthenticationFailed()) == "authentication"
    assert error_kind(errors.TopicAuthorizationFailedError()) == "authorization"
    assert error_kind(errors.CorruptRecordException()) == "corrupt_record"
    assert error_kind(errors.KafkaConnectionError()) == "connection"
    assert error_kind(errors.KafkaTimeoutError()) == "timeout"
    assert error_kind(errors.KafkaError("?")) == "other"


def test_kinds_are_bounded_and_permanent_ones_say_what_to_do() -> None:
    assert PERMANENT <= set(ERROR_KINDS)
    assert all(advice(k) for k in PERMANENT)
    assert not advice("connection")
