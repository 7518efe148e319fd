"""Events for the tests: mentions, interactions and their JSON bytes from the fields that matter.

Every builder fills the rest with valid values and gives each event an id of its own, so a test
states only what it is about; ``off`` hands out source offsets no other record of the session
has, so the window store never takes an event for a replay unless a test means it to.

Registered once as a pytest plugin (``pytest_plugins`` in tests/conftest.py), so its fixtures
serve every folder; tests import the builders by name (``from builders import mention``).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from socialpulse.core.events import Author, Interaction, InteractionValue, Mention
from socialpulse.core.sentiment import Sentiment
from socialpulse.core.windows.store import WindowStore
from socialpulse.settings import BrandSettings

# Scores handed to the window store as if the scorer had given them: one of each class.
POS = Sentiment(0.6, 0.5, 0.5, 0.0)
NEU = Sentiment(0.0, 0, 1, 0)
NEG = Sentiment(-0.4, 0, 0.6, 0.4)

_IDS = itertools.count()
_OFFSETS = itertools.count()


def off() -> int:
    """A fresh source offset, so no event is taken for a replay."""
    return next(_OFFSETS)


def at(ts: float) -> datetime:
    """``ts`` (epoch seconds) as an aware UTC datetime, as events carry it."""
    return datetime.fromtimestamp(ts, tz=UTC)


def iso(ts: float) -> str:
    """``ts`` as the ISO 8601 text of a record's ``created_at``."""
    return at(ts).isoformat()


def mention(
    ts: float,
    author: str = "u1",
    followers: int = 10,
    *,
    text: str = "t",
    handle: str | None = None,
    platform: str = "x",
    kind: str = "post",
    media: bool = False,
    verified: bool = False,
    event_id: str | None = None,
    language: str | None = "en",
) -> Mention:
    """A mention created at ``ts`` by ``author`` (handle ``@author`` unless given).

    English by its ``language`` field unless told otherwise (None leaves the language to be
    detected), so short test texts are scored as the English they are.
    """
    return Mention(
        event_id=event_id or f"m{next(_IDS)}",
        platform=platform,  # type: ignore[arg-type]
        created_at=at(ts),
        author=Author(
            id=author, handle=handle or f"@{author}", followers=followers, verified=verified
        ),
        text=text,
        kind=kind,  # type: ignore[arg-type]
        language=language,
        has_media=media,
    )


def interaction(
    ts: float,
    kind: str,
    brand: str = "a",
    user: str = "v",
    post: str | None = None,
    event_id: str | None = None,
    **value: Any,
) -> Interaction:
    """An interaction of type ``kind`` with ``brand`` at ``ts``; ``value`` is its measurements."""
    return Interaction(
        event_id=event_id or f"i{next(_IDS)}",
        platform="x",
        created_at=at(ts),
        type=kind,  # type: ignore[arg-type]
        brand=brand,
        user_id=user,
        post_id=post,
        value=InteractionValue(**value),
    )


def encoded(event: Mention | Interaction) -> bytes:
    """The JSON bytes a producer would send for ``event``."""
    return msgspec.json.encode(event)


# Brands as a config file lists them: a matches "alpha" and owns @alpha, b matches "beta".
ALPHA_BETA: list[dict[str, Any]] = [
    {"id": "a", "name": "A", "terms": ["alpha"], "handles": ["@alpha"], "competitors": ["b"]},
    {"id": "b", "name": "B", "terms": ["beta"]},
]

# Two rivals: brand a has its own account (@alpha) and a configured follower count, b its own
# customer lifetime; with a 7-day horizon, as the service runs by default.
RIVALS = (
    BrandSettings(
        id="a",
        name="A",
        terms=("a",),
        handles=("@alpha",),
        competitors=("b",),
        followers=1000,
    ),
    BrandSettings(id="b", name="B", terms=("b",), competitors=("a",), customer_lifetime_windows=2),
)
WEEK = {"5m": 300, "1h": 3600, "7d": 7 * 86400}
RIVALS_LIFETIME_WINDOWS = 12


@pytest.fixture
def rivals_store() -> WindowStore:
    """An empty store of ``RIVALS`` over ``WEEK``, customer lifetime 12 windows."""
    return WindowStore(RIVALS, WEEK, lifetime_windows=RIVALS_LIFETIME_WINDOWS)
