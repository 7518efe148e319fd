"""The alert event (``schemas/alert.v1.json``) as msgspec structs, and its JSON codec.

One event per incident transition: ``firing`` once, ``resolved`` once. ``alert_id`` is the
detector's idempotency key, so (``alert_id``, ``status``) names an event wherever and however
often it is computed; ``delivery_key`` is that pair as the alerts topic's record key and the
webhooks' ``Idempotency-Key``.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

VERSION: Final = 1
Status = Literal["firing", "resolved"]


class Band(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The range the signal's value was expected in (expected ± threshold spreads)."""

    lower: float
    upper: float


class TermTrend(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A trending term or hashtag of the brand (``core.trends``): recent count against baseline."""

    term: str
    score: float
    recent: float
    expected: float


class AuthorReach(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A mention author of the window, ranked by followers (reach)."""

    id: str
    handle: str
    followers: int
    verified: bool
    mentions: int


class Share(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One part of a whole (a platform, a sentiment class) now and in the baseline.

    ``count`` is the window's mentions, ``expected`` the baseline's for the same minutes;
    a share is None when its whole is zero.
    """

    name: str
    count: int
    expected: float
    share: float | None
    baseline_share: float | None


class SamplePost(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A recent matched mention of the brand, its text cut to ``alerts.sample_text_chars``."""

    event_id: str
    url: str | None
    platform: str
    sentiment: Literal["positive", "neutral", "negative"]
    created_at: str
    text: str


class Evidence(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the window held against the baseline, so the event explains itself."""

    window_start: str
    window_end: str
    top_terms: list[TermTrend]
    top_hashtags: list[TermTrend]
    top_authors: list[AuthorReach]
    platform_mix: list[Share]
    sentiment: list[Share]
    samples: list[SamplePost]


class Links(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where to look next: the brand board over the incident's time range, and the runbook."""

    dashboard: str
    runbook: str


class AlertEvent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One incident transition of one brand's signal, with evidence and links."""

    version: int
    alert_id: str
    status: Status
    brand: str
    signal: str
    starts_at: str
    ends_at: str | None
    evaluated_at: str
    observed: float
    expected: float
    band: Band
    score: float
    evidence: Evidence
    links: Links

    @property
    def delivery_key(self) -> str:
        """``<alert_id>:<status>``: the topic's record key and the webhook Idempotency-Key."""
        return delivery_key(self.alert_id, self.status)


def delivery_key(alert_id: str, status: str) -> str:
    """The name of one event of one incident, the same on every worker and after a replay."""
    return f"{alert_id}:{status}"


_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(AlertEvent)


def encode_alert(event: AlertEvent) -> bytes:
    """The event as compact UTF-8 JSON, the bytes that are signed and sent."""
    return _ENCODER.encode(event)


def decode_alert(data: bytes) -> AlertEvent:
    """An event from JSON; raises ``msgspec.ValidationError`` naming the bad field."""
    return _DECODER.decode(data)
