"""What the demo tests share: the demo's clock reading, its seed, and why a record is rejectable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from socialpulse.core.events import REQUIRED_VALUE_FIELDS, Interaction, Mention

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
SEED = 20250602
UNDECODABLE = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError)


def rejection(stream: str, raw: bytes) -> str | None:
    """Why the pipeline must reject ``raw``; None when it would be accepted."""
    try:
        event: Mention | Interaction
        if stream == "mentions":
            event = msgspec.json.decode(raw, type=Mention, strict=True)
        else:
            event = msgspec.json.decode(raw, type=Interaction, strict=True)
    except UNDECODABLE:
        return "undecodable"
    if event.created_at < NOW - timedelta(hours=24):
        return "stale"
    if event.created_at > NOW + timedelta(minutes=5):
        return "future"
    if isinstance(event, Interaction):
        for name in REQUIRED_VALUE_FIELDS.get(event.type, ()):
            if getattr(event.value, name) is None:
                return "missing value field"
    return None
