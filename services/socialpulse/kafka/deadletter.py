"""Dead-letter envelopes: the headers that say why a record was rejected and where it came from.

The record's value and key stay the original bytes; ``schemas/dead-letter.v1.json`` describes
these headers decoded as UTF-8.
"""

from __future__ import annotations

from socialpulse.core.clock import rfc3339
from socialpulse.core.rejection import Rejection

HEADER_PREFIX = "socialpulse."


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


def headers_as_dict(
    headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...],
) -> dict[str, str]:
    """Decode dead-letter headers for reading or validation against the schema."""
    return {k: v.decode() for k, v in headers if k.startswith(HEADER_PREFIX)}
