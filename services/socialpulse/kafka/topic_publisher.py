"""Queues a worker's records for one fleet-wide topic and sends them together; failures wait.

The twin of ``topic_reader``: the joins and trends topics are each written by every worker
(its partitions' entries, keyed) and read whole by every worker. ``TopicPublisher`` holds what
is queued, sends it at a checkpoint or, with ``every_seconds``, at most that often, and puts
back ahead of anything newer whatever was not acknowledged, to go with the next send. It says
which input partitions' records did not all land, for a caller whose commits wait on them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Hashable
from typing import Any, Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from socialpulse.core.windows.timeline import Source
from socialpulse.kafka.batch_sender import Sent, await_acks, send_batches

__all__ = ["TopicPublisher"]

# The producer's default: murmur2 of the key (as the Java client), modulo the partitions.
_PARTITIONER: Final = DefaultPartitioner()

# A queued record: the input partition it belongs to, its key and value.
_Queued = tuple[Source, bytes, bytes]


class TopicPublisher:
    """Keyed records of input partitions, queued for ``topic`` and sent together."""

    def __init__(
        self,
        topic: str,
        producer: AIOKafkaProducer,
        *,
        log: logging.Logger,
        what: str,
        plural: str,
        retry: str,
        wait_seconds: float,
        replace: bool = False,
        batches: bool = True,
        every_seconds: float = 0.0,
    ) -> None:
        """``what`` (``plural``) names a record in the log, ``retry`` what a failure leads to.

        With ``replace`` a record queued under a key replaces the one queued before (a newer
        version of a compacted key); without, every record is sent. ``batches``: sent as record
        batches built here, on the partitions the producer's default partitioner would pick;
        otherwise one ``send`` each. ``every_seconds``: how often ``due`` lets a send through.
        """
        self.topic = topic
        self._producer = producer
        self._log = log
        self._what = what
        self._plural = plural
        self._retry = retry
        self._wait = wait_seconds
        self._replace = replace
        self._batches = batches
        self._every = every_seconds
        self._next = 0.0
        # Queued records in sending order: by key with ``replace``, else by a running number.
        self._pending: dict[Hashable, _Queued] = {}
        self._seq = 0
        # (key, partitions of the topic) -> partition: few keys, each hashed once.
        self._partitions: dict[tuple[bytes, int], int] = {}

    def put(self, source: Source, key: bytes, value: bytes) -> None:
        """Queue one record of input partition ``source`` for the next send."""
        if self._replace:
            self._pending[key] = (source, key, value)
        else:
            self._pending[self._seq] = (source, key, value)
            self._seq += 1

    def due(self, force: bool = False) -> bool:
        """Whether ``every_seconds`` passed since the last time this said so (or ``force``)."""
        now = time.monotonic()
        if not force and now < self._next:
            return False
        self._next = now + self._every
        return True

    async def send(self) -> tuple[int, set[Source]]:
        """Send what is queued and wait: how many landed, and the sources of those that did not.

        What did not land is queued again ahead of what was queued meanwhile (with ``replace``,
        a newer version queued meanwhile wins). A cancellation keeps every record queued.
        """
        if not self._pending:
            return 0, set()
        batch, self._pending = self._pending, {}
        try:
            out = await (self._send_batches(batch) if self._batches else self._send_each(batch))
        except BaseException:
            self._pending = batch | self._pending  # nothing is known to have landed
            raise
        failed = {ident: batch[ident] for ident in out.failed}
        if failed:
            self._pending = failed | self._pending
            self._log.warning(
                "%d of %d %s to %s not acknowledged (%r); %s",
                len(failed),
                len(batch),
                self._plural,
                self.topic,
                out.error,
                self._retry,
            )
        return len(out.landed), {source for source, _, _ in failed.values()}

    async def _send_batches(self, batch: dict[Hashable, _Queued]) -> Sent[Hashable]:
        try:
            partitions = sorted(await self._producer.partitions_for(self.topic))
        except KafkaError as e:
            return Sent(failed=list(batch), error=e)
        return await send_batches(
            self._producer,
            self.topic,
            ((i, self._partition_of(k, partitions), k, v, None) for i, (_, k, v) in batch.items()),
            what=self._what,
            wait_seconds=self._wait,
        )

    async def _send_each(self, batch: dict[Hashable, _Queued]) -> Sent[Hashable]:
        out: Sent[Hashable] = Sent()
        sent: list[tuple[list[Hashable], asyncio.Future[Any]]] = []
        for ident, (_, key, value) in batch.items():
            try:
                sent.append(([ident], await self._producer.send(self.topic, value, key=key)))
            except KafkaError as e:
                out.failed.append(ident)
                out.error = e
        await await_acks(sent, out, what=self._what, wait_seconds=self._wait)
        return out

    def _partition_of(self, key: bytes, partitions: list[int]) -> int:
        """The partition the producer's default partitioner gives ``key`` (cached)."""
        cached = self._partitions.get((key, len(partitions)))
        if cached is None:
            cached = _PARTITIONER(key, partitions, partitions)
            self._partitions[(key, len(partitions))] = cached
        return cached
