"""Backfill into the input topics: a producer built from settings, paced, acknowledged by all.

Records are keyed by the caller per the producer contract; this module only sends them where
the service reads them, as fast as asked and no faster, and counts what the brokers confirmed.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from socialpulse.core.events import STREAMS, Stream
from socialpulse.kafka.access import check_access
from socialpulse.kafka.options import client_options, required_bootstrap
from socialpulse.settings import Settings

# Sends awaiting acknowledgement before the next one waits for the oldest: bounds memory.
MAX_IN_FLIGHT: Final = 10_000


class Pacer:
    """Spaces calls to at most ``rate`` per second on average (None: no limit)."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        if rate is not None and rate <= 0:
            raise ValueError(f"rate must be above 0 events/s, not {rate}")
        self._rate = rate
        self._clock = clock
        self._start: float | None = None
        self._count = 0

    def delay(self) -> float:
        """Seconds to wait before the next event; counts it."""
        now = self._clock()
        if self._start is None:
            self._start = now
        due = 0.0 if self._rate is None else self._start + self._count / self._rate - now
        self._count += 1
        return max(0.0, due)

    async def wait(self) -> None:
        """Sleep until the next event is due."""
        delay = self.delay()
        if delay > 0:
            await asyncio.sleep(delay)


class Replayer:
    """Sends to the mentions and interactions topics of ``settings`` with acks from all replicas.

    Use as ``async with``; leaving waits for every send to be acknowledged. Raises RuntimeError
    when no Kafka is configured, when it cannot be reached, or when a send fails.
    """

    def __init__(self, settings: Settings) -> None:
        kafka = settings.kafka
        self.bootstrap = required_bootstrap(kafka, "replay")
        self.topics: dict[Stream, str] = {
            "mentions": kafka.mentions_topic,
            "interactions": kafka.interactions_topic,
        }
        self.acked: dict[str, int] = dict.fromkeys(STREAMS, 0)
        self._options = client_options(kafka, self.bootstrap)
        self._producer = AIOKafkaProducer(
            acks="all",
            enable_idempotence=kafka.enable_idempotence,
            linger_ms=20,
            **self._options,
        )
        self._in_flight: deque[tuple[Stream, asyncio.Future[object]]] = deque()

    async def __aenter__(self) -> Replayer:
        try:
            await check_access(self._options)  # a refused login is said so, not "cannot reach"
            await self._producer.start()
        except (KafkaError, OSError) as e:
            await self._producer.stop()
            raise RuntimeError(f"cannot reach Kafka at {self.bootstrap}: {e}") from e
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                await self.drain()
        finally:
            await self._producer.stop()

    async def send(self, stream: Stream, key: bytes, value: bytes) -> None:
        """Queue one record for its stream's topic; waits when too many are unacknowledged."""
        while len(self._in_flight) >= MAX_IN_FLIGHT:
            await self._settle_oldest()
        try:
            future = await self._producer.send(self.topics[stream], value=value, key=key)
        except KafkaError as e:
            raise RuntimeError(f"cannot send to {self.topics[stream]}: {e}") from e
        self._in_flight.append((stream, future))

    async def drain(self) -> None:
        """Wait until every record sent so far is acknowledged."""
        while self._in_flight:
            await self._settle_oldest()

    async def _settle_oldest(self) -> None:
        stream, future = self._in_flight.popleft()
        try:
            await future
        except KafkaError as e:
            raise RuntimeError(f"{self.topics[stream]} did not acknowledge a record: {e}") from e
        self.acked[stream] += 1
