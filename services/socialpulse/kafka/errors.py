"""Kafka errors by kind: a bounded label for the error counter, and whether waiting can cure it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final, Literal, get_args

from aiokafka import errors as e

ErrorKind = Literal[
    "codec", "authentication", "authorization", "corrupt_record", "connection", "timeout", "other"
]
ERROR_KINDS: Final[tuple[str, ...]] = get_args(ErrorKind)
# Kinds no retry can cure: the operator must act (install a codec, fix credentials or ACLs).
PERMANENT: Final[frozenset[str]] = frozenset(
    {"codec", "authentication", "authorization", "corrupt_record"}
)

_KINDS: Final[tuple[tuple[tuple[type[BaseException], ...], ErrorKind], ...]] = (
    ((e.UnsupportedCodecError,), "codec"),
    (
        (
            e.AuthenticationFailedError,
            e.AuthenticationMethodNotSupported,
            e.SaslAuthenticationFailed,
            e.UnsupportedSaslMechanismError,
            e.IllegalSaslStateError,
        ),
        "authentication",
    ),
    (
        (
            e.TopicAuthorizationFailedError,
            e.GroupAuthorizationFailedError,
            e.ClusterAuthorizationFailedError,
        ),
        "authorization",
    ),
    ((e.CorruptRecordException,), "corrupt_record"),
    ((e.KafkaConnectionError, e.NodeNotReadyError, e.NoBrokersAvailable), "connection"),
    ((e.KafkaTimeoutError, e.RequestTimedOutError, TimeoutError), "timeout"),
)

_ADVICE: Final[dict[str, str]] = {
    "codec": "a producer compressed records with a codec this installation lacks; reinstall "
    "socialpulse with its dependencies (aiokafka's lz4, snappy and zstd extras)",
    "authentication": "check kafka.sasl_mechanism, sasl_username and sasl_password",
    "authorization": "grant the consumer group read on the input topics and the group",
    "corrupt_record": "a record on the broker is corrupt; the partition cannot be read past it",
}


def error_kind(exc: BaseException) -> ErrorKind:
    """The bounded kind of a Kafka client error."""
    for types, kind in _KINDS:
        if isinstance(exc, types):
            return kind
    return "other"


def advice(kind: str) -> str:
    """What an operator should do about a permanent kind; empty for passing ones."""
    return _ADVICE.get(kind, "")


def stray_cancel() -> bool:
    """Whether a ``CancelledError`` just caught reached the running task unasked.

    A client's internal future cancelled under an await (a connection closed mid-request, a
    waiter dropped while the cluster is away) raises ``CancelledError`` in the awaiting task,
    though nothing asked it to stop: a fault to wait out, like a ``KafkaError``. A real
    ``cancel()`` of the task shows in ``Task.cancelling`` and must propagate.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() == 0


class ClientCallCancelled(e.KafkaError):  # type: ignore[misc]  # aiokafka is untyped
    """A client call cancelled under its caller, who was not asked to stop (``stray_cancel``)."""

    def __init__(self) -> None:
        super().__init__("a client call was cancelled")

    def __repr__(self) -> str:
        return "a client call was cancelled"


@contextmanager
def stray_cancels_as_errors() -> Iterator[None]:
    """Turn a ``CancelledError`` nobody asked for into ``ClientCallCancelled``, a ``KafkaError``.

    The loops that wait out a broker outage (the worker, the topic readers, the spike detector)
    then handle it as they handle any other client error; a real cancel passes unchanged.
    """
    try:
        yield
    except asyncio.CancelledError as exc:
        if not stray_cancel():
            raise
        raise ClientCallCancelled from exc
