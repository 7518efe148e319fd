"""Start-up check that the brokers accept this service's TLS and SASL settings.

aiokafka's clients log a refused login and then report only "Unable to bootstrap", a retriable
error the service would retry for ever. One connection made here, as the clients make them,
tells a refusal (wrong password, unknown mechanism, untrusted certificate) from a broker that
is merely not up yet: the first stops start-up with a message naming the broker and the
mechanism, the second is left to the clients' own retries.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    IllegalSaslStateError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

# Answers no retry can change: the broker said no, or its certificate is not one we trust.
REFUSALS = (
    SaslAuthenticationFailed,
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    UnsupportedSaslMechanismError,
    IllegalSaslStateError,
    ssl.SSLError,  # certificate not trusted, or ours refused; a cut handshake is not one of these
)
CHECK_TIMEOUT_MS = 10_000


class KafkaAccessDenied(RuntimeError):
    """A broker refused the configured credentials or TLS; the message says which and how."""


def _how(opts: Mapping[str, Any]) -> str:
    protocol = opts.get("security_protocol", "PLAINTEXT")
    mechanism = opts.get("sasl_mechanism")
    if mechanism is None:
        return protocol  # type: ignore[no-any-return]
    return f"SASL {mechanism} as user {opts.get('sasl_plain_username')!r} over {protocol}"


def _refusal(error: BaseException) -> BaseException | None:
    """The refusal behind ``error``, if any.

    aiokafka wraps a TLS alert read after the handshake (the broker wanted a client
    certificate) in a "connection closed" error; the alert is its cause.
    """
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, REFUSALS) and not isinstance(seen, ssl.SSLEOFError):
            return seen
        seen = seen.__cause__
    return None


async def check_access(opts: Mapping[str, Any]) -> None:
    """Log in to the bootstrap brokers once; raise ``KafkaAccessDenied`` if one refuses.

    Returns at the first broker that accepts, and also when none answers at all: an
    unreachable cluster is the clients' retries' business, not a configuration error.
    """
    for host, port, _ in collect_hosts(opts["bootstrap_servers"]):
        try:
            conn = await create_conn(
                host,
                port,
                client_id=opts.get("client_id", "socialpulse"),
                request_timeout_ms=CHECK_TIMEOUT_MS,
                ssl_context=opts.get("ssl_context"),
                security_protocol=opts.get("security_protocol", "PLAINTEXT"),
                sasl_mechanism=opts.get("sasl_mechanism"),
                sasl_plain_username=opts.get("sasl_plain_username"),
                sasl_plain_password=opts.get("sasl_plain_password"),
            )
        except (TimeoutError, OSError, KafkaError) as e:
            refusal = _refusal(e)
            if refusal is None:  # not up yet, or unreachable: the clients retry
                continue
            if isinstance(refusal, ssl.SSLError):
                raise KafkaAccessDenied(
                    f"TLS with Kafka broker {host}:{port} failed "
                    f"({opts.get('security_protocol')}): {refusal}; check kafka.ssl_cafile, "
                    "ssl_certfile, ssl_keyfile and ssl_check_hostname"
                ) from e
            raise KafkaAccessDenied(
                f"Kafka broker {host}:{port} refused {_how(opts)}: {refusal}; "
                "check kafka.sasl_mechanism, sasl_username and sasl_password"
            ) from e
        conn.close()
        return
