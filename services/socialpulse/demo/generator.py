"""Demo traffic: lifelike mentions and interactions about the demo brands, with no Kafka in sight.

All randomness and time are injected (a ``random.Random`` and the event time), so one seed
reproduces the stream exactly and the generator is testable without a broker or a wall clock.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any, Final

import msgspec

from socialpulse.core.clock import rfc3339 as _rfc3339
from socialpulse.core.events import Stream
from socialpulse.demo import corpus
from socialpulse.settings import BrandSettings

# Share of voice by brand position (the biggest brand first); more brands fall back to 1/rank.
_SHARE: Final = (0.45, 0.35, 0.20)
# Sentiment lean by brand position, as weights of (pos, neg, neu, mixed): the leader is liked but
# argued about, the runner-up has service trouble, the smallest is the darling.
_SENTIMENTS: Final = ("pos", "neg", "neu", "mixed")
_LEANS: Final = ((0.46, 0.22, 0.20, 0.12), (0.22, 0.48, 0.18, 0.12), (0.64, 0.08, 0.16, 0.12))
# Survey ratings 1..5 by the same position, skewed to 4-5 as real CSAT surveys are.
_RATINGS: Final = ((4, 5, 11, 35, 45), (9, 11, 18, 32, 30), (2, 3, 8, 32, 55))

_MAX_JITTER_SECONDS: Final = 90.0
_AUTHORS: Final = 3000
# Posting ranks below this share the top rate: the busiest authors post a few times in ten
# minutes at the demo's default rate, as people do, not at the machine rates the bot
# heuristics flag. Interactions keep the steeper Zipf-like activity.
_BUSIEST_RANK: Final = 300
_OWNED_PER_KIND: Final = 3  # videos and stills kept per brand; older posts stop getting traffic
_MENTION_SHARE: Final = 0.25  # of the driver's records; the rest are interactions
_UGC_ENGAGEMENT_SHARE: Final = 0.1  # of engagements: on fans' posts (UGC), not the brand's own

_MENTION_PLATFORMS: Final = (
    ("x", 24),
    ("instagram", 18),
    ("tiktok", 14),
    ("facebook", 10),
    ("reddit", 10),
    ("youtube", 7),
    ("threads", 7),
    ("linkedin", 5),
    ("bluesky", 5),
)
_OWNED_VIDEO_PLATFORMS: Final = ("instagram", "tiktok", "youtube")
_OWNED_STILL_PLATFORMS: Final = ("instagram", "x", "facebook", "linkedin", "threads")
_ACCOUNT_PLATFORMS: Final = _OWNED_VIDEO_PLATFORMS + _OWNED_STILL_PLATFORMS[1:]
_URLS: Final = {
    "x": "https://x.com/{h}/status/{i}",
    "instagram": "https://www.instagram.com/p/{i}/",
    "tiktok": "https://www.tiktok.com/@{h}/video/{i}",
    "facebook": "https://www.facebook.com/{h}/posts/{i}",
    "reddit": "https://www.reddit.com/r/coffee/comments/{i}/",
    "youtube": "https://www.youtube.com/watch?v={i}",
    "threads": "https://www.threads.net/@{h}/post/{i}",
    "linkedin": "https://www.linkedin.com/feed/update/{i}/",
    "bluesky": "https://bsky.app/profile/{h}/post/{i}",
}
_POST_MEDIA: Final = {"tiktok": 1.0, "youtube": 1.0, "instagram": 0.7}  # chance a post has media
_KINDS: Final = (("post", 50), ("reply", 22), ("comment", 18), ("share", 10))
_LANGUAGES: Final = (("en", 86), ("es", 5), ("pt", 3), ("fr", 3), ("de", 3))
_CURRENCIES: Final = {
    "en": (("USD", 80), ("GBP", 12), ("CAD", 8)),
    "es": (("EUR", 50), ("MXN", 50)),
    "pt": (("BRL", 100),),
    "fr": (("EUR", 100),),
    "de": (("EUR", 100),),
}

# Relative rates per interaction type (impressions dwarf everything; follows dwarf unfollows).
_INTERACTION_RATES: Final = (
    ("impression", 600),
    ("like", 120),
    ("video_view", 90),
    ("session", 40),
    ("link_click", 35),
    ("profile_visit", 25),
    ("comment", 14),
    ("follow", 12),
    ("share", 8),
    ("save", 6),
    ("direct_message", 8),
    ("purchase", 6),
    ("conversion", 4),
    ("survey_response", 4),
    ("unfollow", 3),
    ("account_snapshot", 2),
)
_POST_TYPES: Final = frozenset({"impression", "like", "comment", "share", "save", "link_click"})


def key(record: Mapping[str, Any]) -> bytes:
    """Kafka key that keeps one person's events in order: mention author, interaction user."""
    author = record.get("author")
    if isinstance(author, Mapping):
        return str(author["id"]).encode()
    return str(record["user_id"]).encode()


