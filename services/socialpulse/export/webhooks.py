"""Webhook delivery of alert events: signed POSTs with retries and exponential backoff.

Each request carries the event's JSON as its body, ``Idempotency-Key: <alert_id>:<status>`` and,
with a secret configured, ``X-Socialpulse-Signature: sha256=<hex>``: the HMAC-SHA256 of the
body's exact bytes under ``alerts.webhook_secret``. A 2xx answer delivers; a 4xx other than
408 and 429 is the receiver refusing the event and is not retried; anything else (5xx, 408, 429,
a timeout, a refused connection) is retried after ``webhook_backoff_seconds``, doubling up to
``webhook_max_backoff_seconds``, for ``webhook_max_attempts`` attempts in all.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import aiohttp

from socialpulse.settings import AlertSettings

log = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "X-Socialpulse-Signature"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
_RETRIED_4XX: Final = frozenset({408, 429})


def signature(secret: bytes, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str) -> bool:
    """Whether ``header`` signs ``body`` (constant time): what a receiver does."""
    return hmac.compare_digest(signature(secret, body), header)


@dataclass(slots=True)
class WebhookStats:
    """Webhook outcomes, per request and per event and URL; exported as counters."""

    requests: int = 0
    delivered: int = 0
    retries: int = 0
    failed: int = 0  # events given up on for one URL after every attempt, or refused


class WebhookSender:
    """POSTs alert events to every configured URL; one shared HTTP session."""

    def __init__(
        self,
        settings: AlertSettings,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._s = settings
        self._secret = (
            settings.webhook_secret.get_secret_value().encode()
            if settings.webhook_secret is not None
            else None
        )
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None
        self.stats = WebhookStats()

    async def start(self) -> None:
        """Open the HTTP session."""
        timeout = aiohttp.ClientTimeout(total=self._s.webhook_timeout_seconds)
        self._session = aiohttp.ClientSession(timeout=timeout)

    async def stop(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def headers(self, body: bytes, key: str) -> dict[str, str]:
        """The request headers of one event's body."""
        h = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: key}
        if self._secret is not None:
            h[SIGNATURE_HEADER] = signature(self._secret, body)
        return h

    async def send(self, body: bytes, key: str) -> bool:
        """Deliver one event to every URL; True when every URL accepted it."""
        results = await asyncio.gather(
            *(self._post(url, body, key) for url in self._s.webhook_urls)
        )
        return all(results)

    async def _post(self, url: str, body: bytes, key: str) -> bool:
        session = self._session
        if session is None:
            raise RuntimeError("WebhookSender.start() was not called")
        headers = self.headers(body, key)
        delay = self._s.webhook_backoff_seconds
        for attempt in range(1, self._s.webhook_max_attempts + 1):
            if attempt > 1:
                self.stats.retries += 1
                await self._sleep(delay)
                delay = min(delay * 2, self._s.webhook_max_backoff_seconds)
            self.stats.requests += 1
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as e:
                log.warning("webhook %s, alert %s, attempt %d: %r", _host(url), key, attempt, e)
                continue
            if 200 <= status < 300:
                self.stats.delivered += 1
                return True
            if 400 <= status < 500 and status not in _RETRIED_4XX:
                log.error("webhook %s refused alert %s: HTTP %d", _host(url), key, status)
                break
            log.warning(
                "webhook %s, alert %s, attempt %d: HTTP %d", _host(url), key, attempt, status
            )
        self.stats.failed += 1
        return False


def _host(url: str) -> str:
    """The URL's scheme and host only: a path or query may hold a token."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].rsplit('@', 1)[-1]}"
