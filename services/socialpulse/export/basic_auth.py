"""HTTP basic auth against the bcrypt hashes of a web config file, as exporter-toolkit does it.

bcrypt is slow on purpose (0.1 to 0.2 s at cost 10), so a check runs in a thread, never on the
event loop that also heartbeats Kafka, and a successful one is remembered under a SHA-256 of
the credentials (never the password itself) so a scrape every second costs one check in all.
Failures are not remembered: every wrong guess pays the full bcrypt cost.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
from collections import OrderedDict
from collections.abc import Collection, Mapping

import bcrypt
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

# Distinct credentials remembered at once; past this the oldest is checked again next time.
CACHE_SIZE = 128
# Checked for an unknown user, so that a wrong name takes as long as a wrong password.
_DUMMY_HASH = bcrypt.hashpw(b"socialpulse-unknown-user", bcrypt.gensalt(rounds=10))


class BasicAuth:
    """Checks ``Authorization: Basic`` headers against ``users`` (name to bcrypt hash)."""

    def __init__(self, users: Mapping[str, str], cache_size: int = CACHE_SIZE) -> None:
        self._users = {name: hashed.encode() for name, hashed in users.items()}
        self._ok: OrderedDict[bytes, None] = OrderedDict()
        self._cache_size = cache_size
        self.bcrypt_checks = 0

    async def verify(self, header: str | None) -> bool:
        """Whether ``header`` (an Authorization header value) names a user and their password."""
        if header is None:
            return False
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            credentials = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        key = hashlib.sha256(credentials).digest()
        if key in self._ok:
            self._ok.move_to_end(key)
            return True
        user, sep, password = credentials.partition(b":")
        if not sep:
            return False
        hashed = self._users.get(user.decode("utf-8", "replace"))
        self.bcrypt_checks += 1
        ok = await asyncio.to_thread(bcrypt.checkpw, password, hashed or _DUMMY_HASH)
        if not ok or hashed is None:
            return False
        self._ok[key] = None
        if len(self._ok) > self._cache_size:
            self._ok.popitem(last=False)
        return True

    def middleware(self, open_paths: Collection[str] = ()) -> Middleware:
        """An aiohttp middleware answering 401 unless the request carries good credentials."""

        @web.middleware
        async def basic_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path in open_paths or await self.verify(
                request.headers.get("Authorization")
            ):
                return await handler(request)
            return web.Response(
                status=401,
                text=json.dumps({"error": "authentication required"}),
                content_type="application/json",
                headers={"WWW-Authenticate": 'Basic realm="socialpulse", charset="UTF-8"'},
            )

        return basic_auth
