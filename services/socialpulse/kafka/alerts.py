"""The alerts topic: where alert events are published, and the record of what was sent.

The topic is compacted and keyed ``<alert_id>:<status>``, so it keeps one record per event
for as long as the topic lives. At start-up, and before each batch of events, ``AlertLog``
reads what the topic holds (every partition, to its end); an event whose key is there was
delivered already, by this worker before a restart or by another worker, and is not sent
again. Keys are kept in memory: 130 bytes per event (measured with tracemalloc).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from socialpulse.kafka.startup import deadline_or_default, patiently, topic_partitions
from socialpulse.kafka.topic_reader import Record, TopicReader
from socialpulse.kafka.topics import TopicSpec

log = logging.getLogger(__name__)

# Compacted, never deleted by age: the keys are the record of what was sent.
ALERTS_TOPIC_CONFIG: Final = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.5"}
READ_TIMEOUT_MS: Final = 1000


def alerts_topic_spec(partitions: int) -> TopicSpec:
    """How the alerts topic is created when missing."""
    return TopicSpec(partitions=partitions, config=ALERTS_TOPIC_CONFIG)


@dataclass(slots=True)
class AlertLogStats:
    """What the alerts topic saw; exported as counters."""

    published: int = 0
    known: int = 0  # keys read back from the topic


class AlertLog:
    """Publishes alert events keyed by their delivery key and knows every key the topic holds."""

    def __init__(
        self,
        topic: str,
        client_options: dict[str, Any],
        producer_options: dict[str, Any],
    ) -> None:
        self.topic = topic
        self.stats = AlertLogStats()
        self._opts = client_options
        self._producer_opts = producer_options
        self._keys: set[str] = set()
        self._reader = TopicReader(topic, client_options)
        self._producer: AIOKafkaProducer | None = None

    async def start(self, deadline: float | None = None) -> None:
        """Connect and read every key the topic holds (the topic must exist).

        An unreachable cluster is waited for until ``deadline``; a topic that cannot be read
        to its end by then is read before the first send instead (``deliver`` catches up).
        ``deadline`` is a ``time.monotonic()``; None: ``DEFAULT_WAIT_S`` from now.
        """
        deadline = deadline_or_default(deadline)
        self._producer = AIOKafkaProducer(acks="all", **self._producer_opts, **self._opts)
        try:
            await patiently(self._producer.start, "connect to the Kafka cluster", deadline)
            # One metadata round trip: partitions_for() would wait 40 s for a missing topic.
            partitions = await topic_partitions(
                self._producer,
                self.topic,
                f"alerts topic {self.topic!r} is missing: create it with cleanup.policy=compact "
                "or let the service create it (kafka.create_topics: true)",
                deadline,
            )
            await patiently(
                lambda: self._reader.open(partitions),
                f"read the alerts topic {self.topic!r}",
                deadline,
            )
        except BaseException:
            await self.stop()
            raise
        try:
            await self.catch_up()
        except RuntimeError as e:
            log.warning("%s; read before the first alert is sent", e)

    async def stop(self) -> None:
        """Close the clients."""
        await self._reader.stop()
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def catch_up(self) -> None:
        """Read the topic up to its current end: keys other workers published meanwhile.

        Raises RuntimeError when the topic cannot be read: nothing may be sent then.
        """
        try:
            await self._read_to_end()
        except (KafkaError, OSError, TimeoutError) as e:
            raise RuntimeError(f"cannot read the alerts topic {self.topic!r}: {e!r}") from e

    async def _read_to_end(self) -> None:
        if not self._reader.opened:
            raise RuntimeError("AlertLog.start() was not called")
        await self._reader.read_to_end(self._take, READ_TIMEOUT_MS)

    def _take(self, r: Record) -> None:
        if r.key is not None and r.value is not None:
            self._remember(r.key.decode("utf-8", "replace"))

    def _remember(self, key: str) -> None:
        if key not in self._keys:
            self._keys.add(key)
            self.stats.known += 1

    def sent(self, key: str) -> bool:
        """Whether the event named ``key`` is in the topic (as far as read)."""
        return key in self._keys

    async def publish(self, key: str, value: bytes) -> None:
        """Append the event and wait for the brokers to acknowledge it; then it counts as sent.

        Raises RuntimeError when the brokers refuse it: the caller retries the event later.
        """
        if self._producer is None:
            raise RuntimeError("AlertLog.start() was not called")
        try:
            await self._producer.send_and_wait(self.topic, value, key=key.encode())
        except KafkaError as e:
            raise RuntimeError(f"cannot publish alert {key} to {self.topic!r}: {e!r}") from e
        self._remember(key)
        self.stats.published += 1
