"""The demo's Kafka driver: produce demo traffic into the input topics at a steady rate."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiokafka.errors import ProducerClosed

from socialpulse.core.clock import Clock
from socialpulse.core.events import Stream
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.demo.generator import DemoTraffic
from socialpulse.settings import BrandSettings

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from aiokafka import AIOKafkaProducer

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Failures:
    """Delivery trouble, logged at most every few seconds so a dead broker does not flood logs."""

    count: int = 0
    last_logged: float = -math.inf
    first: BaseException | None = None

    def add(self, exc: BaseException) -> None:
        self.count += 1
        if self.first is None:
            self.first = exc

    def maybe_log(self, t: float) -> None:
        if self.count and t - self.last_logged >= 5.0:
            logger.warning(
                "demo: %d records failed since last report (e.g. %r)", self.count, self.first
            )
            self.count, self.first, self.last_logged = 0, None, t


async def run_demo(
    producer: AIOKafkaProducer,
    mentions_topic: str,
    interactions_topic: str,
    events_per_second: float,
    clock: Clock,
    rng: random.Random,
    stop: asyncio.Event,
    malformed_every: int = 500,
    *,
    brands: Sequence[BrandSettings] = DEMO_BRANDS,
    tick_seconds: float = 0.1,
) -> None:
    """Produce demo traffic at ``events_per_second`` until ``stop`` is set or the producer closes.

    ``clock`` returns wall-clock epoch seconds (``time.time``); it paces the stream and stamps
    events. Each tick sends whatever is due without awaiting each delivery, then awaits the batch,
    so the rate holds even when the broker is slow; a backlog of more than a second is dropped
    rather than burst. About 25% mentions, 75% interactions; every ``malformed_every``-th record
    is bad input (0 disables). A failing record is logged and skipped, never fatal.
    """
    if events_per_second <= 0:
        raise ValueError("events_per_second must be positive")
    traffic = DemoTraffic(brands, rng)
    topics: dict[Stream, str] = {"mentions": mentions_topic, "interactions": interactions_topic}
    max_batch = max(1, math.ceil(events_per_second))
    failures = _Failures()
    start = clock()
    scheduled = 0
    logger.info("demo traffic: %.0f events/s to %s and %s", events_per_second, *topics.values())
    try:
        while not stop.is_set():
            t = clock()
            due = int((t - start) * events_per_second) - scheduled
            if due > max_batch:  # fell behind (slow broker, suspended laptop): skip, don't burst
                scheduled += due - max_batch
                due = max_batch
            if due > 0:
                records = range(scheduled + 1, scheduled + due + 1)
                scheduled += due
                now = datetime.fromtimestamp(t, tz=UTC)
                if not await _send_batch(
                    producer, traffic, topics, now, records, malformed_every, failures
                ):
                    logger.info("demo: producer closed, stopping demo traffic")
                    return
            failures.maybe_log(t)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=tick_seconds)
    finally:
        failures.maybe_log(math.inf)


async def _send_batch(
    producer: AIOKafkaProducer,
    traffic: DemoTraffic,
    topics: Mapping[Stream, str],
    now: datetime,
    records: range,
    malformed_every: int,
    failures: _Failures,
) -> bool:
    """Send one tick's records, then await their delivery; False once the producer is closed."""
    futures: list[asyncio.Future[Any]] = []
    closed = False
    for n in records:
        try:
            k: bytes | None
            if malformed_every > 0 and n % malformed_every == 0:
                stream, value = traffic.encoded_malformed(now)
                k = None
            else:
                stream, k, value = traffic.encoded_next(now)
            futures.append(await producer.send(topics[stream], value=value, key=k))
        except ProducerClosed:
            closed = True
            break
        except Exception as e:  # one bad record (or one failed send) must not stop the demo
            failures.add(e)
    for result in await asyncio.gather(*futures, return_exceptions=True):
        if isinstance(result, ProducerClosed):
            closed = True
        elif isinstance(result, BaseException):
            failures.add(result)
    return not closed
