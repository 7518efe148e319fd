"""Every KPI formula on hand-computed cases: empty windows, one event, edges, late and future."""

from __future__ import annotations

import itertools
import math
import random
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from socialpulse.core.events import Author, Interaction, InteractionValue, Mention
from socialpulse.core.kpis import RATIOS, influence, ratio
from socialpulse.core.sentiment import Sentiment
from socialpulse.core.windows.bucket import Bucket, new_reach_sketch, reach_union
from socialpulse.core.windows.store import WindowStore
from socialpulse.core.windows.timeline import bucket_of, first_bucket
from socialpulse.settings import BrandSettings, Settings, window_seconds

NOW = 1_800_000_030.0  # mid-minute
WINDOWS = {"5m": 300, "1h": 3600, "7d": 7 * 86400}
START_5M = first_bucket(NOW, 300) * 60.0
BRANDS = [
    BrandSettings(
        id="a",
        name="A",
        terms=("a",),
        handles=("@alpha",),
        competitors=("b",),
        followers=1000,
    ),
    BrandSettings(id="b", name="B", terms=("b",), competitors=("a",), customer_lifetime_windows=2),
]
POS, NEU, NEG = Sentiment(0.6, 0.5, 0.5, 0.0), Sentiment(0.0, 0, 1, 0), Sentiment(-0.4, 0, 0.6, 0.4)
SRC, SRC2 = ("m", 0), ("i", 3)
_OFFSETS = itertools.count()
_IDS = itertools.count()


def off() -> int:
    return next(_OFFSETS)


