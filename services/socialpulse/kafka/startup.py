"""Start-up steps that wait out an unreachable or not-ready cluster, up to one deadline.

A worker started while the brokers restart, or that loses them half-way through its start-up,
waits for them (``kafka.startup_timeout_seconds``) instead of exiting: once consuming, the
clients' own retries take over. Errors that waiting cannot cure (refused credentials, a
missing topic) are raised at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from socialpulse.kafka.errors import error_kind

__all__ = [
    "DEFAULT_WAIT_S",
    "backoff_or_fail",
    "deadline_or_default",
    "patiently",
    "topic_partitions",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a start step waits when its caller names no deadline.
DEFAULT_WAIT_S: Final = 30.0
_BACKOFF_S: Final = (0.2, 0.5, 1.0, 2.0, 5.0)
# Below this many seconds of waiting a retry is logged at debug: brokers often need a moment.
_QUIET_S: Final = 5.0


def deadline_or_default(deadline: float | None) -> float:
    """``deadline``, or ``DEFAULT_WAIT_S`` from now."""
    return time.monotonic() + DEFAULT_WAIT_S if deadline is None else deadline


def passing(exc: BaseException) -> bool:
    """Whether waiting can cure ``exc``: the cluster is unreachable, slow or electing leaders."""
    if isinstance(exc, KafkaError):
        # aiokafka raises a bare KafkaError when no known broker answered a metadata request.
        return (
            exc.retriable or error_kind(exc) in ("connection", "timeout") or type(exc) is KafkaError
        )
    return isinstance(exc, (OSError, TimeoutError))


async def backoff_or_fail(
    attempt: int, deadline: float, doing: str, error: BaseException | None, *, since: float
) -> int:
    """Sleep before the next attempt, or raise RuntimeError when ``deadline`` has passed.

    ``since`` is when the first attempt began: waits longer than a few seconds are logged as
    warnings, so an operator sees why start-up has not finished.
    """
    delay = _BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)]
    now = time.monotonic()
    remaining = deadline - now
    because = f": {error!r}" if error is not None else ""
    if remaining <= 0:
        raise RuntimeError(f"could not {doing} in time{because}") from error
    level = logging.WARNING if now - since >= _QUIET_S else logging.DEBUG
    log.log(
        level,
        "could not %s yet%s; retrying in %.1f s (giving up in %.0f s)",
        doing,
        because,
        min(delay, remaining),
        remaining,
    )
    await asyncio.sleep(min(delay, remaining))
    return attempt + 1


async def patiently(step: Callable[[], Awaitable[T]], doing: str, deadline: float) -> T:
    """``step()``, retried while it fails in a way waiting can cure, until ``deadline``.

    ``step`` must be safe to call again after such a failure (a client whose bootstrap failed,
    a fresh client each call).
    """
    attempt = 0
    since = time.monotonic()
    while True:
        try:
            return await step()
        except (KafkaError, OSError, TimeoutError) as exc:
            if not passing(exc):
                raise
            attempt = await backoff_or_fail(attempt, deadline, doing, exc, since=since)


async def topic_partitions(
    producer: AIOKafkaProducer, topic: str, missing: str, deadline: float
) -> set[int]:
    """The partitions of ``topic`` as the cluster's metadata gives them, waited for.

    A topic the cluster does not have is not an outage: RuntimeError(``missing``) at once.
    """
    cluster = await patiently(
        producer.client.fetch_all_metadata, f"read Kafka metadata for {topic!r}", deadline
    )
    partitions: set[int] | None = cluster.partitions_for_topic(topic)
    if not partitions:
        raise RuntimeError(missing)
    return partitions
