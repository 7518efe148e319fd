"""Kafka client options from settings, shared by every consumer, producer and admin client."""

from __future__ import annotations

import ssl
from typing import Any

from socialpulse.settings import KafkaSettings


def producer_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Options of every producer the service creates, beyond the connection: the codec."""
    return {
        "compression_type": None if kafka.compression_type == "none" else kafka.compression_type
    }


def client_options(kafka: KafkaSettings, bootstrap_servers: str) -> dict[str, Any]:
    """Connection and security options common to aiokafka's clients; never assumes a broker kind."""
    opts: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "client_id": kafka.client_id,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        opts["ssl_context"] = ssl_context(kafka)
    if kafka.sasl_mechanism is not None:
        opts["sasl_mechanism"] = kafka.sasl_mechanism
        opts["sasl_plain_username"] = kafka.sasl_username
        opts["sasl_plain_password"] = (
            kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
        )
    return opts


def required_bootstrap(kafka: KafkaSettings, command: str) -> str:
    """The configured Kafka address, for commands that must not start the embedded broker.

    Raises RuntimeError naming ``command`` and the settings that give the address.
    """
    if kafka.bootstrap_servers is None:
        raise RuntimeError(
            f"{command} needs a Kafka address: set kafka.bootstrap_servers in the config file or "
            f"SOCIALPULSE_KAFKA__BOOTSTRAP_SERVERS ({command} never starts the embedded broker)"
        )
    return kafka.bootstrap_servers


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext:
    """The TLS context of every client: verifies brokers, presents a client certificate if set.

    Raises ``RuntimeError`` naming the setting and file when a file cannot be used.
    """
    from aiokafka.helpers import create_ssl_context

    files = {"ssl_cafile": kafka.ssl_cafile, "ssl_certfile": kafka.ssl_certfile}
    files["ssl_keyfile"] = kafka.ssl_keyfile
    for name, path in files.items():
        if path is not None and not path.is_file():
            raise RuntimeError(f"kafka.{name} {path} does not exist")
    password = kafka.ssl_key_password.get_secret_value() if kafka.ssl_key_password else None
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=kafka.ssl_cafile,
            certfile=kafka.ssl_certfile,
            keyfile=kafka.ssl_keyfile,
            password=password,
        )
    except (ssl.SSLError, OSError) as e:
        raise RuntimeError(
            f"cannot use the Kafka TLS files (kafka.ssl_cafile {kafka.ssl_cafile}, "
            f"ssl_certfile {kafka.ssl_certfile}, ssl_keyfile {kafka.ssl_keyfile}): {e}"
        ) from e
    context.check_hostname = kafka.ssl_check_hostname
    return context
