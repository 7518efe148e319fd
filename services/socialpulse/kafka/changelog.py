"""changelog: window and dedup state kept in a compacted Kafka topic, flushed often, restored fast.

Exactly-once state without broker transactions rests on three rules:

1. Every record of the state topic holds one minute of one input partition: the buckets of every
   brand in that minute, or the dedup set of that minute. Each bucket and each dedup entry
   carries the offset of the event that last changed it.
2. The worker commits a consumer offset only after every record of the state as it was at that
   offset is acknowledged by the state topic (``flush``).
3. After a crash, the new owner restores the records and re-reads from the committed offset; an
   event is applied to a bucket only if its offset is above the bucket's stored offset, and the
   dedup set decides from first-seen offsets, so re-read events are never counted twice.

A flush that fails keeps its records and is retried by the next one; nothing is committed until
it succeeds. Expired buckets are deleted with tombstones, so restore time follows the live state,
not the traffic history.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from socialpulse.core.dedup import Deduplicator
from socialpulse.core.windows.bucket import decode_minute, encode_minute
from socialpulse.core.windows.store import WindowStore
from socialpulse.core.windows.timeline import Source
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
    records_restored: int = 0
    restore_seconds: float = 0.0


MAX_RECORD_BYTES: Final = 8 * 1024 * 1024
FLUSH_TIMEOUT_SECONDS: Final = 30.0

# Compaction must actually run for restore time to stay bounded: small segments roll every
# minute, and the cleaner starts once a tenth of the log is superseded.
STATE_TOPIC_CONFIG: Final = {
    "cleanup.policy": "compact",
    "segment.ms": "60000",
    "min.cleanable.dirty.ratio": "0.1",
    "delete.retention.ms": "3600000",
    "max.message.bytes": str(MAX_RECORD_BYTES),
}

_WINDOW: Final = "w"  # a window bucket
_DEDUP: Final = "d"  # a dedup minute


class _Key(msgspec.Struct, array_like=True, frozen=True):
    """A state record's key: which minute of which input partition's state it holds."""

    kind: str
    topic: str
    partition: int
    index: int


_encode_key = msgspec.msgpack.Encoder().encode
_decode_key = msgspec.msgpack.Decoder(_Key).decode


def state_topic_spec(partitions: int) -> TopicSpec:
    """How the state topic is created when missing."""
    return TopicSpec(partitions=partitions, config=STATE_TOPIC_CONFIG)


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
    ) -> None:
        self.topic = topic
        self.stats = stats if stats is not None else StateStats()
        self._opts = client_options
        self._store = store
        self._dedup = dedup
        self._producer = producer
        self._partitions = 0
        # Records taken from the state but not yet acknowledged, newest value per key.
        self._pending: dict[bytes, tuple[int, bytes | None]] = {}

    async def start(self) -> None:
        """Learn the state topic's partition count (the topic must exist)."""
        try:
            # One metadata round trip: partitions_for() would wait 40 s for a missing topic.
            cluster = await self._producer.client.fetch_all_metadata()
        except KafkaError as e:
            raise RuntimeError(f"cannot read Kafka metadata for {self.topic!r}: {e!r}") from e
        partitions = cluster.partitions_for_topic(self.topic)
        if not partitions:
            raise RuntimeError(
                f"state topic {self.topic!r} is missing: create it with cleanup.policy=compact "
                "(see README, State), or let the service create it (kafka.create_topics: true)"
            )
        self._partitions = len(partitions)

    def _partition_of(self, source: Source) -> int:
        return source[1] % self._partitions

    def collect(self, sources: Iterable[Source]) -> int:
        """Move the dirty and expired state of ``sources`` into the pending flush."""
        pending = self._pending
        n = 0
        for source in sources:
            topic, partition = source
            p = self._partition_of(source)
            dirty = {index for _, index, _ in self._store.take_dirty(source)}
            for index in sorted(dirty):
                buckets = self._store.buckets_at(source, index)
                value = encode_minute(buckets)
                pending[_encode_key(_Key(_WINDOW, topic, partition, index))] = (p, value)
                n += 1
            for index in sorted({index for _, index in self._store.take_expired(source)}):
                key = _encode_key(_Key(_WINDOW, topic, partition, index))
                if not self._store.buckets_at(source, index):
                    pending[key] = (p, None)
                    n += 1
            for minute, data in self._dedup.take_dirty(source):
                pending[_encode_key(_Key(_DEDUP, topic, partition, minute))] = (p, data)
                n += 1
            for minute in self._dedup.take_expired(source):
                pending[_encode_key(_Key(_DEDUP, topic, partition, minute))] = (p, None)
                n += 1
        return n

    def forget(self, sources: Iterable[Source]) -> None:
        """Drop pending records of partitions that are gone (their new owner restores them)."""
        gone = set(sources)
        if not gone:
            return
        for key in list(self._pending):
            k = _decode_key(key)
            if (k.topic, k.partition) in gone:
                del self._pending[key]

    async def flush(self) -> None:
        """Write every pending record and wait for all acknowledgements; raises on failure."""
        if not self._pending:
            return
        batch = self._pending
        self._pending = {}
        try:
            futures = [
                await self._producer.send(self.topic, key=key, value=value, partition=p)
                for key, (p, value) in batch.items()
            ]
            await asyncio.wait_for(asyncio.gather(*futures), timeout=FLUSH_TIMEOUT_SECONDS)
        except BaseException:
            # Keep the records for the next flush, unless newer values were taken meanwhile.
            self.stats.flush_failures += 1
            batch.update(self._pending)
            self._pending = batch
            raise
        self.stats.flushes += 1
        tombstones = sum(1 for _, v in batch.values() if v is None)
        self.stats.tombstones_written += tombstones
        self.stats.records_written += len(batch) - tombstones
        self.stats.bytes_written += sum(len(k) + len(v or b"") for k, (_, v) in batch.items())

    async def restore(self, sources: set[Source]) -> int:
        """Load the latest state of ``sources`` from the state topic; returns records loaded."""
        if not sources:
            return 0
        started = time.perf_counter()
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
        await consumer.start()
        latest: dict[bytes, bytes | None] = {}
        try:
            consumer.assign(tps)
            end = await consumer.end_offsets(tps)
            await consumer.seek_to_beginning(*tps)
            remaining = {tp for tp in tps if end[tp] > 0}
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=1000)
                for recs in batch.values():
                    for r in recs:
                        latest[r.key] = r.value
                for tp in list(remaining):
                    if await consumer.position(tp) >= end[tp]:
                        remaining.discard(tp)
        finally:
            await consumer.stop()
        loaded = 0
        for key, value in latest.items():
            if value is None:
                continue
            k = _decode_key(key)
            source = (k.topic, k.partition)
            if source not in sources:
                continue
            if k.kind == _WINDOW:
                for brand, bucket in decode_minute(value).items():
                    self._store.load(source, brand, k.index, bucket)
            else:
                self._dedup.load(source, k.index, value)
            loaded += 1
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
