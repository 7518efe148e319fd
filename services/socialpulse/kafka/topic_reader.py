"""Reads a whole topic from its start with a consumer of no group, then follows it.

The alerts log, the minutes reader and the fleet-wide views (joins, trends) all read their
topic this way: every partition assigned, from the beginning, caught up once each partition is
past the end it had when the reader first opened it. ``follow`` is their shared loop: it opens
the topic once its partitions are known, hands each batch on and waits out a broker outage.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Final, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from socialpulse.kafka.errors import stray_cancels_as_errors
from socialpulse.kafka.topics import TopicSpec, ensure_topics, read_from_start

__all__ = ["SLICE_SECONDS", "Batch", "Record", "TopicReader", "apply_sliced"]

# How long ``follow`` waits for records before handing on an empty batch.
FOLLOW_POLL_MS: Final = 500
RETRY_SECONDS: Final = 1.0
# The longest a topic reader's apply (``apply_sliced``, ``JoinReader._handle``) holds the loop.
SLICE_SECONDS: Final = 0.01

Record: TypeAlias = ConsumerRecord[bytes, bytes]
Batch: TypeAlias = Mapping[TopicPartition, list[Record]]


class TopicReader:
    """Every partition of ``topic``, from its start, through a consumer of no group."""

    def __init__(self, topic: str, client_options: dict[str, Any]) -> None:
        self.topic = topic
        self._opts = client_options
        self._consumer: AIOKafkaConsumer | None = None
        # The topic's ends when first opened: what "caught up" is measured against.
        self.start_ends: dict[TopicPartition, int] = {}
        self._opened_once = False

    @property
    def opened(self) -> bool:
        """Whether ``open`` succeeded and ``stop`` was not called since."""
        return self._consumer is not None

    async def open(self, partitions: Iterable[int]) -> None:
        """Connect, assign ``partitions`` and seek to their start."""
        consumer, ends = await read_from_start(self._opts, self.topic, set(partitions))
        self._consumer = consumer
        if not self._opened_once:
            self._opened_once = True
            self.start_ends = ends

    async def stop(self) -> None:
        """Close the consumer; safe to call twice."""
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def partitions_via(
        self,
        producer: AIOKafkaProducer,
        create: TopicSpec | None,
        missing: Callable[[], None],
    ) -> tuple[set[int] | None, TopicSpec | None]:
        """The topic's partitions as ``producer``'s client learns them; None to ask again.

        A topic created a moment ago may take a few seconds to show in the metadata. Missing,
        it is created with ``create`` (returned None then, so it is created once), or, with
        nothing to create it with, ``missing`` is called (to report it, or raise).
        """
        cluster = await producer.client.fetch_all_metadata()
        partitions: set[int] | None = cluster.partitions_for_topic(self.topic)
        if partitions:
            return partitions, create
        if create is not None:
            await ensure_topics(self._opts, {self.topic: create})
            return None, None
        missing()
        return None, create

    def _require(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError(f"the reader of {self.topic!r} is not open")
        return self._consumer

    async def getmany(self, timeout_ms: int, max_records: int | None = None) -> Batch:
        """The next records of any partition (none after ``timeout_ms``)."""
        batch: Batch = await self._require().getmany(timeout_ms=timeout_ms, max_records=max_records)
        return batch

    async def lag(self) -> dict[TopicPartition, int]:
        """Records between the reader's position and the topic's current end, per partition."""
        consumer = self._require()
        tps = list(self.start_ends)
        end = await consumer.end_offsets(tps)
        return {tp: max(0, end[tp] - await consumer.position(tp)) for tp in tps}

    async def reached_start_ends(self) -> bool:
        """Whether every partition is read to where it ended when the reader first opened."""
        consumer = self._require()
        for tp, end in self.start_ends.items():
            if await consumer.position(tp) < end:
                return False
        return True

    async def read_to_end(self, handle: Callable[[Record], None], timeout_ms: int) -> None:
        """Hand every record up to the topic's current end to ``handle``, then return."""
        consumer = self._require()
        tps = list(self.start_ends)
        end = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if await consumer.position(tp) < end[tp]}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=timeout_ms)
            for recs in batch.values():
                for r in recs:
                    handle(r)
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)

    async def follow(
        self,
        stop: asyncio.Event,
        partitions: Callable[[], Awaitable[set[int] | None]],
        handle: Callable[[Batch], Awaitable[None]],
        *,
        log: logging.Logger,
        what: str,
        max_records: int,
        wait_seconds: float,
        opened: Callable[[], None] = lambda: None,
        fatal: tuple[type[BaseException], ...] = (),
    ) -> None:
        """Read batches into ``handle`` until ``stop``; a broker outage is waited out.

        ``partitions`` says which to read, or None while the topic is missing (asked again
        after ``wait_seconds``); ``opened`` is called once the reader is open. A KafkaError or
        RuntimeError (``ensure_topics`` gave up on an unreachable cluster for now) is logged as
        ``<what> topic <topic>`` and retried after a second, unless it is one of ``fatal``.
        """
        while not stop.is_set():
            try:
                with stray_cancels_as_errors():
                    if self._consumer is None:
                        found = await partitions()
                        if not found:
                            await asyncio.sleep(wait_seconds)
                            continue
                        await self.open(found)
                        opened()
                    batch = await self.getmany(FOLLOW_POLL_MS, max_records)
                    await handle(batch)
            except (KafkaError, RuntimeError) as e:
                if isinstance(e, fatal):
                    raise
                log.warning("%s topic %s: %r; retrying in 1 s", what, self.topic, e)
                await asyncio.sleep(RETRY_SECONDS)


async def apply_sliced(batch: Batch, apply: Callable[[Record], None]) -> None:
    """``apply`` each record, letting the event loop run every ``SLICE_SECONDS``.

    A long history read back must not hold up the consume loop and scrapes.
    """
    until = time.perf_counter() + SLICE_SECONDS
    for records in batch.values():
        for r in records:
            apply(r)
            if time.perf_counter() >= until:
                await asyncio.sleep(0)
                until = time.perf_counter() + SLICE_SECONDS
