"""changelog: window and dedup state kept in a compacted Kafka topic, flushed often, restored fast.

Exactly-once state without broker transactions rests on five rules:

1. Every logical record of the state topic holds one minute of one input partition: the buckets
   of every brand in that minute and the event ids first seen in it. Each bucket carries the
   offset of the event that last changed it, each id the offset it was first read at.
2. The worker commits a partition's consumer offset only after every record of that partition's
   state as it was at that offset is acknowledged by the state topic (``flush``).
3. After a crash, the new owner restores the records and re-reads from the committed offset; an
   event is applied to a bucket only if its offset is above the bucket's stored offset, and the
   dedup set decides from first-seen offsets, so re-read events are never counted twice.
4. **Fencing.** Every record's key carries the writer's *epoch*: the consumer group generation
   in which the writer was assigned the partition (with an era above it, in case the group
   was ever reset and generations started again). A worker that lost its partitions while
   paused still writes with its old epoch, under other keys than its successor's, so
   compaction cannot let its records replace the successor's; a restore takes, per logical
   record, the newest epoch and deletes the others.
5. **Signals follow the windows.** A partition's signals state (version 4, below) is sent only
   once every window record of the same flush has landed. A process killed in between leaves
   it behind the window state, never ahead: the events re-read after a restore that a bucket
   still lacks are then judged again by the spam heuristics, instead of counted as genuine
   because the signals state had already seen them. A signals state is fenced like the
   windows, and more: its new owner writes it again under its own epoch at the first flush,
   and a restore sets aside one older than the newest epoch of its partition's windows (a
   fenced owner's late write, which may stand past events the successor's windows lack).

A logical record larger than ``CHUNK_BYTES`` is written as several parts under a fresh sequence
number and the previous version is deleted only once every part is acknowledged, so a crash in
the middle of a write leaves the previous version whole. A flush that fails keeps its records
and is retried by the next one; only the partitions whose records all landed are reported as
flushed. Expired buckets are deleted with tombstones, so restore time follows the live state.

Record format version 3 (header ``socialpulse.state.version``): the key is
``[kind, topic, partition, minute, epoch, seq, part]`` (msgpack array, kind ``w``), the header
``socialpulse.state.parts`` says how many parts the version has, and the value is the msgpack
array ``[buckets, ids, first offsets]``: the minute's buckets as ``encode_minute`` writes them,
and the dedup ids as two sorted machine arrays. One record per partition-minute, not two, halves
what a checkpoint sends when a backfill touches every minute.

Version 4 adds one record per input partition of the mentions topic, kind ``s`` (minute 0): the
partition's signals state (``Signals.snapshot``: spam window, trend sketches, campaign brands)
with the offset it stands at, written whole at most every
``kafka.signals_snapshot_interval_seconds`` once the partition has read on by a quarter of the
posts its spam window holds (``Signals.snapshot_worth``), at least every
``kafka.signals_snapshot_max_interval_seconds``, and at every handover (revocation,
shutdown), in parts like any record over ``CHUNK_BYTES``. A restore installs it and the worker
re-reads the partition from that offset when it is below the committed one: the window store
skips what it already holds, and the signals stage sees the same events in the same order as an
uninterrupted run. Version-4 window records are version 3's.

Versions 1 and 2 kept the ids in records of their own (kind ``d``). They are still read: a
restore loads them, and once a version-3 record of the same minute is whole in the topic, the
``d`` record is deleted, so an upgrade loses no id. Version 1 records (no header, 4-element keys,
one part, written before fencing) are read as epoch 0; a record of a newer version than this
build knows fails the restore loudly instead of being misread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from socialpulse.core.dedup import Deduplicator, unpack_v2
from socialpulse.core.signals import Signals
from socialpulse.core.windows.bucket import decode_minute, encode_minute
from socialpulse.core.windows.store import WindowStore
from socialpulse.core.windows.timeline import Source
from socialpulse.kafka.batch_sender import Outgoing, Sent, send_batches
from socialpulse.kafka.startup import deadline_or_default, topic_partitions
from socialpulse.kafka.topics import TopicSpec

log = logging.getLogger(__name__)


@dataclass(slots=True)
class StateStats:
    """What the state topic (``changelog``) reports: flushes, and restores after rebalances."""

    flushes: int = 0
    flush_failures: int = 0
    records_written: int = 0
    bytes_written: int = 0
    tombstones_written: int = 0
    restores: int = 0
    restore_failures: int = 0
    records_restored: int = 0
    restore_seconds: float = 0.0
    # Records of superseded epochs or versions met by restores (deleted afterwards).
    records_fenced: int = 0
    # Logical records written in more than one part because they exceeded CHUNK_BYTES.
    records_split: int = 0
    # Partitions owned but not restored yet: not consumed, not exported, not flushed.
    unrestored: set[Source] = field(default_factory=set)


MAX_RECORD_BYTES: Final = 8 * 1024 * 1024
# Largest value of one state record: under the 1 MiB default ``max.message.bytes`` of any broker,
# so a state topic created by someone else still takes every record.
CHUNK_BYTES: Final = 768 * 1024
# Largest record batch the state producer builds: a record batch is what a broker checks against
# ``max.message.bytes``, so batches stay under the 1 MiB default too.
BATCH_BYTES: Final = 960 * 1024
FLUSH_TIMEOUT_SECONDS: Final = 30.0
FORMAT_VERSION: Final = 4
VERSION_HEADER: Final = "socialpulse.state.version"
PARTS_HEADER: Final = "socialpulse.state.parts"
# An epoch is era * ERA + group generation (generations are int32).
ERA: Final = 2**32

# Compaction must actually run for restore time to stay bounded: small segments roll every
# minute, and the cleaner starts once a tenth of the log is superseded.
STATE_TOPIC_CONFIG: Final = {
    "cleanup.policy": "compact",
    "segment.ms": "60000",
    "min.cleanable.dirty.ratio": "0.1",
    "delete.retention.ms": "3600000",
    "max.message.bytes": str(MAX_RECORD_BYTES),
}

_WINDOW: Final = "w"  # a partition-minute: its buckets, and (version 3) its dedup ids
_DEDUP: Final = "d"  # the dedup ids of a partition-minute (versions 1 and 2 only)
_SIGNALS: Final = "s"  # the signals state of an input partition (version 4), minute 0


class StateFormatError(Exception):
    """A state record this build cannot read; restoring it would count wrong, so it stops."""


class _Key(msgspec.Struct, array_like=True, frozen=True):
    """A state record's key: which minute of which input partition, by which writer, which part."""

    kind: str
    topic: str
    partition: int
    index: int
    epoch: int = 0  # version 1 keys end after ``index``
    seq: int = 0
    part: int = 0