def mention(
    ts: float,
    author: str = "u1",
    followers: int = 10,
    *,
    handle: str | None = None,
    media: bool = False,
    verified: bool = False,
    kind: str = "post",
    event_id: str | None = None,
) -> Mention:
    return Mention(
        event_id=event_id or f"m{next(_IDS)}",
        platform="x",
        created_at=datetime.fromtimestamp(ts, tz=UTC),
        author=Author(
            id=author, handle=handle or f"@{author}", followers=followers, verified=verified
        ),
        text="t",
        kind=kind,  # type: ignore[arg-type]
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
    return Interaction(
        event_id=event_id or f"i{next(_IDS)}",
        platform="x",
        created_at=datetime.fromtimestamp(ts, tz=UTC),
        type=kind,  # type: ignore[arg-type]
        brand=brand,
        user_id=user,
        post_id=post,
        value=InteractionValue(**value),
    )


@pytest.fixture
def store() -> WindowStore:
    return WindowStore(BRANDS, WINDOWS, lifetime_windows=12)


def test_ratio_is_absent_on_zero_or_unknown_denominator() -> None:
    assert ratio(1, 0) is None and ratio(0, 0) is None and ratio(3, None) is None
    assert ratio(1, 4) == 0.25 and ratio(0, 4) == 0.0


def test_influence_formula() -> None:
    assert influence(0, False, 0) == 0
    assert influence(9_999_999, True, 9_999) == pytest.approx(100)
    assert influence(10**12, True, 10**9) == pytest.approx(100)  # capped parts
    assert influence(999, False, 9) == pytest.approx(100 * (0.6 * 3 / 7 + 0.3 * 1 / 4))


def test_window_labels_accept_days() -> None:
    assert window_seconds("7d") == 604_800
    assert Settings().windows == ("5m", "1h", "24h", "7d")


def test_empty_window_has_zero_counts_and_no_ratios(store: WindowStore) -> None:
    k = store.snapshot(NOW)["a"]["5m"]
    assert (k.mentions, k.reach, k.owned_posts, k.sessions, k.purchasing_customers) == (0,) * 5
    assert set(k.interactions.values()) == {0}
    assert k.followers_at_window_start == 1000  # configured
    assert k.follower_growth == 0.0  # 0 ÷ 1000: defined
    for _, name, read in RATIOS:
        if name != "follower_growth_rate":
            assert read(k) is None, name
    assert set(k.share_of_voice_by.values()) == {None}
    b = store.snapshot(NOW)["b"]["5m"]
    assert b.followers_at_window_start is None and b.follower_growth is None


def test_single_mention(store: WindowStore) -> None:
    store.add_mention(SRC, "a", mention(NOW - 5, "u1", 250, kind="reply"), POS, True, off())
    k = store.snapshot(NOW)["a"]["5m"]
    assert (k.mentions, k.tagged, k.untagged, k.positive) == (1, 1, 0, 1)
    assert dict(k.mentions_by_kind) == {"reply": 1}
    assert (k.potential_reach, k.unique_authors, k.passion) == (250, 1, 1.0)
    assert (k.compound_mean, k.net_sentiment) == (0.6, 1.0)
    assert k.share_of_voice == 1.0 and k.share_of_voice_by["negative"] is None
    assert k.share_of_voice_by["reach"] == 1.0


def test_event_exactly_at_window_start_is_inside(store: WindowStore) -> None:
    store.add_mention(SRC, "a", mention(START_5M), NEG, False, off())
    store.add_mention(SRC, "a", mention(START_5M - 0.001), NEG, False, off())
    s = store.snapshot(NOW)["a"]
    assert (s["5m"].mentions, s["1h"].mentions) == (1, 2)
    assert s["5m"].net_sentiment == -1.0


def test_engagement_reach_and_rates(store: WindowStore) -> None:
    for user in ("v1", "v2", "v3", "v4", "v1"):
        store.add_interaction(SRC2, interaction(NOW - 1, "impression", user=user), off())
    for kind in ("like", "like", "comment", "share", "save", "link_click", "link_click"):
        store.add_interaction(SRC2, interaction(NOW - 1, kind), off())
    store.add_interaction(SRC2, interaction(NOW - 1, "conversion"), off())
    store.add_mention(SRC, "a", mention(NOW - 2, "own", handle="@ALPHA"), NEU, False, off())
    store.add_owned_post(SRC, "a", mention(NOW - 2, "own", handle="alpha"), off())
    k = store.snapshot(NOW)["a"]["5m"]
    assert (k.impressions, k.reach, k.engagements, k.owned_posts) == (5, 4, 7, 2)
    assert k.engagement_rate == 7 / 4
    assert k.engagement_rate_by_impressions == 7 / 5
    assert (k.comments_per_post, k.shares_per_post) == (0.5, 0.5)
    assert k.click_through == 2 / 5
    assert k.conversion == 1 / 2
    assert k.ugc_mentions == 0


def test_sessions_video_survey(store: WindowStore) -> None:
    add = store.add_interaction
    add(
        SRC2,
        interaction(NOW, "session", session_seconds=100, bounced=False, referred_from_social=True),
        off(),
    )
    add(
        SRC2,
        interaction(NOW, "session", session_seconds=5, bounced=True, referred_from_social=True),
        off(),
    )
    add(SRC2, interaction(NOW, "session", session_seconds=900, bounced=True), off())  # not social
    add(SRC2, interaction(NOW, "video_view", watch_seconds=19, video_seconds=20), off())
    add(SRC2, interaction(NOW, "video_view", watch_seconds=18.9, video_seconds=20), off())
    add(SRC2, interaction(NOW, "video_view", watch_seconds=5), off())  # length unknown
    for rating in (5, 4, 3, 1):
        add(SRC2, interaction(NOW, "survey_response", rating=rating), off())
    k = store.snapshot(NOW)["a"]["5m"]
    assert (k.sessions, k.sessions_bounced, k.session_seconds_sum) == (2, 1, 105)
    assert (k.bounce, k.session_seconds_mean) == (0.5, 52.5)
    assert (k.interactions["video_view"], k.video_views_completed) == (3, 1)
    assert k.video_watch_seconds_mean == pytest.approx((19 + 18.9 + 5) / 3)
    assert k.video_completion == pytest.approx(1 / 3)
    assert (k.survey_responses_satisfied, k.csat) == (2, 0.5)


def test_customer_lifetime_value(store: WindowStore) -> None:
    add = store.add_interaction
    add(SRC2, interaction(NOW, "purchase", order_value=10, customer_id="c1"), off())
    add(SRC2, interaction(NOW, "purchase", order_value=20, customer_id="c1"), off())
    add(SRC2, interaction(NOW, "purchase", order_value=30, user="w"), off())  # customer = user
    add(SRC2, interaction(NOW, "purchase", brand="b", order_value=8, customer_id="c1"), off())
    s = store.snapshot(NOW)
    k = s["a"]["5m"]
    assert (k.purchase_value_sum, k.purchasing_customers) == (60, 2)
    # mean order 20 × 1.5 purchases per customer × 12 windows
    assert k.customer_lifetime_value == pytest.approx(20 * 1.5 * 12)
    assert s["b"]["5m"].customer_lifetime_value == pytest.approx(8 * 1 * 2)  # brand override


def test_follower_growth_uses_latest_snapshot_at_or_before_start(store: WindowStore) -> None:
    add = store.add_interaction
    add(SRC2, interaction(START_5M - 120, "account_snapshot", followers=400), off())
    add(SRC2, interaction(START_5M, "account_snapshot", followers=500), off())  # at the edge
    add(SRC2, interaction(START_5M + 1, "account_snapshot", followers=9999), off())  # after
    for kind in ("follow", "follow", "follow", "unfollow"):
        add(SRC2, interaction(NOW, kind), off())
    k = store.snapshot(NOW)["a"]["5m"]
    assert k.followers_at_window_start == 500
    assert k.follower_growth == 2 / 500
    assert store.snapshot(NOW)["a"]["1h"].followers_at_window_start == 1000  # none before


def test_dm_first_response_median(store: WindowStore) -> None:
    add = store.add_interaction
    add(SRC2, interaction(NOW - 100, "direct_message", user="c1", event_id="d1"), off())
    add(SRC2, interaction(NOW - 100, "direct_message", user="c2", event_id="d2"), off())
    add(SRC2, interaction(NOW - 100, "direct_message", user="c3", event_id="d3"), off())
    add(SRC, interaction(NOW - 90, "direct_message", user="@Alpha", replies_to="d1"), off())
    add(SRC, interaction(NOW - 80, "direct_message", user="alpha", replies_to="d1"), off())
    add(SRC, interaction(NOW - 40, "direct_message", user="a", replies_to="d2"), off())
    add(SRC, interaction(NOW - 50, "direct_message", user="c3", replies_to="d3"), off())  # no
    k = store.snapshot(NOW)["a"]["5m"]
    assert k.interactions["direct_message"] == 7
    assert sorted(k.dm_first_response_seconds) == [10, 60]
    assert k.dm_first_response_seconds_median == 35


def test_ugc_and_engagement_received_join_across_partitions(store: WindowStore) -> None:
    store.add_mention(
        SRC, "a", mention(NOW - 5, "u1", 100, media=True, event_id="p1"), POS, False, off()
    )
    store.add_mention(SRC, "a", mention(NOW - 5, "u2", 5000, event_id="p2"), POS, False, off())
    store.add_mention(
        SRC,
        "a",
        mention(NOW - 5, "own", handle="@alpha", media=True, event_id="p3"),
        POS,
        False,
        off(),
    )
    for post in ("p1", "p1", "p2", "p3", "p3", "p3", "nope"):
        store.add_interaction(SRC2, interaction(NOW - 1, "like", post=post), off())
    store.add_interaction(SRC2, interaction(NOW - 1, "impression", post="p1"), off())
    k = store.snapshot(NOW)["a"]["5m"]
    assert (k.ugc_mentions, k.ugc_engagements, k.owned_posts) == (1, 2, 1)
    top = store.top_authors(NOW, "a", "5m", k=1)
    assert [a.id for a in top["most_engaged"]] == ["u1"]  # the brand's own account is not ranked
    assert [a.id for a in top["highest_reach"]] == ["u2"]
    u1 = top["most_engaged"][0]
    assert u1.influence == pytest.approx(influence(100, False, 2))
    assert len(store.top_authors(NOW, "a", "5m", k=10)["most_influential"]) == 2


def test_share_of_voice_bases_sum_over_competitive_set(store: WindowStore) -> None:
    store.add_mention(SRC, "a", mention(NOW, "u1", 30), POS, False, off())
    store.add_mention(SRC, "b", mention(NOW, "u2", 10), NEG, False, off())
    store.add_mention(SRC, "b", mention(NOW, "u3", 60), POS, False, off())
    store.add_interaction(SRC2, interaction(NOW, "like", brand="b"), off())
    s = store.snapshot(NOW)
    a, b = s["a"]["5m"], s["b"]["5m"]
    assert a.share_of_voice_set_base == b.share_of_voice_set_base
    assert a.share_of_voice_by == {
        "mentions": 1 / 3,
        "reach": 30 / 100,
        "engagement": 0.0,
        "positive": 0.5,
        "negative": 0.0,
    }
    assert b.share_of_voice_by["engagement"] == 1.0


def test_future_events_count_everywhere_and_late_ones_are_rejected() -> None:
    from socialpulse.core.pipeline import Pipeline

    settings = Settings(brands=BRANDS, windows=tuple(WINDOWS))
    p = Pipeline(settings)

    def raw(ago: float) -> bytes:
        i = interaction(NOW - ago, "impression", user=f"v{ago}")
        return msgspec.json.encode(i)

    assert p.process("interactions", raw(-300), SRC2, NOW, off()) is None
    future = p.process("interactions", raw(-301), SRC2, NOW, off())
    assert future is not None and future.reason == "future"
    late = p.process(
        "interactions", raw(NOW - first_bucket(NOW, 7 * 86400) * 60 + 1), SRC2, NOW, off()
    )
    assert late is not None and late.reason == "late"
    s = p.store.snapshot(NOW)["a"]
    assert [s[w].reach for w in WINDOWS] == [1, 1, 1]


# -- persistence contract ---------------------------------------------------------------------


def _fill(store: WindowStore, ts: float, first_offset: int) -> None:
    """One event of every kind that touches a bucket field, at offsets from ``first_offset``."""
    offsets = itertools.count(first_offset)
    m = mention(ts, "u1", 7, media=True, verified=True, event_id="m-x")
    store.add_mention(SRC, "a", m, POS, True, next(offsets))
    own = mention(ts, "own", 1000, handle="@alpha", event_id="m-own")
    store.add_mention(SRC, "a", own, NEU, False, next(offsets))
    store.add_mention(SRC, "a", mention(ts, "u2", 3, event_id="m-2"), NEG, False, next(offsets))
    for kind, value in (
        ("impression", {}),
        ("like", {}),
        ("session", {"session_seconds": 3.5, "bounced": True, "referred_from_social": True}),
        ("video_view", {"watch_seconds": 9.5, "video_seconds": 10.0}),
        ("survey_response", {"rating": 5}),
        ("purchase", {"order_value": 12.25, "customer_id": "k"}),
        ("account_snapshot", {"followers": 77}),
    ):
        i = interaction(ts, kind, post="m-x", event_id=f"e-{kind}", **value)
        store.add_interaction(SRC, i, next(offsets))
    dm = interaction(ts, "direct_message", user="c", event_id="dm")
    store.add_interaction(SRC, dm, next(offsets))
    reply = interaction(ts + 1, "direct_message", user="alpha", replies_to="dm", event_id="r")
    store.add_interaction(SRC, reply, next(offsets))


def _fields(b: Bucket) -> dict[str, Any]:
    d = msgspec.structs.asdict(b)
    d["reach"] = None if b.reach is None else (b.reach.serialize_compact(), b.reach.get_estimate())
    return d


def test_bucket_round_trips_exactly_and_keeps_working(store: WindowStore) -> None:
    _fill(store, NOW, 100)
    [(brand, index, bucket)] = store.take_dirty(SRC)
    assert (brand, index, bucket.offset) == ("a", bucket_of(NOW), 111)
    for f in msgspec.structs.fields(Bucket):  # every field holds something
        assert getattr(bucket, f.name) not in (None, 0, 0.0, {}, set(), [], -1), f.name
    copy = Bucket.from_bytes(bucket.to_bytes())
    assert _fields(copy) == _fields(bucket)
    assert copy.to_bytes() == bucket.to_bytes()
    restored = WindowStore(BRANDS, WINDOWS)
    restored.load(SRC, brand, index, copy)
    assert restored.snapshot(NOW) == store.snapshot(NOW)
    _fill(restored, NOW, 100)  # replayed after a crash: nothing changes
    assert _fields(copy) == _fields(bucket)
    _fill(store, NOW, 200)  # new events to both
    _fill(restored, NOW, 200)
    assert _fields(copy) == _fields(bucket)
    assert copy.interactions["like"] == 2 and copy.reach is not None
    assert copy.reach.get_estimate() == pytest.approx(1)
    assert restored.snapshot(NOW) == store.snapshot(NOW)


def test_replayed_offsets_are_skipped_per_bucket(store: WindowStore) -> None:
    store.add_interaction(SRC, interaction(NOW, "like"), 10)
    store.add_interaction(SRC, interaction(NOW, "like"), 10)  # replay
    store.add_interaction(SRC, interaction(NOW, "like"), 9)  # older: applied before the crash
    store.add_interaction(SRC, interaction(NOW - 120, "like"), 5)  # another bucket: its own offset
    store.add_interaction(SRC, interaction(NOW, "like"), 11)
    assert store.snapshot(NOW)["a"]["5m"].interactions["like"] == 3
    offsets = {i: b.offset for _, i, b in store.take_dirty(SRC)}
    assert offsets == {bucket_of(NOW): 11, bucket_of(NOW - 120): 5}


def test_dirty_expired_and_load(store: WindowStore) -> None:
    store.add_interaction(SRC, interaction(NOW, "like"), off())
    store.add_interaction(SRC2, interaction(NOW - 3600, "like"), off())
    assert [(b, i) for b, i, _ in store.take_dirty(SRC)] == [("a", bucket_of(NOW))]
    assert store.take_dirty(SRC) == []  # cleared
    later = NOW + 7 * 86400 - 3600 + 60
    assert store.expire(later) == 1
    assert store.take_expired(SRC2) == [("a", bucket_of(NOW - 3600))]
    assert store.take_expired(SRC2) == [] and store.take_dirty(SRC2) == []
    fresh = WindowStore(BRANDS, WINDOWS)
    b = Bucket(offset=4, interactions={"like": 2})
    fresh.load(SRC, "a", bucket_of(NOW), b)
    assert fresh.snapshot(NOW)["a"]["5m"].engagements == 2
    assert fresh.take_dirty(SRC) == []  # loading is not a change
    fresh.add_interaction(SRC, interaction(NOW, "like"), 4)  # at the stored offset: skipped
    assert fresh.snapshot(NOW)["a"]["5m"].engagements == 2


# -- reach sketch accuracy ----------------------------------------------------------------------


def test_reach_sketch_error_at_one_million_users() -> None:
    """1,000,000 distinct users spread over 60 one-minute sketches, unioned: error ≤ 2 %."""
    sketches = [new_reach_sketch() for _ in range(60)]
    rng = random.Random(7)
    for n in range(1_000_000):
        sketches[rng.randrange(60)].update(f"user-{n}")
    estimate = reach_union(sketches)
    error = abs(estimate - 1_000_000) / 1_000_000
    assert error <= 0.02, error
    small = new_reach_sketch()
    for n in range(100):
        small.update(f"u{n}")
        small.update(f"u{n}")
    assert reach_union([small]) == 100  # small sets are exact after rounding
    assert math.isclose(reach_union([]), 0)
