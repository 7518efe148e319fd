"""Dead-letter envelopes: the headers that say why a record was rejected and where it came from.

The record's value and key stay the original bytes; ``schemas/dead-letter.v1.json`` describes
these headers decoded as UTF-8. Only a reject too large for the dead-letter topic is sent
truncated, with the original's size and SHA-256 in headers of its own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Final, Literal

from aiokafka import TopicPartition
from aiokafka.errors import (
    InvalidTopicError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from socialpulse.core.clock import rfc3339
from socialpulse.core.rejection import Rejection
from socialpulse.kafka.errors import ERROR_KINDS, ErrorKind, error_kind

HEADER_PREFIX = "socialpulse."
# What a truncated dead letter keeps of the original value: enough to recognise the record
# (its first fields), small enough for any dead-letter topic.
TRUNCATED_VALUE_BYTES: Final = 1024

# Why the dead-letter topic refused a record for good: a metric label, so a bounded set, the
# Kafka error kinds plus two of the producer's own. ``too_large`` ones are sent truncated; the
# others hold their partition back.
RefusalKind = Literal["too_large", "invalid_topic"] | ErrorKind
REFUSAL_KINDS: Final[tuple[str, ...]] = ("too_large", "invalid_topic", *ERROR_KINDS)

_TOO_LARGE: Final = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One rejected record on its way to the dead-letter topic, and where it was read."""

    tp: TopicPartition
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def dead_letter_headers(
    rejection: Rejection, topic: str, partition: int, offset: int, now: float
) -> list[tuple[str, bytes]]:
    """Kafka headers for a rejected record, per the dead-letter schema."""
    rejected_at = rfc3339(now)
    return [
        ("socialpulse.reason", rejection.reason.encode()),
        ("socialpulse.error", rejection.detail.encode()),
        ("socialpulse.source.topic", topic.encode()),
        ("socialpulse.source.partition", str(partition).encode()),
        ("socialpulse.source.offset", str(offset).encode()),
        ("socialpulse.rejected_at", rejected_at.encode()),
    ]


def is_retriable(err: KafkaError) -> bool:
    """Whether sending again may succeed: a broker outage, not a refusal.

    aiokafka marks a send that timed out (the broker was unreachable for ``request_timeout_ms``)
    as not retriable, but an outage passes; everything else follows aiokafka's flag.
    """
    return bool(err.retriable) or isinstance(err, KafkaTimeoutError)


def refusal_kind(err: KafkaError) -> RefusalKind:
    """The metric label of an error that will not pass by retrying."""
    if isinstance(err, _TOO_LARGE):
        return "too_large"
    if isinstance(err, InvalidTopicError):
        return "invalid_topic"
    return error_kind(err)


def truncated(letter: DeadLetter, err: KafkaError, *, keep: int) -> DeadLetter:
    """``letter`` with its value cut to ``keep`` bytes (0: empty, and the key dropped too).

    The headers keep saying why and where from, and add why it was cut and the original value's
    size and SHA-256, so the record can still be found and told apart from others.
    """
    original = letter.value or b""
    why = (
        f"{type(err).__name__}: the dead-letter topic refused the {len(original)}-byte value; "
        + (f"its first {keep} bytes are kept" if keep else "it is left out, and the key too")
    )
    return replace(
        letter,
        key=letter.key if keep else None,
        value=original[:keep],
        headers=[
            *letter.headers,
            ("socialpulse.truncated", why.encode()),
            ("socialpulse.original.bytes", str(len(original)).encode()),
            ("socialpulse.original.sha256", hashlib.sha256(original).hexdigest().encode()),
        ],
    )


def headers_as_dict(
    headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...],
) -> dict[str, str]:
    """Decode dead-letter headers for reading or validation against the schema."""
    return {k: v.decode() for k, v in headers if k.startswith(HEADER_PREFIX)}