def rfc3339(t: datetime) -> str:
    """An aware time as RFC 3339 in UTC with millisecond precision, as feeds send it."""
    return _rfc3339(t, "milliseconds")


def _weighted(rng: random.Random, pairs: Sequence[tuple[str, int]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _cum(pairs: Sequence[tuple[str, int]]) -> tuple[tuple[str, ...], list[int]]:
    return tuple(p[0] for p in pairs), list(accumulate(p[1] for p in pairs))


@dataclass(slots=True)
class _Person:
    id: str
    handle: str
    followers: int
    verified: bool
    language: str
    currency: str


@dataclass(slots=True)
class _Post:
    post_id: str
    platform: str
    video_seconds: float | None


@dataclass(slots=True)
class _Brand:
    settings: BrandSettings
    share: float
    lean: tuple[float, ...]
    ratings: tuple[int, ...]
    followers: int
    competitors: tuple[int, ...]
    videos: deque[_Post] = field(default_factory=lambda: deque(maxlen=_OWNED_PER_KIND))
    stills: deque[_Post] = field(default_factory=lambda: deque(maxlen=_OWNED_PER_KIND))
    # Inbound DMs awaiting the brand's reply: (event_id, sender, created_at).
    open_dms: deque[tuple[str, _Person, datetime]] = field(default_factory=lambda: deque(maxlen=64))
    # Recent user-generated content about the brand (public posts with media) people engage with.
    ugc: deque[_Post] = field(default_factory=lambda: deque(maxlen=_OWNED_PER_KIND))

    @property
    def handle(self) -> str | None:
        return self.settings.handles[0] if self.settings.handles else None

    @property
    def user_id(self) -> str:
        """The brand account acting in interactions (its replies to DMs): the bare handle."""
        return self.handle.removeprefix("@") if self.handle else self.settings.id

    @property
    def account(self) -> dict[str, Any]:
        """The brand's own account as a mention author (its handle is the brand handle)."""
        handle = self.handle or f"@{self.settings.id}"
        return {
            "id": f"brand-{self.settings.id}",
            "handle": handle,
            "followers": self.followers,
            "verified": True,
        }


class DemoTraffic:
    """Pure generator of demo events: no Kafka, no clock; everything from ``rng`` and ``now``.

    State (authors, owned posts, open DMs, follower counts) lives here so the stream hangs together:
    authors recur, interactions point at posts the brands published, replies answer earlier DMs.
    """

    def __init__(self, brands: Sequence[BrandSettings], rng: random.Random) -> None:
        if not brands:
            raise ValueError("demo traffic needs at least one brand")
        self._rng = rng
        ids = {b.id: i for i, b in enumerate(brands)}
        self._brands: list[_Brand] = []
        for i, b in enumerate(brands):
            rivals = tuple(ids[c] for c in b.competitors if c in ids) or tuple(
                j for j in range(len(brands)) if j != i
            )
            self._brands.append(
                _Brand(
                    settings=b,
                    share=_SHARE[i] if len(brands) <= len(_SHARE) else 1.0 / (i + 1),
                    lean=_LEANS[i % len(_LEANS)],
                    ratings=_RATINGS[i % len(_RATINGS)],
                    followers=b.followers if b.followers is not None else 10_000,
                    competitors=rivals,
                )
            )
        self._brand_cum = list(accumulate(b.share for b in self._brands))
        self._people = [self._person(n) for n in range(_AUTHORS)]
        self._ensure_unique_handles()
        # Zipf-like activity: a few people post and click a lot, most rarely.
        self._people_cum = list(accumulate(1.0 / (n + 1) ** 0.6 for n in range(_AUTHORS)))
        self._authors_cum = list(
            accumulate(1.0 / (max(n, _BUSIEST_RANK) + 1) ** 0.6 for n in range(_AUTHORS))
        )
        self._platforms, self._platform_cum = _cum(_MENTION_PLATFORMS)
        self._kinds, self._kind_cum = _cum(_KINDS)
        self._types, self._type_cum = _cum(_INTERACTION_RATES)
        self._malformed_count = 0
        # Each brand starts with published posts; they go out as the first mentions.
        self._unpublished: deque[tuple[_Brand, _Post, str]] = deque()
        for brand in self._brands:
            for video in (True, False, True, False):
                self._unpublished.append(self._new_post(brand, video=video))

    # -- public API -------------------------------------------------------------------------

    def mention(self, now: datetime) -> dict[str, Any]:
        """One mention: a brand's own post, a customer talking about brands, or unrelated noise."""
        _check_aware(now)
        if self._unpublished:
            return self._owned_post_mention(*self._unpublished.popleft(), now)
        if self._rng.random() < 0.004:
            brand = self._pick_brand()
            return self._owned_post_mention(*self._new_post(brand, video=self._coin(0.5)), now)
        record, about = self._public_mention_about(now)
        if about is not None and record["has_media"]:
            about.ugc.append(_Post(record["event_id"], record["platform"], None))
        return record

    def interaction(self, now: datetime) -> dict[str, Any]:
        """One interaction with a brand's owned content or account, at realistic relative rates."""
        _check_aware(now)
        typ = self._rng.choices(self._types, cum_weights=self._type_cum)[0]
        return self._interaction_of(typ, now)

    def encoded_next(self, now: datetime) -> tuple[Stream, bytes, bytes]:
        """The driver's mix, about 25% mentions and 75% interactions, as (stream, key, value)."""
        if self._coin(_MENTION_SHARE):
            return ("mentions", *self.encoded_mention(now))
        return ("interactions", *self.encoded_interaction(now))

    def encoded_mention(self, now: datetime) -> tuple[bytes, bytes]:
        """A mention as a Kafka (key, value) pair, keyed by author."""
        record = self.mention(now)
        return key(record), msgspec.json.encode(record)

    def encoded_interaction(self, now: datetime) -> tuple[bytes, bytes]:
        """An interaction as a Kafka (key, value) pair, keyed by user."""
        record = self.interaction(now)
        return key(record), msgspec.json.encode(record)

    def malformed(self, now: datetime) -> bytes:
        """The next kind of bad input, in turn; see :meth:`encoded_malformed`."""
        return self.encoded_malformed(now)[1]

    def encoded_malformed(self, now: datetime) -> tuple[Stream, bytes]:
        """A bad record and the stream it pretends to belong to, cycling through every kind.

        Kinds: invalid UTF-8, truncated JSON, negative followers, missing text, rating out of
        range, a video_view without its required watch_seconds, created_at 3 days ago and 1 hour
        ahead. Built without touching generator state, so the valid stream stays consistent.
        """
        _check_aware(now)
        n = self._malformed_count
        self._malformed_count += 1
        kind = n % 8
        alt: Stream = "mentions" if (n // 8) % 2 == 0 else "interactions"
        if kind == 0:
            m = self._public_mention(now)
            m["text"] += " MALFORMED"
            # Latin-1 "café" in a UTF-8 document: the classic mis-encoded upstream.
            return "mentions", msgspec.json.encode(m).replace(b"MALFORMED", b"caf\xe9 \xff\xfe")
        if kind == 1:
            raw = msgspec.json.encode(self._content_interaction(now))
            return "interactions", raw[: self._rng.randint(1, len(raw) - 1)]
        if kind == 2:
            m = self._public_mention(now)
            m["author"]["followers"] = -self._rng.randint(1, 500)
            return "mentions", msgspec.json.encode(m)
        if kind == 3:
            m = self._public_mention(now)
            del m["text"]
            return "mentions", msgspec.json.encode(m)
        if kind == 4:
            i = self._content_interaction(now)
            i.update(type="survey_response", value={"rating": self._rng.choice((0, 6, 10))})
            i.pop("post_id", None)
            return "interactions", msgspec.json.encode(i)
        if kind == 5:
            i = self._content_interaction(now)
            i.update(type="video_view", value={"video_seconds": 30.0})
            return "interactions", msgspec.json.encode(i)
        shift = timedelta(days=-3) if kind == 6 else timedelta(hours=1)
        rec = self._public_mention(now) if alt == "mentions" else self._content_interaction(now)
        rec["created_at"] = rfc3339(now + shift)
        return alt, msgspec.json.encode(rec)

    # -- mentions ---------------------------------------------------------------------------

    def _public_mention(self, now: datetime) -> dict[str, Any]:
        """A mention by a member of the public; touches no state, so malformed() may reuse it."""
        return self._public_mention_about(now)[0]

    def _public_mention_about(self, now: datetime) -> tuple[dict[str, Any], _Brand | None]:
        """A public mention and the brand it speaks of (None for noise and vetoed texts)."""
        r = self._rng
        person = self._rng.choices(self._people, cum_weights=self._authors_cum)[0]
        lang = person.language if person.language != "en" and self._coin(0.85) else "en"
        roll = r.random()
        tagged = False
        brand = self._pick_brand()
        about: _Brand | None = None
        if roll < 0.12 or (roll < 0.14 and not brand.settings.exclude):
            text, sentiment = r.choice(corpus.NOISE), "neu"
        elif roll < 0.14:
            term = r.choice(brand.settings.exclude)
            text = r.choice(corpus.EXCLUDED.get(term.lower(), corpus.EXCLUDED_ANY))
            text, sentiment, lang = text.format(b=self._ref(brand), x=term), "neu", "en"
        else:
            about = brand
            sentiment = r.choices(_SENTIMENTS, weights=brand.lean)[0]
            tagged = brand.handle is not None and self._coin(0.33)
            ref = brand.handle if tagged and brand.handle else self._ref(brand)
            if lang != "en":
                local = corpus.FOREIGN[lang]
                text = r.choice(local.get(sentiment, local["neu"])).format(b=ref)
            elif brand.competitors and self._coin(0.09):
                rival = self._brands[r.choice(brand.competitors)]
                rival_tagged = rival.handle is not None and self._coin(0.3)
                tagged = tagged or rival_tagged
                other = rival.handle if rival_tagged and rival.handle else self._ref(rival)
                pool = corpus.COMPARE.get(sentiment, corpus.COMPARE["neu"])
                text = r.choice(pool).format(b=ref, o=other)
            else:
                text = r.choice(corpus.EN[sentiment]).format(b=ref)
        text = self._decorate(self._personal(text, lang), sentiment, lang)
        platform = r.choices(self._platforms, cum_weights=self._platform_cum)[0]
        kind = r.choices(self._kinds, cum_weights=self._kind_cum)[0]
        media = _POST_MEDIA.get(platform, 0.2) if kind == "post" else 0.05
        language = lang if lang != "en" or self._coin(0.8) else None
        record = self._mention_record(
            self._event_id(),
            platform,
            self._created_at(now),
            self._author(person),
            text,
            kind,
            tagged=tagged,
            language=language,
            has_media=self._coin(media),
        )
        return record, about

    def _owned_post_mention(
        self, brand: _Brand, post: _Post, text: str, now: datetime
    ) -> dict[str, Any]:
        """A brand publishing on its own account: the post that interactions point at."""
        return self._mention_record(
            post.post_id,
            post.platform,
            self._created_at(now),
            brand.account,
            text,
            "post",
            tagged=False,
            language="en",
            has_media=post.video_seconds is not None or self._coin(0.7),
        )

    def _mention_record(
        self,
        event_id: str,
        platform: str,
        created_at: datetime,
        author: dict[str, Any],
        text: str,
        kind: str,
        *,
        tagged: bool,
        language: str | None,
        has_media: bool,
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "event_id": event_id,
            "platform": platform,
            "created_at": rfc3339(created_at),
            "author": author,
            "text": text,
            "kind": kind,
            "tagged": tagged,
            "has_media": has_media,
        }
        if language is not None:
            record["language"] = language
        if self._coin(0.9):
            handle = str(author["handle"]).lstrip("@")
            record["url"] = _URLS[platform].format(h=handle, i=event_id.split("-")[0])
        return record

    def _new_post(self, brand: _Brand, *, video: bool) -> tuple[_Brand, _Post, str]:
        """Create an owned post and put it in the brand's pool (evicting the oldest of its kind)."""
        r = self._rng
        if video:
            post = _Post(
                self._event_id(),
                r.choice(_OWNED_VIDEO_PLATFORMS),
                float(r.choice((15, 22, 30, 45, 60, 90, 180))),
            )
            brand.videos.append(post)
        else:
            post = _Post(self._event_id(), r.choice(_OWNED_STILL_PLATFORMS), None)
            brand.stills.append(post)
        tag = next((f"#{t}" for t in brand.settings.terms if " " not in t), brand.settings.name)
        text = r.choice(corpus.OWNED).format(b=tag, item=r.choice(corpus.ITEMS))
        return brand, post, text

    def _ref(self, brand: _Brand) -> str:
        """How people write a brand's name without tagging it: any term, lower-case, #hashtag."""
        r = self._rng
        terms = brand.settings.terms
        roll = r.random()
        if roll < 0.5:
            return terms[0]
        if roll < 0.65:
            return terms[0].lower()
        single = [t for t in terms if " " not in t]
        if roll < 0.85 and single:
            return "#" + r.choice(single)
        return r.choice(terms)

    def _personal(self, text: str, lang: str) -> str:
        """Make a template one person's post: an English opener and aside, a city tag.

        Most posts get some of it, so few are near-duplicates of each other; the rest
        are the reposts and copies real traffic has too.
        """
        r = self._rng
        if lang == "en":
            if self._coin(0.4):
                text = f"{r.choice(corpus.OPENERS)} {text[:1].lower()}{text[1:]}"
            aside = self._coin(0.85)
            if aside:
                aside_text = r.choice(corpus.ASIDES).format(
                    p=r.choice(corpus.PLACES),
                    n=r.choice(corpus.NAMES),
                    m=r.choice(corpus.NAMES),
                    d=r.choice(corpus.DAYS),
                    t=r.choice(corpus.TRANSPORT),
                )
                text = f"{text.rstrip('.')}, {aside_text}"
            if not aside or self._coin(0.8):
                who = r.choice(corpus.NAMES)
                text += (
                    f". {who} and I {r.choice(corpus.VERBS)} {r.choice(corpus.THINGS)}"
                    f" {r.choice(corpus.WHEN)}"
                )
        elif lang in corpus.FOREIGN_CLOSERS and self._coin(0.95):
            we, verbs, things = corpus.FOREIGN_CLOSERS[lang]
            subject = we[0].format(n=r.choice(corpus.NAMES))
            text += f". {subject} {r.choice(verbs)} {r.choice(things)}, {r.choice(corpus.NAMES)}"
        if self._coin(0.5):
            text += " " + r.choice(corpus.CITIES)
        return text

    def _decorate(self, text: str, sentiment: str, lang: str) -> str:
        """Add what makes social text social: shouting, !!!, emoji, lol, hashtags."""
        r = self._rng
        if sentiment in ("pos", "neg") and self._coin(0.08):
            text = text.upper()
        if sentiment != "neu" and self._coin(0.15):
            text = text.rstrip(".!") + "!!!"
        if self._coin(0.35) and not any(e in text for e in corpus.ALL_EMOJI):
            text += " " + r.choice(corpus.EMOJI[sentiment])
        if lang == "en" and self._coin(0.06):
            text += " lol"
        if self._coin(0.25):
            text += " " + " ".join(r.sample(corpus.HASHTAGS, k=r.randint(1, 2)))
        return text

    # -- interactions -----------------------------------------------------------------------

    def _interaction_of(self, typ: str, now: datetime) -> dict[str, Any]:
        r = self._rng
        if typ in _POST_TYPES:
            return self._content_interaction(now, typ)
        brand = self._pick_brand()
        person = self._pick_person()
        created = self._created_at(now)
        platform = r.choice(_ACCOUNT_PLATFORMS)
        post: _Post | None = None
        value: dict[str, Any] = {}
        if typ == "video_view":
            post = self._pick_post(brand, video=True)
            video = post.video_seconds or 30.0  # the video pool only holds posts with a length
            share = 1.0 if self._coin(0.15) else r.betavariate(1.1, 1.8)
            value = {"watch_seconds": min(video, round(video * share, 1)), "video_seconds": video}
        elif typ == "follow":
            brand.followers += 1
        elif typ == "unfollow":
            brand.followers = max(0, brand.followers - 1)
        elif typ == "direct_message":
            if brand.open_dms and self._coin(0.45):
                # The brand's account answers an earlier DM (user_id is the brand's handle).
                dm_id, person, asked_at = brand.open_dms.popleft()
                low = max(asked_at, now - timedelta(seconds=_MAX_JITTER_SECONDS))
                created = max(asked_at, low + (now - low) * r.random())
                reply = self._interaction_record(
                    self._event_id(), platform, created, typ, brand, person, None, {}
                )
                reply["user_id"] = brand.user_id
                reply["value"] = {"replies_to": dm_id}
                return reply
            else:
                event_id = self._event_id()
                brand.open_dms.append((event_id, person, created))
                return self._interaction_record(
                    event_id, platform, created, typ, brand, person, None, {}
                )
        elif typ == "session":
            bounced = self._coin(0.38)
            seconds = (
                r.uniform(1, 10) if bounced else min(3600, r.lognormvariate(math.log(95), 0.9))
            )
            social = self._coin(0.6)
            value = {
                "session_seconds": round(seconds, 1),
                "bounced": bounced,
                "referred_from_social": social,
            }
            if social and self._coin(0.5):
                post = self._pick_post(brand)
        elif typ == "conversion":
            if self._coin(0.4):
                post = self._pick_post(brand)
        elif typ == "survey_response":
            value = {"rating": r.choices((1, 2, 3, 4, 5), weights=brand.ratings)[0]}
        elif typ == "purchase":
            amount = r.uniform(30, 80) if self._coin(0.05) else r.lognormvariate(math.log(11), 0.55)
            value = {
                "order_value": round(amount, 2),
                "currency": person.currency,
                "customer_id": "cust-" + person.id.rsplit("-", 1)[1],
            }
        elif typ == "account_snapshot":
            brand.followers = max(0, brand.followers + r.randint(-5, 40))  # organic drift
            value = {"followers": brand.followers}
        if post is not None:
            platform = post.platform
        return self._interaction_record(
            self._event_id(), platform, created, typ, brand, person, post, value
        )

    def _content_interaction(self, now: datetime, typ: str | None = None) -> dict[str, Any]:
        """An engagement with an owned post; touches no state, so malformed() may reuse it."""
        typ = typ or self._rng.choice(("impression", "like"))
        brand = self._pick_brand()
        post = self._pick_post(brand)
        if typ != "impression" and brand.ugc and self._coin(_UGC_ENGAGEMENT_SHARE):
            post = self._rng.choice(brand.ugc)  # engagement with content fans made
        return self._interaction_record(
            self._event_id(),
            post.platform,
            self._created_at(now),
            typ,
            brand,
            self._pick_person(),
            post,
            {},
        )

    @staticmethod
    def _interaction_record(
        event_id: str,
        platform: str,
        created_at: datetime,
        typ: str,
        brand: _Brand,
        person: _Person,
        post: _Post | None,
        value: dict[str, Any],
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "event_id": event_id,
            "platform": platform,
            "created_at": rfc3339(created_at),
            "type": typ,
            "brand": brand.settings.id,
            "user_id": person.id,
        }
        if post is not None:
            record["post_id"] = post.post_id
        if value:
            record["value"] = value
        return record

    # -- shared helpers ---------------------------------------------------------------------

    def _person(self, n: int) -> _Person:
        """A member of the public with heavy-tailed reach: most < 1k followers, a few > 1M."""
        r = self._rng
        followers = min(50_000_000, max(0, int(60 * r.paretovariate(0.55)) - 60))
        if followers >= 100_000:
            verified = self._coin(0.5)
        else:
            verified = self._coin(0.05 if followers >= 10_000 else 0.002)
        lang = _weighted(r, _LANGUAGES)
        currency = _weighted(r, _CURRENCIES[lang])
        sep = r.choice(("", "_"))
        suffix = str(r.randint(1, 9999)) if self._coin(0.5) else ""
        handle = f"@{r.choice(corpus.HANDLE_A)}{sep}{r.choice(corpus.HANDLE_B)}{suffix}"
        return _Person(f"user-{n:05d}", handle, followers, verified, lang, currency)

    def _ensure_unique_handles(self) -> None:
        seen: set[str] = set()
        for p in self._people:
            if p.handle in seen:
                p.handle = f"{p.handle}_{p.id.rsplit('-', 1)[1]}"
            seen.add(p.handle)

    @staticmethod
    def _author(person: _Person) -> dict[str, Any]:
        return {
            "id": person.id,
            "handle": person.handle,
            "followers": person.followers,
            "verified": person.verified,
        }

    def _pick_person(self) -> _Person:
        return self._rng.choices(self._people, cum_weights=self._people_cum)[0]

    def _pick_brand(self) -> _Brand:
        return self._rng.choices(self._brands, cum_weights=self._brand_cum)[0]

    def _pick_post(self, brand: _Brand, *, video: bool | None = None) -> _Post:
        """A recent owned post, newer ones more likely (they are still in people's feeds)."""
        if video is None:
            posts = [*brand.videos, *brand.stills]
            weights = [*range(1, len(brand.videos) + 1), *range(1, len(brand.stills) + 1)]
        else:
            posts = list(brand.videos if video else brand.stills)
            weights = list(range(1, len(posts) + 1))
        return self._rng.choices(posts, weights=weights)[0]

    def _event_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _created_at(self, now: datetime) -> datetime:
        """Event time a little in the past (0-90 s, mostly recent), as feeds deliver it."""
        return now - timedelta(seconds=self._rng.triangular(0.0, _MAX_JITTER_SECONDS, 0.0))

    def _coin(self, p: float) -> bool:
        return self._rng.random() < p


def _check_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
