"""The Kafka shell around the pipeline: consume, dead-letter rejects, checkpoint state, commit.

Offsets are committed only at a checkpoint, after the dead letters of every handled record and
the window state as it stands at those offsets are acknowledged (see ``changelog``). A crash at
any point therefore leaves committed offsets at or behind the persisted state, and re-read
records are skipped by the per-bucket offsets: nothing is lost and nothing is counted twice.
A rejected record may be dead-lettered twice after a crash; the dead-letter topic is
at-least-once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from socialpulse.core.clock import Clock
from socialpulse.core.events import Stream
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.windows.timeline import Source
from socialpulse.kafka.changelog import MAX_RECORD_BYTES, Changelog, StateStats
from socialpulse.kafka.deadletter import dead_letter_headers
from socialpulse.kafka.options import client_options
from socialpulse.settings import Settings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ConsumerStats:
    """What the Kafka worker reports about itself; plain fields the collector reads."""

    # (topic, partition) -> records behind the partition's high watermark.
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    batches: int = 0
    batch_seconds: float = 0.0
    commits: int = 0
    dead_lettered: int = 0
    state: StateStats = field(default_factory=StateStats)


EXPIRE_EVERY_SECONDS = 10.0
LAG_EVERY_SECONDS = 1.0


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Checkpoints before partitions go; restores state of partitions gained before fetching."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._worker.revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._worker.assigned(assigned)


class Worker:
    """One consumer-group member: reads both input topics and folds them into the pipeline."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        bootstrap_servers: str,
        clock: Clock,
        stats: ConsumerStats | None = None,
    ) -> None:
        self._settings = settings
        self._kafka = settings.kafka
        self._pipeline = pipeline
        self._clock = clock
        self.stats = stats if stats is not None else ConsumerStats()
        self._streams: dict[str, Stream] = {
            self._kafka.mentions_topic: "mentions",
            self._kafka.interactions_topic: "interactions",
        }
        opts = client_options(self._kafka, bootstrap_servers)
        self._consumer = AIOKafkaConsumer(
            group_id=self._kafka.group_id,
            enable_auto_commit=False,
            auto_offset_reset=self._kafka.auto_offset_reset,
            max_poll_records=self._kafka.max_batch_records,
            **opts,
        )
        self._producer = AIOKafkaProducer(
            acks="all",
            enable_idempotence=self._kafka.enable_idempotence,
            linger_ms=5,
            max_request_size=MAX_RECORD_BYTES + 4096,
            **opts,
        )
        self.changelog = Changelog(
            self._kafka.state_topic_name,
            opts,
            pipeline.store,
            pipeline.dedup,
            self._producer,
            self.stats.state,
        )
        self._owned: set[Source] = set()
        # Revoked and checkpointed: not to be touched until the new assignment is known.
        self._frozen: set[Source] = set()
        # Next offset to commit per partition: records up to it are handled, not yet committed.
        self._positions: dict[TopicPartition, int] = {}
        self._lock = asyncio.Lock()
        self._started = False

    async def start(self) -> None:
        """Connect and join the consumer group."""
        await self._producer.start()
        try:
            await self.changelog.start()
            await self._consumer.start()
        except BaseException:
            await self._consumer.stop()
            await self._producer.stop()
            raise
        self._consumer.subscribe(list(self._streams), listener=_Rebalance(self))
        self._started = True

    async def stop(self) -> None:
        """Checkpoint what was processed and leave the group; safe to call twice."""
        if not self._started:
            return
        self._started = False
        try:
            await self.checkpoint()
        finally:
            try:
                await self._consumer.stop()
            finally:
                await self._producer.stop()

    async def revoked(self, revoked: set[TopicPartition]) -> None:
        """Checkpoint before partitions may move; hold them still until the assignment."""
        await self.checkpoint()
        self._frozen = {(tp.topic, tp.partition) for tp in revoked}

    async def assigned(self, assigned: set[TopicPartition]) -> None:
        """Drop the state of partitions lost, restore the state of partitions gained."""
        keep = {(tp.topic, tp.partition) for tp in assigned}
        async with self._lock:
            lost = self._owned - keep
            gained = keep - self._owned
            self._pipeline.store.drop(lost)
            self._pipeline.dedup.drop(lost)
            self.changelog.forget(lost)
            self._positions = {
                tp: o for tp, o in self._positions.items() if (tp.topic, tp.partition) in keep
            }
            self.stats.lag = {k: v for k, v in self.stats.lag.items() if k in keep}
            self._owned = keep
            self._frozen = set()
            # Until restored, a gained partition is not ours to export or to count.
            self._pipeline.store.drop(gained)
            self._pipeline.dedup.drop(gained)
            await self.changelog.restore(gained)
        log.info(
            "assigned %d partitions: %d gained (restored), %d lost (dropped)",
            len(assigned),
            len(gained),
            len(lost),
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; a broker outage is waited out, not fatal."""
        next_expire = next_lag = next_checkpoint = 0.0
        interval = self._kafka.checkpoint_interval_seconds
        while not stop.is_set():
            try:
                batch = await self._consumer.getmany(
                    timeout_ms=self._kafka.poll_timeout_ms,
                    max_records=self._kafka.max_batch_records,
                )
                if batch:
                    await self._handle(batch)
                now = time.monotonic()
                if now >= next_expire:
                    wall = self._clock()
                    self._pipeline.store.expire(wall)
                    self._pipeline.dedup.expire(wall)
                    next_expire = now + EXPIRE_EVERY_SECONDS
                if now >= next_checkpoint:
                    await self.checkpoint()
                    next_checkpoint = time.monotonic() + interval
                if now >= next_lag:
                    await self._update_lag()
                    next_lag = now + LAG_EVERY_SECONDS
            except KafkaError as e:
                log.warning("kafka error, retrying in 1 s: %r", e)
                await asyncio.sleep(1.0)

    async def _handle(self, batch: dict[TopicPartition, list[object]]) -> None:
        async with self._lock:
            started = time.perf_counter()
            now = self._clock()
            dead: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = []
            process = self._pipeline.process
            for tp, records in batch.items():
                stream = self._streams[tp.topic]
                source = (tp.topic, tp.partition)
                if source not in self._owned or source in self._frozen:
                    continue  # revoked while this batch was in flight; re-read when assigned
                for r in records:
                    offset: int = r.offset  # type: ignore[attr-defined]
                    value: bytes | None = r.value  # type: ignore[attr-defined]
                    rejection = process(stream, value, source, now, offset)
                    if rejection is not None:
                        headers = dead_letter_headers(
                            rejection, tp.topic, tp.partition, offset, now
                        )
                        dead.append((r.key, value, headers))  # type: ignore[attr-defined]
                self._positions[tp] = records[-1].offset + 1  # type: ignore[attr-defined]
            if dead:
                await self._dead_letter(dead)
            self.stats.batches += 1
            self.stats.batch_seconds += time.perf_counter() - started

    async def _dead_letter(
        self, dead: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]
    ) -> None:
        """Send rejects until the dead-letter topic acknowledges them all; they are never dropped.

        The records were consumed already, so giving up here would lose them: a broker outage
        is waited out (the offsets stay uncommitted meanwhile).
        """
        while True:
            try:
                futures = [
                    await self._producer.send(self._kafka.dlq_topic, value=v, key=k, headers=h)
                    for k, v, h in dead
                ]
                await asyncio.gather(*futures)
            except KafkaError as e:
                log.warning("dead-letter send failed (%r); retrying in 1 s", e)
                await asyncio.sleep(1.0)
                continue
            self.stats.dead_lettered += len(dead)
            return

    async def checkpoint(self) -> None:
        """Flush the state of owned partitions, then commit the offsets it reflects.

        On failure nothing is committed and the records stay pending for the next checkpoint.
        """
        async with self._lock:
            offsets = dict(self._positions)
            self.changelog.collect(self._owned)
            try:
                await self.changelog.flush()
            except (KafkaError, TimeoutError) as e:
                log.warning("state flush failed (%r); offsets not committed, will retry", e)
                return
            if not offsets:
                return
            try:
                await self._consumer.commit(offsets)
            except KafkaError as e:
                # Safe: the state is flushed, so re-read records will be skipped by offset.
                log.warning("offset commit failed (%r); records will be re-read and skipped", e)
                return
            for tp, o in offsets.items():
                if self._positions.get(tp) == o:
                    del self._positions[tp]
            self.stats.commits += 1

    async def _update_lag(self) -> None:
        lag = {}
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is None:
                continue
            position = await self._consumer.position(tp)
            lag[(tp.topic, tp.partition)] = max(0, high - position)
        self.stats.lag = lag
