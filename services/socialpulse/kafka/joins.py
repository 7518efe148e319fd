"""The joins topic: each worker sends the join inputs of what it applies, every worker reads all.

``JoinPublisher`` holds the join inputs of handled records until a checkpoint sends them; the
worker commits a partition's offsets only once its inputs are acknowledged, so a crash re-reads
and re-sends them (the view counts each once, see ``core.joins``). ``JoinReader`` reads every
partition of the topic from its start with a consumer of no group, into the worker's
``JoinView``; the worker is ready once it has read to the ends the topic had when it started.
The topic is time-retained (``retention.ms``, twice the longest window), not compacted: each
record is one event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from aiokafka import AIOKafkaProducer

from socialpulse.core.clock import Clock
from socialpulse.core.joins import JoinInput, JoinView, decode_input, encode_input
from socialpulse.core.windows.timeline import Source
from socialpulse.kafka.topic_publisher import TopicPublisher
from socialpulse.kafka.topic_reader import SLICE_SECONDS, Batch, Record, TopicReader
from socialpulse.kafka.topics import TopicSpec

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS: Final = 30.0
EXPIRE_EVERY_SECONDS: Final = 10.0
LAG_EVERY_SECONDS: Final = 1.0
# How long a start waits for the joins topic to show in the metadata.
METADATA_WAIT_SECONDS: Final = 15.0
# The topic keeps what the view needs: every window, and the snapshot before the longest one.
RETENTION_WINDOWS: Final = 2


def joins_topic_spec(partitions: int, horizon_seconds: int) -> TopicSpec:
    """How the joins topic is created when missing: deleted by age, past two longest windows."""
    retention_ms = RETENTION_WINDOWS * horizon_seconds * 1000
    return TopicSpec(
        partitions=partitions,
        config={"cleanup.policy": "delete", "retention.ms": str(retention_ms)},
    )


@dataclass(slots=True)
class JoinStats:
    """What the joins topic reports: inputs sent, read, applied, repeated, unreadable."""

    sent: int = 0
    send_failures: int = 0
    read: int = 0
    applied: int = 0
    duplicates: int = 0
    unreadable: int = 0
    # Joins-topic partition -> records behind its end.
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    # Read up to the ends the topic had when the reader started.
    caught_up: bool = False


class JoinsTopicMissing(RuntimeError):
    """The joins topic does not exist and the service may not create it."""


class JoinPublisher:
    """Join inputs of handled records, sent at each checkpoint."""

    def __init__(self, topic: str, producer: AIOKafkaProducer, stats: JoinStats) -> None:
        self.topic = topic
        self._stats = stats
        self._out = TopicPublisher(
            topic,
            producer,
            log=log,
            what="join input",
            plural="join inputs",
            retry="their partitions keep their offsets uncommitted and retry",
            wait_seconds=SEND_TIMEOUT_SECONDS,
        )

    def add(self, inputs: Iterable[JoinInput]) -> None:
        """Queue join inputs for the next flush; keyed by source, so each keeps its order."""
        for j in inputs:
            self._out.put(j.source, f"{j.topic}:{j.partition}".encode(), encode_input(j))

    async def flush(self) -> set[Source]:
        """Send what is queued and wait; the sources whose inputs did not all land (re-queued).

        The inputs go out as record batches (``send_batches``): one ``send`` per input (a
        coroutine, a metadata check, a murmur2 hash in Python and a future each) cost as much as
        the rest of a mention's handling. Each input stays one record, keyed and partitioned as
        the producer's default partitioner would, so each source's inputs keep their order.
        """
        landed, failed = await self._out.send()
        self._stats.sent += landed
        if failed:
            self._stats.send_failures += 1
        return failed


class JoinReader:
    """Reads every partition of the joins topic into a ``JoinView``, in a task of its own."""

    def __init__(
        self,
        topic: str,
        client_options: dict[str, Any],
        view: JoinView,
        clock: Clock,
        stats: JoinStats,
        max_records: int = 1000,
    ) -> None:
        self.topic = topic
        self._view = view
        self._clock = clock
        self._stats = stats
        self._max_records = max_records
        self._reader = TopicReader(topic, client_options)
        self._producer: AIOKafkaProducer | None = None
        self._create: TopicSpec | None = None
        self._missing_since = time.monotonic()
        self._reported = False
        self._next_expire = self._next_lag = 0.0

    def start(self, producer: AIOKafkaProducer, create: TopicSpec | None = None) -> None:
        """Read through ``producer``'s client; a missing topic is created with ``create``.

        Nothing is fetched here: ``run`` connects, waiting out an outage as the consume loop
        does, so a worker starting while the brokers are away is not stopped by its join view.
        """
        self._producer = producer
        self._create = create

    async def _partitions(self) -> set[int] | None:
        """The topic's partitions; None to try again.

        The producer's client learns the partitions: a topic created a moment ago may take a
        few seconds to show in the metadata. Missing for longer, with nothing to create it
        with, is an error.
        """
        assert self._producer is not None, "start() first"  # noqa: S101 - programming error
        partitions, self._create = await self._reader.partitions_via(
            self._producer, self._create, self._missing
        )
        return partitions

    def _missing(self) -> None:
        if time.monotonic() > self._missing_since + METADATA_WAIT_SECONDS:
            raise JoinsTopicMissing(
                f"joins topic {self.topic!r} is missing: create it (see README, State) or "
                "let the service create it (kafka.create_topics: true)"
            )

    def _opened(self) -> None:
        self._stats.caught_up = not any(self._reader.start_ends.values())

    async def stop(self) -> None:
        """Close the consumer; safe to call twice."""
        await self._reader.stop()

    async def run(self, stop: asyncio.Event) -> None:
        """Apply join inputs until ``stop``; a broker outage is waited out."""
        self._next_expire = self._next_lag = 0.0
        self._missing_since = time.monotonic()
        await self._reader.follow(
            stop,
            self._partitions,
            self._handle,
            log=log,
            what="joins",
            max_records=self._max_records,
            wait_seconds=0.5,
            opened=self._opened,
            fatal=(JoinsTopicMissing,),
        )

    async def _handle(self, batch: Batch) -> None:
        """Apply a batch, letting the event loop run every ``SLICE_SECONDS``.

        A long history read back must not hold up the consume loop and scrapes.
        """
        now = self._clock()
        view, stats = self._view, self._stats
        until = time.perf_counter() + SLICE_SECONDS

        def go_on() -> bool:
            return time.perf_counter() < until

        for records in batch.values():
            inputs = self._decode(records)
            left, rest = len(inputs), iter(inputs)
            while left:
                left -= view.apply_many(rest, now, go_on)
                stats.applied = view.applied
                stats.duplicates = view.duplicates
                if not go_on():
                    await asyncio.sleep(0)
                    until = time.perf_counter() + SLICE_SECONDS
        mono = time.monotonic()
        if mono >= self._next_lag:
            await self._update_lag()
            self._next_lag = mono + LAG_EVERY_SECONDS
        if mono >= self._next_expire:
            self._view.expire(now)
            self._next_expire = mono + EXPIRE_EVERY_SECONDS

    def _decode(self, records: Sequence[Record]) -> list[JoinInput]:
        """The join inputs of ``records``, in order; the unreadable ones counted and left out."""
        inputs: list[JoinInput] = []
        for r in records:
            try:
                inputs.append(decode_input(r.value or b""))
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                self._unreadable(r, e)
        self._stats.read += len(records)
        return inputs

    def _unreadable(self, r: Record, e: Exception) -> None:
        self._stats.unreadable += 1
        if not self._reported:
            self._reported = True
            log.error(
                "joins topic %s partition %d offset %d is unreadable (%s); skipped, and "
                "counted in socialpulse_join_inputs_unreadable_total",
                self.topic,
                r.partition,
                r.offset,
                e,
            )

    async def _update_lag(self) -> None:
        lag = await self._reader.lag()
        caught_up = await self._reader.reached_start_ends()
        self._stats.lag = {(tp.topic, tp.partition): n for tp, n in lag.items()}
        if caught_up and not self._stats.caught_up:
            log.info("joins topic %s read to where it ended at start-up", self.topic)
        self._stats.caught_up = self._stats.caught_up or caught_up
