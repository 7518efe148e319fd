"""Typed event records: the runtime image of the JSON Schemas in ``schemas/``.

The structs here and ``schemas/*.v1.json`` describe the same contract; a test keeps them in step
(every schema example decodes, and a table of invalid variants is rejected by both).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal, get_args

import msgspec
from msgspec import Meta

Platform = Literal[
    "x",
    "instagram",
    "facebook",
    "tiktok",
    "youtube",
    "linkedin",
    "reddit",
    "threads",
    "bluesky",
    "mastodon",
    "news",
    "blog",
    "forum",
    "other",
]
PLATFORMS: Final[tuple[str, ...]] = get_args(Platform)

MentionKind = Literal["post", "reply", "share", "comment"]

InteractionType = Literal[
    "impression",
    "like",
    "comment",
    "share",
    "save",
    "link_click",
    "profile_visit",
    "video_view",
    "follow",
    "unfollow",
    "direct_message",
    "session",
    "conversion",
    "survey_response",
    "purchase",
    "account_snapshot",
]
INTERACTION_TYPES: Final[tuple[str, ...]] = get_args(InteractionType)

# Interaction types that count as an engagement with owned content.
ENGAGEMENT_TYPES: Final[frozenset[str]] = frozenset(
    {"like", "comment", "share", "save", "link_click"}
)

Id = Annotated[str, Meta(min_length=1, max_length=256)]
Timestamp = Annotated[datetime, Meta(tz=True)]

# Ranges of the numeric inputs (the schemas' ``maximum``s; a test keeps them equal). Each is far
# beyond anything real, so no genuine event is refused, and small enough that no sum the state
# keeps can leave its format (see ``socialpulse.core.windows.bucket``).
# More people than are alive; the largest accounts have under 10^9 followers.
MAX_FOLLOWERS: Final = 10**10
# 366 days: a 24/7 live stream watched for a year; sessions and videos are far shorter.
MAX_SECONDS: Final = 366 * 86_400
# Orders are in any currency, unconverted: 10^12 leaves room for large orders in currencies
# whose unit is worth a fraction of a cent (VND, IRR, IDR).
MAX_ORDER_VALUE: Final = 10**12

Followers = Annotated[int, Meta(ge=0, le=MAX_FOLLOWERS)]
# A float bound also refuses infinity (1e400 is out of range for msgspec; inf > any bound).
Seconds = Annotated[float, Meta(ge=0, le=MAX_SECONDS)]


class Author(msgspec.Struct, frozen=True, gc=False):
    """Who wrote a mention; ``followers`` feeds potential reach."""

    id: Id
    handle: Annotated[str, Meta(min_length=1, max_length=256)]
    followers: Followers
    verified: bool = False


class Mention(msgspec.Struct, frozen=True, gc=False):
    """A public post, reply, share or comment that may speak of a tracked brand."""

    event_id: Id
    platform: Platform
    created_at: Timestamp
    author: Author
    text: str
    kind: MentionKind
    tagged: bool = False
    language: Annotated[str, Meta(min_length=2, max_length=35)] | None = None
    url: Annotated[str, Meta(min_length=1, max_length=2048)] | None = None
    has_media: bool = False


class InteractionValue(msgspec.Struct, frozen=True, gc=False):
    """Type-specific measurements of an interaction; which fields are required depends on type."""

    watch_seconds: Seconds | None = None
    video_seconds: Annotated[float, Meta(gt=0, le=MAX_SECONDS)] | None = None
    session_seconds: Seconds | None = None
    bounced: bool | None = None
    referred_from_social: bool | None = None
    order_value: Annotated[float, Meta(ge=0, le=MAX_ORDER_VALUE)] | None = None
    # The lengths reject "USD\n": Python's ``$`` matches before a final newline; ECMA-262 not.
    currency: Annotated[str, Meta(min_length=3, max_length=3, pattern="^[A-Z]{3}$")] | None = None
    customer_id: Id | None = None
    rating: Annotated[int, Meta(ge=1, le=5)] | None = None
    followers: Followers | None = None
    replies_to: Id | None = None


# Fields of ``value`` that must be present for each interaction type (mirrors the schema's if/then).
REQUIRED_VALUE_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "video_view": ("watch_seconds",),
    "session": ("session_seconds", "bounced"),
    "purchase": ("order_value",),
    "survey_response": ("rating",),
    "account_snapshot": ("followers",),
}


class Interaction(msgspec.Struct, frozen=True, gc=False):
    """Something a user did with a brand's owned content or account (a like, a purchase...)."""

    event_id: Id
    platform: Platform
    created_at: Timestamp
    type: InteractionType
    brand: Id
    user_id: Id
    post_id: Id | None = None
    value: InteractionValue = InteractionValue()


Event = Mention | Interaction

# The two input streams, each read from its own topic.
Stream = Literal["mentions", "interactions"]
STREAMS: Final[tuple[str, ...]] = get_args(Stream)
