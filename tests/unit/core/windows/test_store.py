"""Rolling windows: bucket edges, nesting, distinct authors, share of voice, partitions, expiry."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime

import pytest

from socialpulse.core.events import Author, Interaction, Mention
from socialpulse.core.sentiment import Sentiment
from socialpulse.core.windows.bucket import Bucket, new_reach_sketch, reach_union
from socialpulse.core.windows.store import WindowStore
from socialpulse.core.windows.timeline import bucket_of, first_bucket
from socialpulse.settings import BrandSettings

NOW = 1_800_000_000.0  # a whole minute: 2027-01-15T08:00:00Z
WINDOWS = {"5m": 300, "1h": 3600, "24h": 86400}
BRANDS = [
    BrandSettings(id="a", name="A", terms=("a",), competitors=("b", "c")),
    BrandSettings(id="b", name="B", terms=("b",), competitors=("a",)),
    BrandSettings(id="c", name="C", terms=("c",)),
]
POS, NEU, NEG = Sentiment(0.6, 0.5, 0.5, 0.0), Sentiment(0.0, 0, 1, 0), Sentiment(-0.4, 0, 0.6, 0.4)
SRC = ("socialpulse.mentions", 0)
_OFFSETS = itertools.count()


def off() -> int:
    """A fresh source offset, so no event is taken for a replay."""
    return next(_OFFSETS)


def mention(ts: float, author: str = "u1", followers: int = 10, platform: str = "x") -> Mention:
    return Mention(
        event_id=f"m{ts}{author}",
        platform=platform,  # type: ignore[arg-type]
        created_at=datetime.fromtimestamp(ts, tz=UTC),
        author=Author(id=author, handle=author, followers=followers),
        text="t",
        kind="post",
    )


def interaction(ts: float, kind: str, brand: str = "a") -> Interaction:
    return Interaction(
        event_id=f"i{ts}{kind}",
        platform="x",
        created_at=datetime.fromtimestamp(ts, tz=UTC),
        type=kind,  # type: ignore[arg-type]
        brand=brand,
        user_id="v",
    )


@pytest.fixture
def store() -> WindowStore:
    return WindowStore(BRANDS, WINDOWS)


def test_bucket_math() -> None:
    assert bucket_of(NOW) == bucket_of(NOW + 59.999)
    assert bucket_of(NOW - 0.001) == bucket_of(NOW) - 1
    assert first_bucket(NOW, 300) == bucket_of(NOW) - 4
    assert first_bucket(NOW + 30, 300) == bucket_of(NOW) - 4


def test_empty_store_exports_zeros_and_no_ratios(store: WindowStore) -> None:
    k = store.snapshot(NOW)["a"]["5m"]
    assert (k.mentions, k.potential_reach, k.impressions, k.engagements) == (0, 0, 0, 0)
    assert k.compound_mean is None
    assert k.share_of_voice is None


def test_window_edges_are_whole_minutes(store: WindowStore) -> None:
    oldest_in_5m = (bucket_of(NOW) - 4) * 60
    store.add_mention(SRC, "a", mention(oldest_in_5m), POS, False, off())  # first second of 5m
    store.add_mention(SRC, "a", mention(oldest_in_5m - 0.001), POS, False, off())  # just before it
    store.add_mention(SRC, "a", mention(NOW - 86400 + 60), NEG, False, off())  # oldest 24h bucket
    s = store.snapshot(NOW + 59)  # same bucket as NOW
    assert s["a"]["5m"].mentions == 1
    assert s["a"]["1h"].mentions == 2
    assert s["a"]["24h"].mentions == 3
    # One minute later the 5m window has moved past its oldest bucket.
    assert store.snapshot(NOW + 60)["a"]["5m"].mentions == 0


def test_sentiment_counts_and_mean(store: WindowStore) -> None:
    for s in (POS, POS, NEU, NEG):
        store.add_mention(SRC, "a", mention(NOW - 10), s, False, off())
    k = store.snapshot(NOW)["a"]["5m"]
    assert (k.positive, k.neutral, k.negative, k.mentions) == (2, 1, 1, 4)
    assert k.compound_mean == pytest.approx((0.6 + 0.6 + 0.0 - 0.4) / 4)


def test_potential_reach_counts_each_author_once_with_max_followers(store: WindowStore) -> None:
    store.add_mention(SRC, "a", mention(NOW - 10, "u1", 100), NEU, False, off())
    store.add_mention(SRC, "a", mention(NOW - 70, "u1", 150), NEU, False, off())  # other bucket
    store.add_mention(
        ("t", 1), "a", mention(NOW - 10, "u1", 120), NEU, False, off()
    )  # other partition
    store.add_mention(SRC, "a", mention(NOW - 10, "u2", 7), NEU, False, off())
    k = store.snapshot(NOW)["a"]["5m"]
    assert k.potential_reach == 157
    assert k.unique_authors == 2


def test_share_of_voice_within_competitive_set(store: WindowStore) -> None:
    for brand, n in (("a", 3), ("b", 1), ("c", 4)):
        for i in range(n):
            store.add_mention(SRC, brand, mention(NOW - 5, f"u{i}"), NEU, False, off())
    s = store.snapshot(NOW)
    assert s["a"]["5m"].share_of_voice == pytest.approx(3 / 8)  # a, b, c
    assert s["b"]["5m"].share_of_voice == pytest.approx(1 / 4)  # b, a
    assert s["c"]["5m"].share_of_voice == pytest.approx(1.0)  # c alone


def test_interactions_impressions_and_engagements(store: WindowStore) -> None:
    for kind in ("impression", "impression", "like", "comment", "share", "save", "link_click"):
        assert store.add_interaction(SRC, interaction(NOW - 1, kind), off())
    for kind in ("profile_visit", "follow", "video_view", "purchase"):
        assert store.add_interaction(SRC, interaction(NOW - 1, kind), off())
    assert not store.add_interaction(SRC, interaction(NOW - 1, "like", brand="nobody"), off())
    k = store.snapshot(NOW)["a"]["5m"]
    assert (k.impressions, k.engagements) == (2, 5)


def test_events_ahead_of_now_count_in_every_window(store: WindowStore) -> None:
    store.add_mention(SRC, "a", mention(NOW + 200), POS, False, off())
    s = store.snapshot(NOW)
    assert [s["a"][w].mentions for w in WINDOWS] == [1, 1, 1]


def test_drop_forgets_only_the_named_partitions(store: WindowStore) -> None:
    store.add_mention(("m", 0), "a", mention(NOW - 1, "u1"), POS, False, off())
    store.add_mention(("m", 1), "a", mention(NOW - 1, "u2"), POS, False, off())
    store.drop([("m", 0)])
    assert store.sources() == {("m", 1)}
    assert store.snapshot(NOW)["a"]["24h"].mentions == 1


def test_expire_removes_buckets_outside_longest_window(store: WindowStore) -> None:
    store.add_mention(SRC, "a", mention(NOW - 86400 + 60), POS, False, off())
    store.add_mention(SRC, "a", mention(NOW - 10), POS, False, off())
    assert store.bucket_count() == 2
    assert store.expire(NOW) == 0
    assert store.expire(NOW + 60) == 1
    assert store.bucket_count() == 1
    assert store.snapshot(NOW + 60)["a"]["24h"].mentions == 1


def test_restored_reach_sketches_union_exactly_like_the_originals() -> None:
    """A restart must not move exported reach by a single user."""
    rng = random.Random(3)
    for _ in range(5):
        buckets = []
        for _ in range(60):
            sketch = new_reach_sketch()
            for _ in range(rng.randrange(1, 400)):
                sketch.update(f"u{rng.randrange(5000)}")
            buckets.append(Bucket(reach=sketch))
        restored = [Bucket.from_bytes(b.to_bytes()) for b in buckets]
        twice = [Bucket.from_bytes(b.to_bytes()) for b in restored]
        want = reach_union(b.reach for b in buckets)
        assert reach_union(b.reach for b in restored) == want
        assert reach_union(b.reach for b in twice) == want
