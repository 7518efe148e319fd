"""Webhook delivery against a real local aiohttp server: signature, idempotency key, retries."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from socialpulse.core.alerts.event import decode_alert, encode_alert
from socialpulse.export.webhooks import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    WebhookSender,
    signature,
    verify,
)
from socialpulse.settings import AlertSettings
from webhook_receiver import receiver

EXAMPLE = Path(__file__).resolve().parents[3] / "schemas" / "examples" / "alert.firing.json"
EVENT = decode_alert(EXAMPLE.read_bytes())
BODY = encode_alert(EVENT)
SECRET = "s3cret-shared-with-the-receiver"  # noqa: S105 - a test key


class Sleeps:
    """Records the backoff waits instead of sleeping them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _settings(url: str, **kw: object) -> AlertSettings:
    return AlertSettings(webhook_urls=(url,), webhook_secret=SECRET, **kw)


async def test_the_body_is_the_event_signed_with_the_shared_secret() -> None:
    async with receiver() as r:
        sender = WebhookSender(_settings(r.url))
        await sender.start()
        try:
            assert await sender.send(BODY, EVENT.delivery_key)
        finally:
            await sender.stop()
    (got,) = r.requests
    assert decode_alert(got.body) == EVENT
    assert got.headers[IDEMPOTENCY_HEADER] == f"{EVENT.alert_id}:firing"
    assert got.headers["Content-Type"] == "application/json"
    # What a receiver does, with nothing but the standard library (the README's snippet).
    expected = hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers[SIGNATURE_HEADER], f"sha256={expected}")
    assert verify(SECRET.encode(), got.body, got.headers[SIGNATURE_HEADER])
    assert not verify(b"another secret", got.body, got.headers[SIGNATURE_HEADER])
    assert not verify(SECRET.encode(), got.body + b" ", got.headers[SIGNATURE_HEADER])


async def test_a_500_is_retried_with_exponential_backoff_until_it_succeeds() -> None:
    sleeps = Sleeps()
    async with receiver([500, 503, 500]) as r:
        sender = WebhookSender(
            _settings(r.url, webhook_backoff_seconds=0.5, webhook_max_backoff_seconds=1.5), sleeps
        )
        await sender.start()
        try:
            assert await sender.send(BODY, EVENT.delivery_key)
        finally:
            await sender.stop()
    assert len(r.requests) == 4
    assert sleeps.waits == [0.5, 1.0, 1.5]
    # Every attempt is the same request: same bytes, same signature, same idempotency key.
    assert {x.body for x in r.requests} == {BODY}
    assert {x.headers[SIGNATURE_HEADER] for x in r.requests} == {signature(SECRET.encode(), BODY)}
    assert {x.headers[IDEMPOTENCY_HEADER] for x in r.requests} == {EVENT.delivery_key}
    assert (sender.stats.requests, sender.stats.retries, sender.stats.delivered) == (4, 3, 1)
    assert sender.stats.failed == 0


async def test_giving_up_after_the_last_attempt_and_on_a_refusal() -> None:
    async with receiver([500] * 10) as r:
        sender = WebhookSender(_settings(r.url, webhook_max_attempts=3), Sleeps())
        await sender.start()
        try:
            assert not await sender.send(BODY, EVENT.delivery_key)
            assert len(r.requests) == 3 and sender.stats.failed == 1
            r.script[:] = [400]
            assert not await sender.send(BODY, EVENT.delivery_key)  # a 400 is not retried
            assert len(r.requests) == 4 and sender.stats.failed == 2
            r.script[:] = [429]
            assert await sender.send(BODY, EVENT.delivery_key)  # a 429 is
            assert len(r.requests) == 6
        finally:
            await sender.stop()


async def test_an_unreachable_receiver_is_retried_then_given_up() -> None:
    async with receiver() as r:
        url = r.url
    sleeps = Sleeps()
    sender = WebhookSender(_settings(url, webhook_max_attempts=2), sleeps)
    await sender.start()
    try:
        assert not await sender.send(BODY, EVENT.delivery_key)
    finally:
        await sender.stop()
    assert sender.stats.requests == 2 and sleeps.waits == [0.5]


async def test_without_a_secret_requests_are_unsigned() -> None:
    async with receiver() as r:
        sender = WebhookSender(AlertSettings(webhook_urls=(r.url,)))
        await sender.start()
        try:
            assert await sender.send(BODY, EVENT.delivery_key)
        finally:
            await sender.stop()
    assert SIGNATURE_HEADER not in r.requests[0].headers
    assert json.loads(r.requests[0].body)["alert_id"] == EVENT.alert_id
