"""Kafka client errors sort into a bounded set of kinds; the permanent ones carry advice."""

from __future__ import annotations

import asyncio

from aiokafka import errors

from socialpulse.kafka.errors import ERROR_KINDS, PERMANENT, advice, error_kind, stray_cancel


def test_errors_map_to_their_kind() -> None:
    assert error_kind(errors.UnsupportedCodecError("lz4")) == "codec"
    assert error_kind(errors.SaslAuthenticationFailed()) == "authentication"
    assert error_kind(errors.TopicAuthorizationFailedError()) == "authorization"
    assert error_kind(errors.CorruptRecordException()) == "corrupt_record"
    assert error_kind(errors.KafkaConnectionError()) == "connection"
    assert error_kind(errors.KafkaTimeoutError()) == "timeout"
    assert error_kind(errors.KafkaError("?")) == "other"


def test_kinds_are_bounded_and_permanent_ones_say_what_to_do() -> None:
    assert PERMANENT <= set(ERROR_KINDS)
    assert all(advice(k) for k in PERMANENT)
    assert not advice("connection")


async def test_a_cancel_nobody_asked_for_is_stray_and_a_real_one_is_not() -> None:
    """A client's future cancelled under an await is a fault; ``Task.cancel`` is a stop."""
    loop = asyncio.get_running_loop()
    seen: list[bool] = []

    async def awaiting(fut: asyncio.Future[None]) -> None:
        try:
            await fut
        except asyncio.CancelledError:
            seen.append(stray_cancel())
            raise

    inner: asyncio.Future[None] = loop.create_future()
    task = asyncio.create_task(awaiting(inner))
    await asyncio.sleep(0)
    inner.cancel()  # the library's own future, not the task
    await asyncio.wait([task])
    stopped = asyncio.create_task(awaiting(loop.create_future()))
    await asyncio.sleep(0)
    stopped.cancel()
    await asyncio.wait([stopped])
    assert seen == [True, False]
