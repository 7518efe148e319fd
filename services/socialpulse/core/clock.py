"""Time as the rest of the program sees it: a clock type to inject, and one RFC 3339 formatter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

# Wall-clock epoch seconds (``time.time`` in the service, a fixed value in tests).
Clock = Callable[[], float]


def rfc3339(t: float | datetime, timespec: Literal["auto", "milliseconds"] = "auto") -> str:
    """Epoch seconds or an aware time as RFC 3339 in UTC with a ``Z``."""
    moment = datetime.fromtimestamp(t, tz=UTC) if isinstance(t, float | int) else t.astimezone(UTC)
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")
