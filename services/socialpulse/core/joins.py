"""joins: the events that join partitions, as records every worker replays into one fleet view.

Engagement received, UGC engagements, DM first response, followers at window start and the top
authors pair events that the producer contract puts in different partitions (a mention is keyed
by its author, the like on it by the liking user, a DM reply by the brand's account). Each worker
therefore sends what those KPIs read of every event it applies, a ``JoinInput``, to the joins
topic, and every worker reads the whole topic into a ``JoinView``: a window store of the whole
fleet's join events, from which each worker exports the same join KPIs and top authors.

Exactly once without transactions: a join input is named by the input record it came from
(topic, partition, offset), so a worker that re-reads records after a crash, or a paused one
that wakes, sends the same input again under the same name. The view counts a name once, the
first time it reads it (``OffsetSet``: a bit or a few per name over the longest window; the
view is rebuilt from the topic, never restored, so a name seen again is always a copy); every
worker reads the same topic, so every worker decides alike, in any order of arrival.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

import msgspec

from socialpulse.core.dedup import OffsetSet
from socialpulse.core.events import ENGAGEMENT_TYPES, Interaction, Mention
from socialpulse.core.windows.store import WindowStore
from socialpulse.core.windows.timeline import Source, bucket_of, first_bucket
from socialpulse.settings import DEFAULT_LIFETIME_WINDOWS, BrandSettings

# Interaction types a join reads: engagements on a post, direct messages, account snapshots.
JOINED_TYPES: Final = frozenset({*ENGAGEMENT_TYPES, "direct_message", "account_snapshot"})


class JoinInput(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """What the join KPIs read of one applied input record, named by where it was read."""

    topic: str
    partition: int
    offset: int
    # A mention's matched brands (an interaction names its brand itself).
    brands: tuple[str, ...] = ()
    mention: Mention | None = None
    interaction: Interaction | None = None

    @property
    def source(self) -> Source:
        """The input partition it was read from."""
        return (self.topic, self.partition)


def _always() -> bool:
    return True


_encode: Final = msgspec.msgpack.Encoder().encode
_decode: Final = msgspec.msgpack.Decoder(JoinInput).decode


def mention_input(source: Source, offset: int, brands: Sequence[str], m: Mention) -> JoinInput:
    """A matched mention as a join input; its text is left out (no join reads it)."""
    return JoinInput(*source, offset, tuple(brands), mention=msgspec.structs.replace(m, text=""))


def interaction_input(source: Source, offset: int, i: Interaction) -> JoinInput | None:
    """An interaction as a join input, or None when no join reads its type."""
    if i.type not in JOINED_TYPES or (i.type in ENGAGEMENT_TYPES and i.post_id is None):
        return None
    return JoinInput(*source, offset, interaction=i)


def encode_input(j: JoinInput) -> bytes:
    """A join input as a joins-topic record value (msgpack)."""
    return _encode(j)


def decode_input(data: bytes) -> JoinInput:
    """The join input ``encode_input`` wrote; ``msgspec.DecodeError``/``ValidationError`` else."""
    return _decode(data)


class JoinView:
    """The fleet's join events in one window store, each input record applied once."""

    def __init__(
        self,
        brands: Sequence[BrandSettings],
        windows: Mapping[str, int],
        *,
        lifetime_windows: float = DEFAULT_LIFETIME_WINDOWS,
    ) -> None:
        self.store = WindowStore(
            brands, windows, lifetime_windows=lifetime_windows, persisted=False, totals=False
        )
        self._seen = OffsetSet(self.store.horizon_seconds)
        # The view's own order of application: a bucket never skips an input by offset, since
        # inputs of one source may arrive out of order (the deduplicator decides instead).
        self._seq = 0
        self.applied = 0
        self.duplicates = 0
        self.too_old = 0

    def apply(self, j: JoinInput, now: float) -> bool:
        """Apply one join input read from the joins topic; False for a repeat or one too old.

        Inputs older than every window are skipped, but for account snapshots: the latest one
        before the longest window's start is what that window's followers are read from.
        """
        before = self.applied
        self.apply_many((j,), now)
        return self.applied > before

    def apply_many(
        self, inputs: Iterable[JoinInput], now: float, go_on: Callable[[], bool] = _always
    ) -> int:
        """``apply`` inputs in turn, all read at ``now``, while ``go_on()`` after each says so.

        Returns how many inputs it took: an iterator of ``inputs`` holds the rest, for the
        caller to go on with after letting other work run. The reader's hot path: the window
        start and the lookups are found once, not per input.
        """
        oldest = first_bucket(now, self.store.horizon_seconds)
        seen = self._seen.add
        tracked = self.store.brands
        add_mention = self.store.add_joined_mention
        add_interaction = self.store.add_interaction
        seq = self._seq
        taken = applied = duplicates = too_old = 0
        for j in inputs:
            taken += 1
            mention, interaction = j.mention, j.interaction
            event = mention if mention is not None else interaction
            if event is not None:
                ts = event.created_at.timestamp()
                source = (j.topic, j.partition)
                if not seen(source, ts, j.offset):
                    duplicates += 1
                elif bucket_of(ts) < oldest and (
                    interaction is None or interaction.type != "account_snapshot"
                ):
                    too_old += 1
                else:
                    seq += 1
                    if mention is not None:
                        for brand in j.brands:
                            if brand in tracked:
                                add_mention(source, brand, mention, seq)
                    else:
                        add_interaction(source, interaction, seq)  # type: ignore[arg-type]
                    applied += 1
            if not go_on():
                break
        self._seq = seq
        self.applied += applied
        self.duplicates += duplicates
        self.too_old += too_old
        return taken

    def expire(self, now: float) -> None:
        """Forget what has left the longest window (the latest snapshot is carried)."""
        self.store.expire(now)
        self._seen.expire(now)
