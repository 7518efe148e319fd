"""The persisted bucket: what one brand gathered from one partition in a minute or an hour.

A bucket serialises exactly (msgpack; the reach sketch in its updatable form), so the state topic
can persist and restore it, and a replayed event is never applied twice: it remembers the offset
of the last event applied. Every map, set and list is absent (None) until it holds something,
so a bucket that saw a few kinds of event costs a few hundred bytes, not a kilobyte of empty
containers.

Nothing a bucket holds can leave msgpack's range (integers within ±2^63, finite doubles),
because every input is bounded by the decoder (``socialpulse.core.events``): a bucket holds the
events of one partition-hour at most, fewer than the 2^63 offsets a partition has, so each count is
below 2^63; followers are single values ≤ 10^10 (the largest seen, never summed here); the float
sums are below 2^63 events × 10^12 (the largest bound, an order value) ≈ 9.2 × 10^30, far from
the largest double (1.8 × 10^308). Window sums are formed at read time from Python ints (potential
reach: ≤ 10^10 × authors, exact however large) and doubles (a year of buckets, 525,600, from
10^6 partitions sums below 5 × 10^42), so no KPI becomes infinite either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import msgspec
from datasketches import hll_sketch, hll_union, tgt_hll_type

# HyperLogLog size for reach: 2^14 registers, relative standard error 0.81 % after unions
# (datasketches' bound), so 2 % is about 2.5 standard errors. HLL_4: 8 KiB per full sketch.
REACH_LG_K: Final = 14


def new_reach_sketch() -> Any:
    """An empty reach sketch (HyperLogLog, ``REACH_LG_K``)."""
    return hll_sketch(REACH_LG_K, tgt_hll_type.HLL_4)


def reach_union(sketches: Iterable[Any]) -> int:
    """Estimated distinct users over several reach sketches, rounded to a whole user."""
    union = hll_union(REACH_LG_K)
    for s in sketches:
        union.update(s)
    return round(float(union.get_estimate()))


class AuthorTally(msgspec.Struct, array_like=True, gc=False):
    """What one bucket saw of one mention author (untracked by the cycle collector: no refs)."""

    handle: str
    followers: int  # the largest count seen
    verified: bool
    mentions: int
    # Of ``mentions``, those flagged by the spam heuristics: an author none of whose mentions
    # counted is in potential reach but not in the reach basis of share of voice.
    filtered: int = 0


_HLL: Any = hll_sketch


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, Mapping):  # a settled hour's frozen author tallies (``tallies``)
        return dict(obj.items())
    if isinstance(obj, hll_sketch):
        # Not serialize_compact(): a union of sketches restored from the compact form can
        # estimate one user more or less than the union of the originals, so a restart would
        # change exported reach. The updatable form restores a sketch that unions identically.
        return obj.serialize_updatable()
    raise NotImplementedError(f"cannot serialise {type(obj)!r}")


def _dec_hook(typ: type, obj: Any) -> Any:
    if typ is hll_sketch and isinstance(obj, bytes):
        return _HLL.deserialize(obj)
    raise NotImplementedError(f"cannot deserialise {typ!r}")


class Bucket(msgspec.Struct, omit_defaults=True):
    """Everything one brand gathered from one partition in a minute or an hour; exact codec."""

    # Source offset of the last event applied; an event at or below it was applied already.
    offset: int = -1
    # Minutes covered from the bucket's index on: 1, or ``HOUR_BUCKETS`` once rolled up.
    minutes: int = 1
    # Of an hour's bucket: bit i set when minute i of the hour is folded in (0 in state written
    # before the field: every minute). A minute bucket beside its hour is folded in or not.
    absorbed: int = 0
    mentions_by_platform: dict[str, int] | None = None
    mentions_by_kind: dict[str, int] | None = None
    tagged: int = 0
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    unscored: int = 0  # in a language no configured scorer covers
    # Flagged by the spam heuristics (``core.signals``): in every volume, in no sentiment and
    # no share of voice. Each mention is in exactly one of the five counts above and this one.
    filtered: int = 0
    compound_sum: float = 0.0  # of the scored mentions only
    # Language label (configured, `other`, `unknown`) -> mentions.
    mentions_by_language: dict[str, int] | None = None
    # A dict, or once the hour is settled the same tallies frozen (``windows.tallies``).
    authors: Mapping[str, AuthorTally] | None = None
    # Mention event id -> author id: joins engagement on the mention to its author.
    posts: dict[str, str] | None = None
    ugc: set[str] | None = None  # event ids of user-generated-content mentions
    owned_posts: int = 0
    ugc_mentions: int = 0
    interactions: dict[str, int] | None = None
    reach: hll_sketch | None = None
    # Post id -> engagement interactions on it in this minute (joined to mentions at read time).
    post_engagements: dict[str, int] | None = None
    sessions: int = 0
    sessions_bounced: int = 0
    session_seconds_sum: float = 0.0
    video_views_completed: int = 0
    video_watch_seconds_sum: float = 0.0
    survey_responses_satisfied: int = 0
    purchase_value_sum: float = 0.0
    customers: set[str] | None = None
    # Direct messages to the brand (event id -> time) and the brand's replies (id -> first reply).
    dm_opened: dict[str, float] | None = None
    dm_replies: dict[str, float] | None = None
    # Account snapshots: (event time, followers).
    snapshots: list[tuple[float, int]] | None = None
    # Of a rolled hour: per float sum, what rounding lost as its minutes were added up, as
    # doubles whose exact sum it is (``measures.roll_into``). Running totals add it back, so an
    # hour totals exactly what its minutes did and a roll-up changes no KPI, even in the last bit.
    rest: dict[str, tuple[float, ...]] | None = None

    def to_bytes(self) -> bytes:
        """The bucket as msgpack; the reach sketch in its own (updatable) serial form."""
        return _ENCODER.encode(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> Bucket:
        """The bucket ``to_bytes`` wrote."""
        return _DECODER.decode(data)


_ENCODER: Final = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_DECODER: Final = msgspec.msgpack.Decoder(Bucket, dec_hook=_dec_hook)
_MINUTE_DECODER: Final = msgspec.msgpack.Decoder(dict[str, Bucket], dec_hook=_dec_hook)


def encode_minute(buckets: Mapping[str, Bucket]) -> bytes:
    """Every brand's bucket of one partition-minute as one state record (brand -> bucket)."""
    return _ENCODER.encode(buckets)


def decode_minute(data: bytes) -> dict[str, Bucket]:
    """The buckets ``encode_minute`` wrote, in one decode call (restore time is mostly this)."""
    return _MINUTE_DECODER.decode(data)