# (kind, topic, partition, minute): one logical record, whatever its epoch or parts.
Logical = tuple[str, str, int, int]
# (epoch, seq): one written version of a logical record.
Version = tuple[int, int]

_encode_key = msgspec.msgpack.Encoder().encode
_decode_key = msgspec.msgpack.Decoder(_Key).decode


class _Minute(msgspec.Struct, array_like=True):
    """A version-3 value: the minute's buckets (encoded by the bucket codec) and its dedup ids."""

    buckets: msgspec.Raw
    ids: bytes = b""  # sorted 64-bit id digests
    offsets: bytes = b""  # first offset of each id


_encode_value = msgspec.msgpack.Encoder().encode
_decode_value = msgspec.msgpack.Decoder(_Minute).decode


def encode_record(buckets: bytes, ids: tuple[bytes, bytes] | None) -> bytes:
    """A version-3 value from encoded buckets and the (ids, offsets) arrays of the dedup."""
    keys, offsets = ids if ids is not None else (b"", b"")
    return _encode_value(_Minute(msgspec.Raw(buckets), keys, offsets))


def decode_record(value: bytes) -> tuple[bytes, bytes, bytes]:
    """(encoded buckets, ids, offsets) of a version-3 value."""
    m = _decode_value(value)
    return bytes(m.buckets), m.ids, m.offsets


def state_topic_spec(partitions: int) -> TopicSpec:
    """How the state topic is created when missing."""
    return TopicSpec(partitions=partitions, config=STATE_TOPIC_CONFIG)


