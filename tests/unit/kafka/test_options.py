"""Kafka client options: plaintext as given, TLS with a context, SASL credentials unwrapped."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from socialpulse.kafka.options import client_options
from socialpulse.settings import KafkaSettings

SECRET = "hunter2"  # noqa: S105 - a made-up credential
SASL = {"sasl_mechanism": "PLAIN", "sasl_username": "svc", "sasl_password": SECRET}


def test_plaintext_is_only_the_address_client_id_and_protocol() -> None:
    opts = client_options(KafkaSettings(client_id="pulse-1"), "broker:9092")
    assert opts == {
        "bootstrap_servers": "broker:9092",
        "client_id": "pulse-1",
        "security_protocol": "PLAINTEXT",
    }


def test_the_bootstrap_argument_wins_over_settings() -> None:
    """The embedded broker's address is only known at start-up."""
    kafka = KafkaSettings(bootstrap_servers="configured:9092")
    assert client_options(kafka, "127.0.0.1:40001")["bootstrap_servers"] == "127.0.0.1:40001"


@pytest.mark.parametrize("protocol", ["SSL", "SASL_SSL"])
def test_tls_gets_an_ssl_context_that_verifies_the_broker(protocol: str) -> None:
    sasl = SASL if protocol == "SASL_SSL" else {}
    opts = client_options(KafkaSettings(security_protocol=protocol, **sasl), "b:9093")
    context = opts["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert opts["security_protocol"] == protocol


def test_sasl_plaintext_has_no_ssl_context() -> None:
    kafka = KafkaSettings(security_protocol="SASL_PLAINTEXT", **SASL)
    assert "ssl_context" not in client_options(kafka, "b:9092")


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_passes_mechanism_user_and_the_password_itself(mechanism: str) -> None:
    kafka = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism=mechanism,
        sasl_username="svc",
        sasl_password=SecretStr(SECRET),
    )
    opts = client_options(kafka, "b:9093")
    assert opts["sasl_mechanism"] == mechanism
    assert opts["sasl_plain_username"] == "svc"
    # aiokafka wants the plain string; the SecretStr only keeps it out of logs and dumps.
    assert opts["sasl_plain_password"] == SECRET
    assert type(opts["sasl_plain_password"]) is str


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"security_protocol": "SASL_SSL"}, "SASL_SSL needs sasl_mechanism"),
        ({"sasl_mechanism": "PLAIN"}, "security_protocol is PLAINTEXT; use SASL_SSL"),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512"},
            "needs sasl_username and sasl_password",
        ),
        ({"ssl_cafile": "ca.pem"}, "ssl_cafile set but security_protocol is PLAINTEXT"),
        (
            {"security_protocol": "SSL", "ssl_keyfile": "k.pem"},
            "ssl_keyfile and ssl_key_password need ssl_certfile",
        ),
    ],
)
def test_inconsistent_security_settings_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        KafkaSettings(**fields)


def test_no_sasl_mechanism_no_sasl_options() -> None:
    opts = client_options(KafkaSettings(sasl_username="svc"), "b:9092")  # ignored: PLAINTEXT
    assert not any(name.startswith("sasl") for name in opts)
