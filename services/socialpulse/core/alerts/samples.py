"""Sample mentions for alert events: a bounded reservoir of each brand's recent matched mentions.

The window store keeps counts, never texts; an alert wants a few posts to quote. Per brand and
event-time minute the reservoir keeps the newest ``per_minute`` negative mentions and the newest
``per_minute`` others, for at most ``keep_minutes`` minutes (the newest ones seen), so a negative
alert can quote negative posts even when they are a minority. Texts are cut on the way in.

Memory bound: brands × ``keep_minutes`` × 2 × ``per_minute`` samples of at most ``text_chars``
characters plus the URL (≤ 2,048) and ids; at the defaults (3 per tone, 5 + 10 minutes,
280 characters) 90 samples, 334 kB per brand at worst (texts of 280 emoji, 2 kB URLs).
Pure: time comes with the mention. Samples are not persisted: after a restart they cover
the mentions seen since.

Each sample remembers the input partition it came from, so a worker can hand the fleet's
detector the samples of each partition it owns (``minute_samples``, published with the
partition's closed minutes); the detector keeps what every partition sent in a reservoir of
its own (``keep``), the same bound per brand and minute.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Final

from socialpulse.core.alerts.event import SamplePost
from socialpulse.core.clock import rfc3339
from socialpulse.core.events import Mention
from socialpulse.core.windows.timeline import Source

ELLIPSIS: Final = "…"
# Minutes kept beyond the detector's window: late and early (clock-skewed) mentions.
SLACK_MINUTES: Final = 10


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, the last one an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


# (event time, sample, the input partition it was read from: None once it crossed the fleet).
_Kept = tuple[float, SamplePost, Source | None]


class _Minute:
    __slots__ = ("negative", "other")

    def __init__(self, per_minute: int) -> None:
        # In arrival order.
        self.negative: deque[_Kept] = deque(maxlen=per_minute)
        self.other: deque[_Kept] = deque(maxlen=per_minute)


class SampleReservoir:
    """The newest matched mentions per brand, minute and tone, within a fixed memory bound."""

    def __init__(self, per_minute: int, text_chars: int, window_minutes: int) -> None:
        if per_minute < 1 or text_chars < 2 or window_minutes < 1:
            raise ValueError("per_minute, window_minutes ≥ 1 and text_chars ≥ 2 are required")
        self._per_minute = per_minute
        self._text_chars = text_chars
        self._keep = window_minutes + SLACK_MINUTES
        self._brands: dict[str, dict[int, _Minute]] = {}

    @property
    def keep_minutes(self) -> int:
        """Minutes kept per brand: the newest ones seen."""
        return self._keep

    def add(
        self, brand: str, mention: Mention, sentiment: str, source: Source | None = None
    ) -> None:
        """Keep ``mention`` (matched to ``brand``, scored ``sentiment``, read from ``source``)."""
        ts = mention.created_at.timestamp()
        label = sentiment if sentiment in ("positive", "negative") else "neutral"
        post = SamplePost(
            event_id=mention.event_id,
            url=mention.url,
            platform=mention.platform,
            sentiment=label,  # type: ignore[arg-type]
            created_at=rfc3339(ts),
            text=truncate(mention.text, self._text_chars),
        )
        self._keep_post(brand, ts, post, source)

    def keep(self, brand: str, post: SamplePost) -> None:
        """Keep a sample another worker took (``minute_samples``), within the same bound."""
        ts = datetime.fromisoformat(post.created_at).timestamp()
        self._keep_post(brand, ts, post, None)

    def _keep_post(self, brand: str, ts: float, post: SamplePost, source: Source | None) -> None:
        minute = int(ts // 60)
        per_brand = self._brands.setdefault(brand, {})
        slot = per_brand.get(minute)
        if slot is None:
            if len(per_brand) >= self._keep:
                oldest = min(per_brand)
                if minute < oldest:
                    return  # older than everything kept: not a recent mention
                del per_brand[oldest]
            slot = per_brand[minute] = _Minute(self._per_minute)
        (slot.negative if post.sentiment == "negative" else slot.other).append((ts, post, source))

    def minute_samples(self, source: Source, minute: int) -> dict[str, tuple[SamplePost, ...]]:
        """Per brand, the samples of ``minute`` read from ``source``, oldest first."""
        out: dict[str, tuple[SamplePost, ...]] = {}
        for brand, per_brand in sorted(self._brands.items()):
            slot = per_brand.get(minute)
            if slot is None:
                continue
            kept = sorted((k for k in (*slot.negative, *slot.other) if k[2] == source), key=_at)
            if kept:
                out[brand] = tuple(k[1] for k in kept)
        return out

    def pick(
        self, brand: str, first_minute: int, last_minute: int, k: int, prefer_negative: bool
    ) -> list[SamplePost]:
        """Up to ``k`` samples from the minutes ``first_minute``..``last_minute``, newest first.

        With ``prefer_negative`` negative mentions come first, then the others; without it
        the tones are interleaved by time. An event id appears once.
        """
        per_brand = self._brands.get(brand, {})
        minutes = sorted((m for m in per_brand if first_minute <= m <= last_minute), reverse=True)

        def newest(tone: str) -> list[_Kept]:
            kept: list[_Kept] = [s for m in minutes for s in getattr(per_brand[m], tone)]
            return sorted(kept, key=_at, reverse=True)

        negative, other = newest("negative"), newest("other")
        if prefer_negative:
            ordered = [k[1] for k in negative + other]
        else:
            ordered = [k[1] for k in sorted(negative + other, key=_at, reverse=True)]
        out: list[SamplePost] = []
        seen: set[str] = set()
        for p in ordered:
            if len(out) == k:
                break
            if p.event_id not in seen:
                seen.add(p.event_id)
                out.append(p)
        return out

    def size(self) -> int:
        """Samples held, a measure of the reservoir's memory."""
        return sum(
            len(m.negative) + len(m.other) for per in self._brands.values() for m in per.values()
        )


def _at(kept: _Kept) -> float:
    return kept[0]
