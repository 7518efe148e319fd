"""The Kafka shell around the pipeline: consume batches, dead-letter rejects, then commit offsets.

Offsets are committed only after every dead-letter record of the batch is acknowledged, so a
rejected record is never lost: at worst, after a crash, it is dead-lettered twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from socialpulse.connection import client_options
from socialpulse.deadletter import dead_letter_headers
from socialpulse.metrics import ConsumerStats
from socialpulse.pipeline import Pipeline, Stream
from socialpulse.settings import Settings

log = logging.getLogger(__name__)

EXPIRE_EVERY_SECONDS = 10.0
LAG_EVERY_SECONDS = 1.0


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Commits what was processed before partitions go, and forgets state of partitions gone."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._worker.commit()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._worker.owned(assigned)


class Worker:
    """One consumer-group member: reads both input topics and folds them into the pipeline."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        bootstrap_servers: str,
        clock: Callable[[], float],
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
            acks="all", enable_idempotence=self._kafka.enable_idempotence, linger_ms=5, **opts
        )
        self._uncommitted: dict[TopicPartition, int] = {}
        self._lock = asyncio.Lock()
        self._started = False

    async def start(self) -> None:
        """Connect and join the consumer group."""
        await self._producer.start()
        try:
            await self._consumer.start()
        except BaseException:
            await self._producer.stop()
            raise
        self._consumer.subscribe(list(self._streams), listener=_Rebalance(self))
        self._started = True

    async def stop(self) -> None:
        """Commit what was processed and leave the group; safe to call twice."""
        if not self._started:
            return
        self._started = False
        try:
            await self.commit()
        finally:
            await self._consumer.stop()
            await self._producer.stop()

    def owned(self, assigned: set[TopicPartition]) -> None:
        """Keep only the state of partitions still ours after a rebalance."""
        keep = {(tp.topic, tp.partition) for tp in assigned}
        lost = self._pipeline.store.sources() - keep
        self._pipeline.store.drop(lost)
        self.stats.lag = {k: v for k, v in self.stats.lag.items() if k in keep}
        log.info("assigned %d partitions; dropped state of %d", len(assigned), len(lost))

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; a broker outage is waited out, not fatal."""
        next_expire = next_lag = 0.0
        while not stop.is_set():
            try:
                batch = await self._consumer.getmany(
                    timeout_ms=self._kafka.poll_timeout_ms,
                    max_records=self._kafka.max_batch_records,
                )
                if batch:
                    await self._handle(batch)
                now = time.monotonic()
                if now >= next_lag:
                    await self._update_lag()
                    next_lag = now + LAG_EVERY_SECONDS
                if now >= next_expire:
                    self._pipeline.store.expire(self._clock())
                    next_expire = now + EXPIRE_EVERY_SECONDS
            except KafkaError as e:
                log.warning("kafka error, retrying in 1 s: %r", e)
                await asyncio.sleep(1.0)

    async def _handle(self, batch: dict[TopicPartition, list[object]]) -> None:
        async with self._lock:
            started = time.perf_counter()
            now = self._clock()
            pending = []
            process = self._pipeline.process
            dlq = self._kafka.dlq_topic
            for tp, records in batch.items():
                stream = self._streams[tp.topic]
                source = (tp.topic, tp.partition)
                for r in records:
                    rejection = process(stream, r.value, source, now)  # type: ignore[attr-defined]
                    if rejection is not None:
                        headers = dead_letter_headers(
                            rejection,
                            tp.topic,
                            tp.partition,
                            r.offset,  # type: ignore[attr-defined]
                            now,
                        )
                        pending.append(
                            await self._producer.send(
                                dlq,
                                value=r.value,  # type: ignore[attr-defined]
                                key=r.key,  # type: ignore[attr-defined]
                                headers=headers,
                            )
                        )
                self._uncommitted[tp] = records[-1].offset + 1  # type: ignore[attr-defined]
            if pending:
                await asyncio.gather(*pending)
                self.stats.dead_lettered += len(pending)
            self.stats.batches += 1
            self.stats.batch_seconds += time.perf_counter() - started
        await self.commit()

    async def commit(self) -> None:
        """Commit offsets of fully handled records (their dead letters already acknowledged)."""
        async with self._lock:
            if not self._uncommitted:
                return
            offsets, self._uncommitted = self._uncommitted, {}
            try:
                await self._consumer.commit(offsets)
                self.stats.commits += 1
            except (CommitFailedError, KafkaError) as e:
                # The records will be read again by whoever owns the partition next.
                log.warning("offset commit failed (%r); records will be re-read", e)

    async def _update_lag(self) -> None:
        lag = {}
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is None:
                continue
            position = await self._consumer.position(tp)
            lag[(tp.topic, tp.partition)] = max(0, high - position)
        self.stats.lag = lag