def next_epoch(newest_seen: int, generation: int) -> int:
    """The epoch a new owner writes with: above every epoch already in the partition's state.

    Within a consumer group's life generations only grow, so the generation alone orders
    owners; if the group was reset (its generation is not above what the state holds), the era
    above it moves on.
    """
    era, seen_generation = divmod(newest_seen, ERA)
    if 0 < generation and generation > seen_generation:
        return era * ERA + generation
    return (era + 1) * ERA + max(generation, 1)


# (epoch, seq, part): one stored key of a logical record.
Ident = tuple[int, int, int]
# A part read back by a restore: (value, parts of its version, its format version).
_Stored = tuple[bytes, int, int]


@dataclass(slots=True)
class _Pending:
    """A record taken from the state but not yet acknowledged; a tombstone has no value."""

    source: Source
    value: bytes | None
    parts: int = 0  # how many parts its version has (values only)


def _members(
    batch: Mapping[Logical, dict[Ident, _Pending]],
) -> list[tuple[Logical, Ident, _Pending]]:
    """Every record of ``batch``, as ``_requeue`` takes them."""
    return [(lg, i, r) for lg, recs in batch.items() for i, r in recs.items()]


class Changelog:
    """Flushes dirty state of owned partitions and restores newly assigned ones."""

    def __init__(
        self,
        topic: str,
        client_options: dict[str, Any],
        store: WindowStore,
        dedup: Deduplicator,
        producer: AIOKafkaProducer,
        stats: StateStats | None = None,
        signals: Signals | None = None,
        signals_interval: float = 10.0,
        signals_max_interval: float | None = None,
    ) -> None:
        """``signals``' partitions are written every ``signals_interval`` seconds at most.

        Past it, a partition's state waits until a snapshot is worth its cost
        (``Signals.snapshot_worth``), up to ``signals_max_interval`` (None: not at all).
        """
        self.topic = topic
        self.stats = stats if stats is not None else StateStats()
        self._opts = client_options
        self._store = store
        self._dedup = dedup
        self._producer = producer
        self._partitions = 0
        self._pending: dict[Logical, dict[Ident, _Pending]] = {}
        # The epoch this worker writes each owned partition's state with.
        self._epochs: dict[Source, int] = {}
        # Every key known to be stored for each logical record of owned partitions.
        self._stored: dict[Logical, set[Ident]] = {}
        # Logical records written in parts at least once in this epoch: their last sequence.
        self._seq: dict[Logical, int] = {}
        self._next_seq = 1
        self._signals = signals if signals is not None and signals.stateful else None
        self._signals_interval = signals_interval
        self._signals_max_interval = (
            signals_interval if signals_max_interval is None else signals_max_interval
        )
        # When each owned partition's signals state was last taken (monotonic seconds).
        self._signals_at: dict[Source, float] = {}
        # Partitions whose signals state was restored from an older epoch: written again under
        # this one at the next flush, so no late write of a fenced owner can be the newest.
        self._restamp: set[Source] = set()

    async def start(self, deadline: float | None = None) -> None:
        """Learn the state topic's partition count.

        The cluster is waited for until ``deadline`` (``time.monotonic()``; None:
        ``DEFAULT_WAIT_S`` from now).
        """
        deadline = deadline_or_default(deadline)
        # One metadata round trip: partitions_for() would wait 40 s for a missing topic.
        partitions = await topic_partitions(
            self._producer,
            self.topic,
            f"state topic {self.topic!r} is missing: create it with cleanup.policy=compact "
            "(see README, State), or let the service create it (kafka.create_topics: true)",
            deadline,
        )
        self._partitions = len(partitions)

    def _partition_of(self, source: Source) -> int:
        return source[1] % self._partitions

    def epoch(self, source: Source) -> int | None:
        """The epoch ``source``'s state is written with; None until it is restored."""
        return self._epochs.get(source)

    # -- flushing ---------------------------------------------------------------------------

    def collect(self, sources: Iterable[Source], handover: bool = False) -> int:
        """Move the dirty and expired state of restored ``sources`` into the pending flush.

        A partition's signals state goes too when it changed and its interval is up, or at a
        ``handover`` (its next owner then re-reads nothing). Only one that is merely due goes
        per call (one never written goes at once): each encodes a whole spam window (megabytes,
        a tenth of a second or more), so partitions that fall due together, read through one
        backlog, take turns, one a checkpoint, instead of holding the loop at once.
        """
        n = 0
        now = time.monotonic()
        turn = True  # a due signals state may still go in this call
        for source in sources:
            epoch = self._epochs.get(source)
            if epoch is None:
                continue  # not restored: its state is not ours to write
            topic, partition = source
            signals = self._signals
            restamp = source in self._restamp
            if signals is not None and (restamp or signals.changed(source)):
                self._restamp.discard(source)
                last = self._signals_at.get(source)
                due = turn and last is not None and self._signals_due(source, now - last)
                # Never written: at once, or a kill before its turn would leave the partition no
                # signals state to re-read from, and its spam window would start empty.
                if restamp or handover or last is None or due:
                    turn = turn and not due
                    self._signals_at[source] = now
                    value = signals.snapshot(source)
                    n += self._put(source, (_SIGNALS, topic, partition, 0), epoch, value)
            changed = self._store.take_dirty_minutes(source)
            changed.update(self._dedup.take_dirty(source))
            changed.update(index for _, index in self._store.take_expired(source))
            changed.update(self._dedup.take_expired(source))
            for index in sorted(changed):
                logical = (_WINDOW, topic, partition, index)
                buckets = self._store.buckets_at(source, index)
                ids = self._dedup.arrays(source, index)
                if buckets or ids is not None:
                    value = encode_record(encode_minute(buckets), ids)
                    n += self._put(source, logical, epoch, value)
                else:  # expired: the minute and any dedup record of an older format go
                    n += self._delete(source, logical)
                    n += self._delete(source, (_DEDUP, topic, partition, index))
        return n

    def _signals_due(self, source: Source, elapsed: float) -> bool:
        """Whether a partition's changed signals state, taken ``elapsed`` seconds ago, is due."""
        if elapsed < self._signals_interval:
            return False
        assert self._signals is not None  # noqa: S101 - only asked with signals
        return elapsed >= self._signals_max_interval or self._signals.snapshot_worth(source)

    def _put(self, source: Source, logical: Logical, epoch: int, value: bytes) -> int:
        """Queue ``value`` as the newest version of ``logical``; returns records queued."""
        parts = [value[i : i + CHUNK_BYTES] for i in range(0, len(value), CHUNK_BYTES)] or [b""]
        seq = self._seq.get(logical, 0)
        if len(parts) > 1 or seq:
            # Parts go under a fresh sequence: the previous version stays whole until they land.
            seq = self._seq[logical] = self._next_seq
            self._next_seq += 1
            if len(parts) > 1:
                self.stats.records_split += 1
        pending = self._pending.setdefault(logical, {})
        for ident in [i for i, rec in pending.items() if rec.value is not None]:
            del pending[ident]  # an unsent older version is superseded
        for i, chunk in enumerate(parts):
            pending[(epoch, seq, i)] = _Pending(source, chunk, len(parts))
        return len(parts)

    def _delete(self, source: Source, logical: Logical) -> int:
        """Queue tombstones for every stored key of ``logical`` and drop its unsent values."""
        pending = self._pending.pop(logical, {})
        tombstones = {i: rec for i, rec in pending.items() if rec.value is None}
        for ident in self._stored.pop(logical, set()):
            tombstones[ident] = _Pending(source, None)
        self._seq.pop(logical, None)
        if tombstones:
            self._pending[logical] = tombstones
        return len(tombstones)

    def _supersede(self, source: Source, logical: Logical, version: Version, parts: int) -> None:
        """``version`` is whole in the topic: queue tombstones for every older stored key.

        It holds the minute's dedup ids too, so a dedup record of an older format goes as well.
        """
        for ident in self._stored.get(logical, set()):
            if ident[:2] < version:
                self._pending.setdefault(logical, {}).setdefault(ident, _Pending(source, None))
        old = (_DEDUP, logical[1], logical[2], logical[3])
        if logical[0] == _WINDOW and old in self._stored:
            self._delete(source, old)

    def forget(self, sources: Iterable[Source]) -> None:
        """Drop everything of partitions that are gone (their new owner restores them)."""
        gone = set(sources)
        if not gone:
            return
        for table in (self._pending, self._stored, self._seq):
            for logical in [lg for lg in table if (lg[1], lg[2]) in gone]:
                del table[logical]
        for s in gone:
            self._epochs.pop(s, None)
            self._signals_at.pop(s, None)
            self._restamp.discard(s)
            self.stats.unrestored.discard(s)

    def pending_sources(self) -> set[Source]:
        """Partitions with state records not yet acknowledged."""
        return {(lg[1], lg[2]) for lg, recs in self._pending.items() if recs}

    async def flush(self) -> set[Source]:
        """Write every pending record and wait for the acknowledgements.

        Returns the partitions whose records did not all land (empty when all did); their
        records stay pending for the next flush, and their offsets must not be committed.
        """
        if not self._pending:
            return set()
        batch = self._pending
        self._pending = {}
        # A partition's signals state goes once its window records have landed (rule 5).
        windows = {(lg[1], lg[2]) for lg in batch if lg[0] != _SIGNALS}
        after = {lg: r for lg, r in batch.items() if lg[0] == _SIGNALS and lg[1:3] in windows}
        first = {lg: r for lg, r in batch.items() if lg not in after}
        try:
            out = await self._send(first)
            short = {rec.source for _, _, rec in out.failed}
            held = {lg: r for lg, r in after.items() if lg[1:3] in short}
            self._requeue(_members(held))  # not sent: their window records did not all land
            ready = {lg: r for lg, r in after.items() if lg not in held}
            if ready:
                later = await self._send(ready)
                out.landed.extend(later.landed)
                out.failed.extend(later.failed)
                out.error = later.error or out.error
        except BaseException:
            # Cancelled mid-flush: nothing is known to have landed; keep every record.
            self._requeue(_members(batch))
            raise
        failed, error = out.failed, out.error
        landed = len(out.landed)
        tombstones = 0
        size = 0
        completed: dict[Logical, set[tuple[Version, int, Source]]] = {}
        for logical, ident, rec in out.landed:
            if rec.value is None:
                tombstones += 1
                stored = self._stored.get(logical)
                if stored is not None:
                    stored.discard(ident)
            else:
                size += len(rec.value)
                self._stored.setdefault(logical, set()).add(ident)
                completed.setdefault(logical, set()).add((ident[:2], rec.parts, rec.source))
        for logical, versions in completed.items():
            stored = self._stored.get(logical, set())
            for version, parts, source in versions:
                if all((*version, i) in stored for i in range(parts)):
                    self._supersede(source, logical, version, parts)
        self._requeue(failed)
        self.stats.tombstones_written += tombstones
        self.stats.records_written += landed - tombstones
        self.stats.bytes_written += size
        bad = {rec.source for _, _, rec in failed}
        if failed:
            self.stats.flush_failures += 1
            log.warning(
                "state flush: %d of %d records to %s not acknowledged (%r); partitions %s keep "
                "their offsets uncommitted and retry",
                len(failed),
                len(failed) + landed,
                self.topic,
                error,
                ", ".join(f"{t}[{p}]" for t, p in sorted(bad)),
            )
        else:
            self.stats.flushes += 1
        return bad

    async def _send(
        self, batch: dict[Logical, dict[Ident, _Pending]]
    ) -> Sent[tuple[Logical, Ident, _Pending]]:
        """Send ``batch``'s records as state records and wait for their acknowledgements."""
        return await send_batches(
            self._producer,
            self.topic,
            self._outgoing(batch),
            what="state record",
            wait_seconds=FLUSH_TIMEOUT_SECONDS,
        )

    def _outgoing(
        self, batch: dict[Logical, dict[Ident, _Pending]]
    ) -> Iterator[Outgoing[tuple[Logical, Ident, _Pending]]]:
        """``batch`` as records for ``send_batches``: keyed, partitioned, with their headers.

        Record batches rather than one ``send`` per record: a backfill checkpoint writes
        thousands of records, and the per-record path cost more than encoding them.
        """
        headers: dict[int, list[tuple[str, bytes]]] = {}
        for logical, records in batch.items():
            for ident, rec in records.items():
                h: list[tuple[str, bytes]] = []
                if rec.value is not None:
                    h = headers.get(rec.parts) or headers.setdefault(
                        rec.parts,
                        [
                            (VERSION_HEADER, str(FORMAT_VERSION).encode()),
                            (PARTS_HEADER, str(rec.parts).encode()),
                        ],
                    )
                key = _encode_key(_Key(*logical, *ident))
                yield (logical, ident, rec), self._partition_of(rec.source), key, rec.value, h

    def _requeue(self, records: list[tuple[Logical, Ident, _Pending]]) -> None:
        """Put records back for the next flush, unless newer values were taken meanwhile."""
        for logical, ident, rec in records:
            pending = self._pending.setdefault(logical, {})
            if ident in pending:
                continue
            if rec.value is not None and any(
                r.value is not None and i[:2] > ident[:2] for i, r in pending.items()
            ):
                continue  # a newer version is queued: this one is superseded
            pending[ident] = rec

    # -- restoring --------------------------------------------------------------------------

    async def restore(self, sources: set[Source], generation: int = -1) -> int:
        """Load the newest state of ``sources`` from the state topic; returns records loaded.

        ``generation`` is the consumer group generation of the assignment; the partitions'
        state is then written with an epoch above every epoch already stored. Raises
        (KafkaError, TimeoutError, StateFormatError) and leaves nothing of ``sources`` in the
        store when the topic cannot be read or holds what this build cannot read.
        """
        if not sources:
            return 0
        started = time.perf_counter()
        try:
            found = await self._read(sources)
            loaded = self._load(sources, found, generation)
        except BaseException:
            self._store.drop(sources)
            self._dedup.drop(sources)
            if self._signals is not None:
                self._signals.drop(sources)
            self.forget(sources)
            self.stats.restore_failures += 1
            self.stats.unrestored |= sources
            raise
        self.stats.unrestored -= sources
        elapsed = time.perf_counter() - started
        self.stats.restores += 1
        self.stats.records_restored += loaded
        self.stats.restore_seconds += elapsed
        log.info(
            "restored %d state records of %d partitions from %s in %.2f s",
            loaded,
            len(sources),
            self.topic,
            elapsed,
        )
        return loaded

    async def _read(self, sources: set[Source]) -> dict[Logical, dict[Ident, _Stored]]:
        """Every stored part of every logical record of ``sources``: the latest value per key."""
        parts = sorted({self._partition_of(s) for s in sources})
        tps = [TopicPartition(self.topic, p) for p in parts]
        consumer = AIOKafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=2 * MAX_RECORD_BYTES,
            fetch_max_bytes=4 * MAX_RECORD_BYTES,
            **self._opts,
        )
        found: dict[Logical, dict[Ident, _Stored]] = {}
        try:
            await consumer.start()
            consumer.assign(tps)
            end = await consumer.end_offsets(tps)
            await consumer.seek_to_beginning(*tps)
            remaining = {tp for tp in tps if end[tp] > 0}
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=1000)
                for recs in batch.values():
                    for r in recs:
                        self._note(found, sources, r)
                for tp in list(remaining):
                    if await consumer.position(tp) >= end[tp]:
                        remaining.discard(tp)
        finally:
            await consumer.stop()
        return found

    def _note(
        self,
        found: dict[Logical, dict[Ident, _Stored]],
        sources: set[Source],
        record: Any,
    ) -> None:
        """Remember one record read back: a value replaces, a tombstone deletes its key."""
        try:
            k = _decode_key(record.key)
        except msgspec.DecodeError as e:
            raise StateFormatError(f"state record key {record.key!r} is unreadable: {e}") from e
        if (k.topic, k.partition) not in sources:
            return
        logical = (k.kind, k.topic, k.partition, k.index)
        ident = (k.epoch, k.seq, k.part)
        if record.value is None:
            found.get(logical, {}).pop(ident, None)
            return
        headers = dict(record.headers or ())
        version = int(headers.get(VERSION_HEADER, b"1"))
        if version > FORMAT_VERSION:
            raise StateFormatError(
                f"state record {k} of {self.topic!r} has format version {version}; this build "
                f"reads versions 1 to {FORMAT_VERSION}: run the newer socialpulse that wrote it"
            )
        if k.kind not in (_WINDOW, _DEDUP, _SIGNALS):
            raise StateFormatError(f"state record {k} of {self.topic!r} has unknown kind")
        parts = int(headers.get(PARTS_HEADER, b"1"))
        found.setdefault(logical, {})[ident] = (record.value, parts, version)

    def _load(
        self,
        sources: set[Source],
        found: dict[Logical, dict[Ident, _Stored]],
        generation: int,
    ) -> int:
        """Install the newest whole version of each logical record; queue the rest for deletion.

        A dedup record of format 1 or 2 is loaded only when its minute has no whole version-3
        record (which holds the ids itself, written after it); otherwise it is deleted.
        """
        newest = dict.fromkeys(sources, 0)
        loaded = 0
        # Window records first, so each dedup record knows whether a version 3 replaced it,
        # and each signals record the newest epoch of its partition's windows.
        with_ids: set[Logical] = set()
        window_epoch = dict.fromkeys(sources, -1)
        for logical, live in sorted(found.items(), key=lambda kv: kv[0][0] != _WINDOW):
            if not live:
                continue
            source = (logical[1], logical[2])
            newest[source] = max(newest[source], max(i[0] for i in live))
            self._stored[logical] = set(live)
            whole = _newest_whole(live)
            kind, _, _, index = logical
            if kind == _DEDUP and (_WINDOW, *logical[1:]) in with_ids:
                self._delete(source, logical)  # superseded by the version-3 record
                self.stats.records_fenced += len(live)
                continue
            if whole is None:  # only pieces of an unfinished write: nothing to restore
                self._delete(source, logical)
                self.stats.records_fenced += len(live)
                continue
            version, parts = whole
            if kind == _SIGNALS and version[0] < window_epoch[source]:
                # A fenced owner's: it may stand past events its successor's windows lack.
                log.warning(
                    "signals state of %s[%d] written in epoch %d, before the epoch %d of its "
                    "windows (a fenced writer's): not restored, the partition's spam window "
                    "and trends start afresh",
                    *source,
                    version[0],
                    window_epoch[source],
                )
                self._delete(source, logical)
                self.stats.records_fenced += len(live)
                continue
            if kind == _WINDOW:
                window_epoch[source] = max(window_epoch[source], version[0])
            value = b"".join(live[(*version, i)][0] for i in range(parts))
            fmt = live[(*version, 0)][2]
            try:
                if kind == _SIGNALS:
                    if self._signals is not None:
                        self._signals.restore(source, value)
                        self._restamp.add(source)
                elif kind == _WINDOW and fmt >= 3:
                    buckets, keys, offsets = decode_record(value)
                    with_ids.add(logical)
                    if keys:
                        self._dedup.load(source, index, keys, offsets)
                else:
                    buckets = value
                if kind == _WINDOW:
                    for brand, bucket in decode_minute(buckets).items():
                        self._store.load(source, brand, index, bucket)
                elif kind == _DEDUP:
                    self._dedup.load(source, index, *unpack_v2(value))
            except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as e:
                raise StateFormatError(f"state record {logical} is unreadable: {e}") from e
            loaded += 1
            keep = {(*version, i) for i in range(parts)}
            stale = self._stored[logical] - keep
            if stale:  # older epochs, fenced writers, pieces of unfinished writes
                self.stats.records_fenced += len(stale)
                pending = self._pending.setdefault(logical, {})
                for ident in stale:
                    pending[ident] = _Pending(source, None)
        for source in sources:
            self._epochs[source] = next_epoch(newest[source], generation)
        return loaded


def _newest_whole(live: Mapping[Ident, tuple[bytes, int, int]]) -> tuple[Version, int] | None:
    """The newest (epoch, seq) whose parts are all present, and its part count."""
    versions = {ident[:2]: rec[1] for ident, rec in live.items()}
    for version in sorted(versions, reverse=True):
        parts = versions[version]
        if all(live.get((*version, i), (b"", -1, 0))[1] == parts for i in range(parts)):
            return version, parts
    return None
