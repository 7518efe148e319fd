"""Sends a checkpoint's records as record batches built here, and waits for them to land.

The state flush and the join-input flush hand the producer thousands of records at a checkpoint;
one ``send`` per record (a coroutine, a metadata check, a partitioner call, a queue slot and a
future each) cost more than building the records. Here each record is appended to the open
batch of its partition (``create_batch``), a full batch is sent and another begun, and every
batch's acknowledgement is awaited. Each record stays one record, in order within its
partition; a batch lands or fails as a whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

__all__ = ["Outgoing", "Sent", "await_acks", "send_batches"]

M = TypeVar("M")

# A record to send: what the caller knows it by, its partition, key, value and headers (None:
# the builder's default, no headers).
Outgoing = tuple[M, int, bytes, bytes | None, Sequence[tuple[str, bytes]] | None]


@dataclass(slots=True)
class Sent(Generic[M]):
    """What became of the records: those acknowledged and those not, in the order sent."""

    landed: list[M] = field(default_factory=list)
    failed: list[M] = field(default_factory=list)
    # The last reason a record did not land (None when all did, or a batch was cancelled).
    error: BaseException | None = None


async def send_batches(
    producer: AIOKafkaProducer,
    topic: str,
    records: Iterable[Outgoing[M]],
    *,
    what: str,
    wait_seconds: float,
) -> Sent[M]:
    """Send ``records`` to ``topic`` in record batches; wait up to ``wait_seconds`` for them.

    ``what`` names a record in the errors (``"state record"``). A batch the producer refuses,
    or that is not acknowledged in time (it is cancelled then), fails its records; a
    cancellation of the caller propagates, and nothing is then known to have landed.
    """
    out: Sent[M] = Sent()
    sent: list[tuple[list[M], asyncio.Future[Any]]] = []
    open_: dict[int, tuple[Any, list[M]]] = {}

    async def submit(partition: int) -> None:
        builder, members = open_.pop(partition)
        try:
            fut = await producer.send_batch(builder, topic, partition=partition)
        except KafkaError as e:
            out.failed.extend(members)
            out.error = e
            return
        sent.append((members, fut))

    for member, partition, key, value, headers in records:
        # Without headers the builder's own default: a builder need not take the argument.
        extra = {} if headers is None else {"headers": headers}
        for _ in range(2):  # a full batch is sent and the record goes into a new one
            if partition not in open_:
                open_[partition] = (producer.create_batch(), [])
            builder, members = open_[partition]
            if builder.append(key=key, value=value, timestamp=None, **extra):
                members.append(member)
                break
            await submit(partition)
        else:  # not even alone in a batch (cannot happen: a first record always fits)
            out.failed.append(member)
            out.error = ValueError(f"{what} larger than a record batch")
    for partition in list(open_):
        await submit(partition)
    await await_acks(sent, out, what=what, wait_seconds=wait_seconds)
    return out


async def await_acks(
    sent: list[tuple[list[M], asyncio.Future[Any]]],
    out: Sent[M],
    *,
    what: str,
    wait_seconds: float,
) -> None:
    """Wait up to ``wait_seconds`` for each future of ``sent``; sort its members into ``out``.

    A future not done by then is cancelled and its members fail with a ``TimeoutError``.
    """
    if sent:
        await asyncio.wait([f for _, f in sent], timeout=wait_seconds)
    for members, fut in sent:
        if not fut.done():
            fut.cancel()
            out.failed.extend(members)
            out.error = TimeoutError(f"{what} not acknowledged in time")
        elif fut.cancelled() or fut.exception() is not None:
            out.failed.extend(members)
            out.error = None if fut.cancelled() else fut.exception()
        else:
            out.landed.extend(members)
