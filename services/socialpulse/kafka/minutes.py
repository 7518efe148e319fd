"""The minutes topic: every mentions partition's per-minute totals, for the fleet-wide detector.

At each checkpoint, before the window state is flushed, a worker publishes for each mentions
partition it owns the contribution of every minute that changed since the last checkpoint,
and the partition's watermark when it moved (``core.anomaly.fleet``). Records are keyed per
partition and minute, and the topic is compacted, so a contribution published again (after a
crash, by the next owner) replaces the one before: nothing is counted twice. Offsets are
committed only after the state flush that follows, so a crash before the publish leaves the
records to be read, counted and published again. The minutes a watermark closes take their
sample posts along (``Samples``); those are deleted again (tombstones) once older than any alert
window.

The topic has one partition, so every reader sees contributions and watermarks in the same
order and assembles the same minutes; it is the detector's history too (an evaluator rebuilds
its baselines by reading it from the start), so its retention covers the longest baseline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from socialpulse.core.alerts.samples import SampleReservoir
from socialpulse.core.anomaly.baseline import MINUTES_PER_DAY, retention_slots
from socialpulse.core.anomaly.fleet import (
    MINUTE_REJECTS,
    MinuteRecord,
    MinuteReject,
    Samples,
    Watermark,
    closed_minute,
    contribution,
    decode_record,
    encode_record,
    record_key,
    samples_key,
)
from socialpulse.core.clock import Clock
from socialpulse.core.windows.store import WindowStore
from socialpulse.core.windows.timeline import Source
from socialpulse.kafka.topic_reader import TopicReader
from socialpulse.kafka.topics import TopicSpec
from socialpulse.settings import AnomalySettings

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS: Final = 30.0
READ_TIMEOUT_MS: Final = 200
# Days kept beyond the longest baseline, so its oldest slot is whole after a restart.
RETENTION_MARGIN_DAYS: Final = 1


def minutes_retention_ms(s: AnomalySettings) -> int:
    """How long contributions stay: the detector's longest look back, plus a day."""
    days = -(-retention_slots(s) * s.slot_minutes // MINUTES_PER_DAY) + RETENTION_MARGIN_DAYS
    return days * 86_400_000


def minutes_topic_spec(s: AnomalySettings) -> TopicSpec:
    """How the minutes topic is created when missing: one partition, compacted, aged out."""
    return TopicSpec(
        partitions=1,
        config={
            "cleanup.policy": "compact,delete",
            "retention.ms": str(minutes_retention_ms(s)),
            "min.cleanable.dirty.ratio": "0.5",
        },
    )


@dataclass(slots=True)
class MinuteStats:
    """What the minutes topic saw from this worker; exported as counters."""

    published: int = 0
    publish_failures: int = 0


class MinutePublisher:
    """Publishes the owned mentions partitions' changed minutes and watermarks at a checkpoint."""

    def __init__(
        self,
        topic: str,
        mentions_topic: str,
        store: WindowStore,
        producer: AIOKafkaProducer,
        clock: Clock,
        caught_up: Callable[[Source], bool],
        grace_seconds: float,
        samples: SampleReservoir | None = None,
    ) -> None:
        """``samples``: the worker's alert samples, sent with each minute a watermark closes."""
        self.topic = topic
        self.stats = MinuteStats()
        self._mentions = mentions_topic
        self._store = store
        self._producer = producer
        self._clock = clock
        self._caught_up = caught_up
        self._grace = grace_seconds
        self._pending: dict[Source, set[int]] = {}
        self._sent_watermark: dict[Source, int] = {}
        self._samples = samples
        # Minutes whose samples were sent, per partition: deleted once older than any window.
        self._sampled: dict[Source, set[int]] = {}
        store.hold_minutes(mentions_topic)  # minutes stay whole until a watermark closes them

    def collect(self, sources: Iterable[Source]) -> None:
        """Note the changed minutes of the owned mentions partitions (before the state flush)."""
        for s in sources:
            if s[0] != self._mentions:
                continue
            self._pending.setdefault(s, set()).update(self._store.dirty_indexes(s))

    def forget(self, sources: Iterable[Source]) -> None:
        """Drop what was noted for partitions lost or gained: their new owner reports them."""
        for s in sources:
            self._pending.pop(s, None)
            self._sent_watermark.pop(s, None)
            self._sampled.pop(s, None)

    def _records(self) -> list[MinuteRecord]:
        now = self._clock()
        out: list[MinuteRecord] = []
        for s, minutes in sorted(self._pending.items()):
            for m in sorted(minutes):
                # A rolled-up minute was closed and published whole before it rolled.
                buckets = self._store.minute_buckets(s, m)
                if buckets is not None:
                    out.append(contribution(s, m, buckets))
            newest = self._store.newest_event(s)
            closed = closed_minute(now, self._caught_up(s), newest, self._grace)
            if closed is not None and closed > self._sent_watermark.get(s, closed - 1):
                out += self._closing_samples(s, closed)
                out.append(Watermark(s[0], s[1], closed))
        return out

    def _closing_samples(self, source: Source, closed: int) -> list[MinuteRecord]:
        """The samples of the minutes up to ``closed`` not closed before (recent ones only)."""
        if self._samples is None:
            return []
        keep = self._samples.keep_minutes
        first = max(self._sent_watermark.get(source, closed - keep) + 1, closed - keep + 1)
        out: list[MinuteRecord] = []
        for m in range(first, closed + 1):
            per_brand = self._samples.minute_samples(source, m)
            if per_brand:
                out.append(Samples(source[0], source[1], m, per_brand))
        return out

    def _expired_samples(self, records: list[MinuteRecord]) -> list[tuple[Source, int]]:
        """Sent samples older than any alert window once ``records`` land: tombstones."""
        if self._samples is None:
            return []
        keep = self._samples.keep_minutes
        closed = dict(self._sent_watermark)
        closed.update(
            ((r.topic, r.partition), r.minute) for r in records if isinstance(r, Watermark)
        )
        return [
            (s, m)
            for s, minutes in sorted(self._sampled.items())
            for m in sorted(minutes)
            if m <= closed.get(s, m) - keep
        ]

    async def flush(self) -> bool:
        """Publish what was collected and wait for the acknowledgements; False if any failed.

        What failed stays pending for the next flush; the caller must not commit offsets then,
        or a crash could leave minutes counted in the state and missing from the topic.
        """
        records = self._records()
        expired = self._expired_samples(records)
        if not records and not expired:
            return True
        try:
            futures = [
                await self._producer.send(self.topic, encode_record(r), key=record_key(r))
                for r in records
            ]
            futures += [
                await self._producer.send(self.topic, None, key=samples_key(s, m))
                for s, m in expired
            ]
            done, pending = await asyncio.wait(futures, timeout=PUBLISH_TIMEOUT_SECONDS)
        except KafkaError as e:
            self.stats.publish_failures += 1
            log.warning(
                "publishing minutes to %s failed (%r); retried next checkpoint", self.topic, e
            )
            return False
        failed = bool(pending) or any(f.exception() is not None for f in done)
        if failed:
            for f in pending:
                f.cancel()
            self.stats.publish_failures += 1
            log.warning(
                "some minutes were not acknowledged by %s; retried next checkpoint", self.topic
            )
            return False
        self.stats.published += len(records)
        for s, m in expired:
            self._sampled[s].discard(m)
        for r in records:
            if isinstance(r, Watermark):
                self._sent_watermark[(r.topic, r.partition)] = r.minute
                self._store.settle((r.topic, r.partition), r.minute)
            elif isinstance(r, Samples):
                self._sampled.setdefault((r.topic, r.partition), set()).add(r.minute)
        for s in self._pending:
            self._pending[s] = set()
        return True


class MinuteReader:
    """Reads the minutes topic from its start: contributions and watermarks, in topic order."""

    def __init__(
        self,
        topic: str,
        client_options: dict[str, Any],
        rejected: dict[MinuteReject, int] | None = None,
    ) -> None:
        self.topic = topic
        self._reader = TopicReader(topic, client_options)
        # Records skipped, per reason (``MINUTE_REJECTS``); each reason is logged once. A caller
        # may pass its own, to count across readers.
        self.rejected = rejected if rejected is not None else dict.fromkeys(MINUTE_REJECTS, 0)

    async def start(self) -> None:
        """Connect and seek to the start of the topic (its one partition)."""
        await self._reader.open([0])

    async def stop(self) -> None:
        """Close the consumer."""
        await self._reader.stop()

    async def behind(self) -> int:
        """Records between the reader's position and the topic's end."""
        self._require()
        return sum((await self._reader.lag()).values())

    async def read(self, timeout_ms: int = READ_TIMEOUT_MS) -> list[tuple[int, MinuteRecord]]:
        """The next (offset, record)s (none after ``timeout_ms``); bad ones skipped, counted."""
        self._require()
        batch = await self._reader.getmany(timeout_ms)
        out: list[tuple[int, MinuteRecord]] = []
        for recs in batch.values():
            for r in recs:
                if r.value is None:
                    continue  # a tombstone
                try:
                    out.append((r.offset, decode_record(r.value)))
                except msgspec.ValidationError as e:
                    self.reject("invalid", r.offset, e)
                except msgspec.DecodeError as e:
                    self.reject("undecodable", r.offset, e)
        return out

    def reject(self, reason: MinuteReject, offset: int, why: object) -> None:
        """Count a skipped record (at ``offset``); say so the first time for each reason."""
        self.rejected[reason] += 1
        if self.rejected[reason] == 1:
            log.error(
                "minutes topic %s offset %d skipped (%s: %s); further ones are only counted in "
                "socialpulse_minutes_rejected_total",
                self.topic,
                offset,
                reason,
                why,
            )

    def _require(self) -> None:
        if not self._reader.opened:
            raise RuntimeError("MinuteReader.start() was not called")
