"""The start-up access check: refusals stop start-up, an absent broker is left to retries."""

from __future__ import annotations

import ssl

import pytest
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed

from ports import free_port as closed_port
from socialpulse.kafka.access import KafkaAccessDenied, _refusal, check_access


async def test_an_unreachable_broker_is_not_a_refusal() -> None:
    await check_access({"bootstrap_servers": f"127.0.0.1:{closed_port()}"})


def test_a_tls_alert_behind_a_closed_connection_is_a_refusal() -> None:
    alert = ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED]")
    closed = KafkaConnectionError("Connection at b:9093 closed")
    closed.__cause__ = alert
    assert _refusal(closed) is alert


@pytest.mark.parametrize(
    "error",
    [
        KafkaConnectionError("Connection at b:9093 closed"),
        ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),  # cut, not refused
        ConnectionRefusedError(),
    ],
)
def test_a_broken_connection_is_not_a_refusal(error: BaseException) -> None:
    assert _refusal(error) is None


def test_a_sasl_failure_is_a_refusal() -> None:
    failed = SaslAuthenticationFailed("invalid credentials")
    assert _refusal(failed) is failed
    assert issubclass(KafkaAccessDenied, RuntimeError)  # the CLI's exit-1 path
