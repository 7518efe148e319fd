"""validate: limits a decoded event must meet before it counts (text size, event time)."""

from __future__ import annotations

from socialpulse.core.events import Interaction, Mention
from socialpulse.core.rejection import Rejection
from socialpulse.core.windows.timeline import bucket_of, first_bucket


class Validator:
    """Rejects what the schema allows but the service will not count.

    Event time must fall in a bucket of the horizon at ``now`` (older is ``late``): the longest
    window, or the dedup horizon when that is shorter (an older event could be a copy of one
    whose id is forgotten). It must be at most ``max_future_seconds`` ahead of ``now`` (further
    is ``future``: a clock gone wrong).
    """

    def __init__(
        self,
        *,
        max_text_chars: int,
        max_future_seconds: int,
        horizon_seconds: int,
        horizon_name: str = "the longest window",
    ) -> None:
        self._max_text = max_text_chars
        self._max_future = max_future_seconds
        self._horizon = horizon_seconds
        self._horizon_name = horizon_name

    @property
    def max_text_chars(self) -> int:
        """The longest mention text counted (longer is ``oversized``)."""
        return self._max_text

    def bounds(self, now: float) -> tuple[float, int]:
        """(latest event time, oldest minute) ``check`` accepts at ``now``, for a batch's fast path.

        An event is accepted exactly when its text is at most ``max_text_chars`` long, its
        time at most the first and its minute (``bucket_of``) at least the second.
        """
        return now + self._max_future, first_bucket(now, self._horizon)

    def check(self, event: Mention | Interaction, now: float) -> Rejection | None:
        """None when the event may be counted, else why not."""
        if isinstance(event, Mention) and len(event.text) > self._max_text:
            return Rejection(
                "oversized", f"text has {len(event.text)} characters; the limit is {self._max_text}"
            )
        ts = event.created_at.timestamp()
        if ts > now + self._max_future:
            return Rejection(
                "future",
                f"created_at {event.created_at.isoformat()} is {ts - now:.0f} s ahead of the "
                f"service clock; at most {self._max_future} s is allowed",
            )
        if bucket_of(ts) < first_bucket(now, self._horizon):
            return Rejection(
                "late",
                f"created_at {event.created_at.isoformat()} is {now - ts:.0f} s old, outside "
                f"{self._horizon_name} ({self._horizon} s)",
            )
        return None
