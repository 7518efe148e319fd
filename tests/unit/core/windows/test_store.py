"""The window store: edges, nesting, distinct authors, share of voice, expiry, persistence.

Persistence is the contract the state topic relies on: dirty and expired buckets reported once,
buckets that round-trip exactly, and replayed offsets skipped per bucket.
"""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import pytest

from builders import NEG, NEU, POS, RIVALS, WEEK, interaction, mention, off
from socialpulse.core.windows.bucket import Bucket
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
SRC = ("socialpulse.mentions", 0)
SRC2 = ("i", 3)


@pytest.fixture
def store() -> WindowStore:
    return WindowStore(BRANDS, WINDOWS)


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


def test_expire_removes_buckets_once_their_hour_leaves_the_longest_window(
    store: WindowStore,
) -> None:
    store.add_mention(SRC, "a", mention(NOW - 86400 + 60), POS, False, off())  # 08:01 yesterday
    store.add_mention(SRC, "a", mention(NOW - 10), POS, False, off())
    assert store.bucket_count() == 2
    assert store.expire(NOW) == 0
    # The 24 h window starts at the whole hour (08:00 yesterday) until 08:59 today.
    assert store.expire(NOW + 3480) == 0
    assert store.snapshot(NOW + 3480)["a"]["24h"].mentions == 2
    assert store.expire(NOW + 3540) == 1
    assert store.bucket_count() == 1
    assert store.snapshot(NOW + 3540)["a"]["24h"].mentions == 1


def test_event_exactly_at_window_start_is_inside(rivals_store: WindowStore) -> None:
    start_5m = first_bucket(NOW, 300) * 60.0
    rivals_store.add_mention(SRC, "a", mention(start_5m), NEG, False, off())
    rivals_store.add_mention(SRC, "a", mention(start_5m - 0.001), NEG, False, off())
    s = rivals_store.snapshot(NOW)["a"]
    assert (s["5m"].mentions, s["1h"].mentions) == (1, 2)
    assert s["5m"].net_sentiment == -1.0


# -- persistence contract ---------------------------------------------------------------------


def _fill(store: WindowStore, ts: float, first_offset: int) -> None:
    """One event of every kind that touches a bucket field, at offsets from ``first_offset``."""
    offsets = itertools.count(first_offset)
    m = mention(ts, "u1", 7, media=True, verified=True, event_id="m-x")
    store.add_mention(SRC, "a", m, POS, True, next(offsets))
    own = mention(ts, "own", 1000, handle="@alpha", event_id="m-own")
    store.add_mention(SRC, "a", own, NEU, False, next(offsets))
    store.add_mention(SRC, "a", mention(ts, "u2", 3, event_id="m-2"), NEG, False, next(offsets))
    es = mention(ts, "u3", 4, event_id="m-es", language="es")
    store.add_mention(SRC, "a", es, None, False, next(offsets), "es")
    spam = mention(ts, "u4", 2, event_id="m-spam")
    store.add_mention(SRC, "a", spam, POS, False, next(offsets), filtered=True)
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


def test_bucket_round_trips_exactly_and_keeps_working(rivals_store: WindowStore) -> None:
    _fill(rivals_store, NOW, 100)
    [(brand, index, bucket)] = rivals_store.take_dirty(SRC)
    assert (brand, index, bucket.offset) == ("a", bucket_of(NOW), 113)
    # Every field holds something (a minute: no marks, and nothing rounded away by a roll-up).
    for f in msgspec.structs.fields(Bucket):
        if f.name in ("absorbed", "rest"):
            continue
        assert getattr(bucket, f.name) not in (None, 0, 0.0, {}, set(), [], -1), f.name
    copy = Bucket.from_bytes(bucket.to_bytes())
    assert _fields(copy) == _fields(bucket)
    assert copy.to_bytes() == bucket.to_bytes()
    restored = WindowStore(RIVALS, WEEK)
    restored.load(SRC, brand, index, copy)
    assert restored.snapshot(NOW) == rivals_store.snapshot(NOW)
    _fill(restored, NOW, 100)  # replayed after a crash: nothing changes
    assert _fields(copy) == _fields(bucket)
    _fill(rivals_store, NOW, 200)  # new events to both
    _fill(restored, NOW, 200)
    assert _fields(copy) == _fields(bucket)
    assert (
        copy.interactions is not None and copy.interactions["like"] == 2 and copy.reach is not None
    )
    assert copy.reach.get_estimate() == pytest.approx(1)
    assert restored.snapshot(NOW) == rivals_store.snapshot(NOW)


def test_a_filtered_mention_is_volume_not_sentiment_nor_share_of_voice(
    rivals_store: WindowStore,
) -> None:
    rivals_store.add_mention(SRC, "a", mention(NOW, "u1", 7), POS, False, 1)
    spam = mention(NOW, "bot", 5, event_id="m-bot")
    rivals_store.add_mention(SRC, "a", spam, POS, True, 2, filtered=True)
    k = rivals_store.snapshot(NOW)["a"]["5m"]
    assert (k.mentions, k.tagged, k.unique_authors, k.potential_reach) == (2, 1, 2, 12)
    assert k.mentions_by_sentiment == {"positive": 1, "neutral": 0, "negative": 0, "unscored": 0}
    assert (k.filtered, k.compound_sum) == (1, POS.compound)
    assert k.share_of_voice_base["mentions"] == 1 and k.share_of_voice_base["reach"] == 7
    # An author with a genuine mention too is in the reach basis.
    rivals_store.add_mention(SRC, "a", mention(NOW, "bot", 5, event_id="m-bot2"), NEG, False, 3)
    assert rivals_store.snapshot(NOW)["a"]["5m"].share_of_voice_base["reach"] == 12


def test_replayed_offsets_are_skipped_per_bucket(rivals_store: WindowStore) -> None:
    rivals_store.add_interaction(SRC, interaction(NOW, "like"), 10)
    rivals_store.add_interaction(SRC, interaction(NOW, "like"), 10)  # replay
    rivals_store.add_interaction(
        SRC, interaction(NOW, "like"), 9
    )  # older: applied before the crash
    rivals_store.add_interaction(
        SRC, interaction(NOW - 120, "like"), 5
    )  # another bucket: its own offset
    rivals_store.add_interaction(SRC, interaction(NOW, "like"), 11)
    assert rivals_store.snapshot(NOW)["a"]["5m"].interactions["like"] == 3
    offsets = {i: b.offset for _, i, b in rivals_store.take_dirty(SRC)}
    assert offsets == {bucket_of(NOW): 11, bucket_of(NOW - 120): 5}


def test_dirty_expired_and_load(rivals_store: WindowStore) -> None:
    rivals_store.add_interaction(SRC, interaction(NOW, "like"), off())
    rivals_store.add_interaction(SRC2, interaction(NOW - 3600, "like"), off())
    assert [(b, i) for b, i, _ in rivals_store.take_dirty(SRC)] == [("a", bucket_of(NOW))]
    assert rivals_store.take_dirty(SRC) == []  # cleared
    later = NOW + 7 * 86400  # the week's window now starts at 08:00, an hour after that bucket
    assert rivals_store.expire(later) == 1
    assert rivals_store.take_expired(SRC2) == [("a", bucket_of(NOW - 3600))]
    assert rivals_store.take_expired(SRC2) == [] and rivals_store.take_dirty(SRC2) == []
    fresh = WindowStore(RIVALS, WEEK)
    b = Bucket(offset=4, interactions={"like": 2})
    fresh.load(SRC, "a", bucket_of(NOW), b)
    assert fresh.snapshot(NOW)["a"]["5m"].engagements == 2
    assert fresh.take_dirty(SRC) == []  # loading is not a change
    fresh.add_interaction(SRC, interaction(NOW, "like"), 4)  # at the stored offset: skipped
    assert fresh.snapshot(NOW)["a"]["5m"].engagements == 2


# -- hours: long-window edges and roll-up -------------------------------------------------------


def test_windows_longer_than_an_hour_start_at_a_whole_hour(store: WindowStore) -> None:
    now = NOW + 30 * 60  # 08:30: the 24 h window's first minute is 08:31 yesterday
    hour = (bucket_of(now) - 1439) // 60 * 60 * 60.0  # 08:00 yesterday
    store.add_mention(SRC, "a", mention(hour), POS, False, off())  # first second: inside
    store.add_mention(SRC, "a", mention(hour - 0.001), POS, False, off())  # just before: out
    store.add_mention(SRC, "a", mention(now - 3600), POS, False, off())  # 07:30: outside 1 h
    k = store.snapshot(now)["a"]
    assert (k["1h"].mentions, k["24h"].mentions) == (0, 2)
    assert store.window_bounds(now, "24h") == (hour, (bucket_of(now) + 1) * 60.0)
    assert store.window_bounds(now, "1h") == ((bucket_of(now) - 59) * 60.0, now + 60)


def test_old_minutes_roll_up_into_hours_and_no_kpi_changes(rivals_store: WindowStore) -> None:
    week = rivals_store
    for minute in (2, 3, 59):  # three minutes of the hour two hours ago
        at = NOW - 2 * 3600 + minute * 60
        week.add_mention(SRC, "a", mention(at, f"u{minute % 2}"), POS, False, off())
        week.add_interaction(SRC, interaction(at, "impression", user=f"v{minute}"), off())
    week.add_mention(SRC, "a", mention(NOW - 10), NEG, False, off())  # the last hour: minutes
    before = week.snapshot(NOW)
    week.take_dirty(SRC)
    week.expire(NOW)
    hour = bucket_of(NOW - 2 * 3600)
    assert week.bucket_count() == 2
    assert [(i, b.minutes) for _, i, b in week.take_dirty(SRC)] == [(hour, 60)]
    assert sorted(i for _, i in week.take_expired(SRC)) == [hour + 2, hour + 3, hour + 59]
    assert week.snapshot(NOW) == before
    # A late event for the rolled hour goes to its bucket, counted once; a replay is skipped.
    late = off()
    week.add_mention(SRC, "a", mention(NOW - 2 * 3600 + 600, "u9"), POS, False, late)
    week.add_mention(SRC, "a", mention(NOW - 2 * 3600 + 600, "u9"), POS, False, late)
    assert week.bucket_count() == 2
    assert week.snapshot(NOW)["a"]["7d"].mentions == before["a"]["7d"].mentions + 1
    assert week.snapshot(NOW)["a"]["7d"].unique_authors == 3  # u0, u1 (twice rolled) and u9


def test_a_restore_drops_minutes_its_rolled_hour_absorbed(rivals_store: WindowStore) -> None:
    at = NOW - 2 * 3600 + 120
    rivals_store.add_mention(SRC, "a", mention(at), POS, False, off())
    rivals_store.add_interaction(SRC, interaction(at + 60, "like"), off())
    minutes = [(i, b.to_bytes()) for _, i, b in rivals_store.take_dirty(SRC)]
    rivals_store.expire(NOW)
    want = rivals_store.snapshot(NOW)
    hours = [(i, b.to_bytes()) for _, i, b in rivals_store.take_dirty(SRC)]
    for records in (minutes + hours, hours + minutes):
        fresh = WindowStore(RIVALS, WEEK)
        for index, data in records:
            fresh.load(SRC, "a", index, Bucket.from_bytes(data))
        assert fresh.snapshot(NOW) == want
        assert fresh.bucket_count() == 1
        assert sorted(i for _, i in fresh.take_expired(SRC)) == [i for i, _ in minutes]


def test_a_bucket_holds_no_empty_containers() -> None:
    b = Bucket()
    held = [v for v in msgspec.structs.astuple(b) if isinstance(v, dict | set | list)]
    assert held == []
    assert Bucket.from_bytes(Bucket(interactions={"like": 1}).to_bytes()).authors is None


def test_a_late_event_beside_restored_minutes_of_an_old_hour_keeps_them(
    rivals_store: WindowStore,
) -> None:
    """A partition gained after a roll-up brings minutes of old hours: they roll up later."""
    rivals_store.expire(NOW)  # the roll-up mark is past the hour below
    hour = bucket_of(NOW - 3 * 3600) // 60 * 60
    rivals_store.load(SRC, "a", hour, Bucket(offset=3, interactions={"like": 2}))
    rivals_store.add_interaction(SRC, interaction(hour * 60 + 300, "like"), 10)
    assert rivals_store.snapshot(NOW)["a"]["7d"].interactions["like"] == 3
    rivals_store.expire(NOW)
    assert rivals_store.bucket_count() == 1
    assert rivals_store.snapshot(NOW)["a"]["7d"].interactions["like"] == 3


def test_held_minutes_stay_whole_until_settled_even_a_day_old(rivals_store: WindowStore) -> None:
    """The spike detector's minutes: a backfill's are minute buckets until their partition closes.

    Rolled into its hour before that, a minute would reach the detector as nothing (or an
    hour's worth at the hour's first minute).
    """
    week = rivals_store
    week.hold_minutes(SRC[0])
    week.expire(NOW)
    hour = bucket_of(NOW - 86400) // 60 * 60
    for m in (0, 1, 30):
        week.add_mention(SRC, "a", mention((hour + m) * 60 + 5, f"u{m}"), POS, False, off())
    other = ("socialpulse.interactions", 0)  # not held: straight into its hour, as before
    week.add_interaction(other, interaction(hour * 60 + 5, "like"), off())
    week.expire(NOW)
    assert week.bucket_count() == 4
    minute_1 = week.minute_buckets(SRC, hour + 1)
    assert minute_1 is not None and minute_1["a"].positive == 1
    week.settle(SRC, hour + 1)
    week.expire(NOW)
    assert week.bucket_count() == 3  # minutes 0 and 1 rolled; 30 is still held
    assert week.minute_buckets(SRC, hour + 1) is None
    assert week.minute_buckets(SRC, hour) is None
    # An event of a settled minute goes to the hour, one of a held minute to its minute.
    week.add_mention(SRC, "a", mention((hour + 1) * 60 + 9, "u7"), POS, False, off())
    week.add_mention(SRC, "a", mention((hour + 30) * 60 + 9, "u8"), NEG, False, off())
    held = week.minute_buckets(SRC, hour + 30)
    assert held is not None and (held["a"].positive, held["a"].negative) == (1, 1)
    assert week.bucket_count() == 3
    want = week.snapshot(NOW)
    assert want["a"]["7d"].mentions == 5
    records = [(i, b.to_bytes()) for _, i, b in week.take_dirty(SRC)]
    assert sorted(i for i, _ in records) == [hour, hour + 30]
    [(_, liked, like_hour)] = week.take_dirty(other)
    assert (liked, like_hour.minutes) == (hour, 60)
    for order in (records, records[::-1]):  # the held minute beside its hour is kept
        fresh = WindowStore(RIVALS, WEEK)
        fresh.load(other, "a", hour, like_hour)
        for index, data in order:
            fresh.load(SRC, "a", index, Bucket.from_bytes(data))
        assert fresh.snapshot(NOW)["a"] == want["a"]
        assert fresh.bucket_count() == 3
        assert fresh.take_expired(SRC) == []


def test_the_longest_window_starts_at_the_last_snapshot_before_it(
    rivals_store: WindowStore,
) -> None:
    """The 7 d window's start is where buckets expire: the latest expired snapshot is carried.

    The week starts at a whole hour (NOW is one): a day on from the hour after NOW's, the
    snapshots of NOW's hour have expired and the one a minute into the next hour has not.
    """
    week = WEEK["7d"]
    rivals_store.add_interaction(SRC2, interaction(NOW, "account_snapshot", followers=400), off())
    rivals_store.add_interaction(
        SRC2, interaction(NOW + 30, "account_snapshot", followers=450), off()
    )
    rivals_store.add_interaction(
        SRC2, interaction(NOW + 3660, "account_snapshot", followers=700), off()
    )
    rivals_store.take_dirty(SRC2)
    later = NOW + week + 4200  # the week starts at NOW + 1 h: the early snapshots have left it
    assert rivals_store.expire(later) == 1
    k = rivals_store.snapshot(later)["a"]
    assert k["7d"].followers_at_window_start == 450  # not the configured 1000
    assert k["1h"].followers_at_window_start == 700
    # The carried snapshot is state like any other: written, and restored with its bucket.
    dirty = rivals_store.take_dirty(SRC2)
    assert [(brand, idx) for brand, idx, _ in dirty] == [("a", first_bucket(later, week))]
    restored = WindowStore(RIVALS, WEEK)
    for brand, idx, b in dirty:
        restored.load(SRC2, brand, idx, Bucket.from_bytes(b.to_bytes()))
    assert restored.snapshot(later)["a"]["7d"].followers_at_window_start == 450
    # Carried on at every expiry: still the week's start a day on.
    rivals_store.expire(later + 86400)
    assert rivals_store.snapshot(later + 86400)["a"]["7d"].followers_at_window_start == 700


def _joined_fields(
    store: WindowStore, now: float
) -> dict[str, tuple[int, int | None, list[float]]]:
    """Per window of brand ``a``: UGC engagements, followers at its start, sorted DM times."""
    return {
        label: (k.ugc_engagements, k.followers_at_window_start, sorted(k.dm_first_response_seconds))
        for label, k in store.brand_snapshot("a", now).items()
    }


def test_join_kpis_read_rolled_hours_as_the_snapshot_does(rivals_store: WindowStore) -> None:
    """``join_kpis`` (a join view's read) and ``brand_snapshot`` agree before and after roll-up."""
    for h in range(5):  # one UGC post, an engagement on it, a DM and its reply each hour
        at = NOW - h * 3600 - 1200
        src = (SRC, SRC2)[h % 2]
        post = f"p{h}"
        ugc = mention(at, f"u{h}", media=True, event_id=post)
        rivals_store.add_mention(src, "a", ugc, POS, False, off())
        like = interaction(at + 300, "like", post=post)
        rivals_store.add_interaction((SRC2, SRC)[h % 2], like, off())
        dm = interaction(at + 60, "direct_message", user=f"c{h}", event_id=f"dm{h}")
        reply = interaction(at + 60 + 7 * h, "direct_message", user="alpha", replies_to=f"dm{h}")
        rivals_store.add_interaction(src, dm, off())
        rivals_store.add_interaction(SRC2, reply, off())
        snap = interaction(at, "account_snapshot", followers=500 + h)
        rivals_store.add_interaction(src, snap, off())
    before = _joined_fields(rivals_store, NOW)
    assert before["7d"][0] == 5 and len(before["7d"][2]) == 5
    rivals_store.expire(NOW)
    assert rivals_store.bucket_count() < 20  # the older hours went into hour buckets
    assert _joined_fields(rivals_store, NOW) == before
    joined = rivals_store.join_kpis("a", NOW)
    assert {label: (u, f, sorted(s)) for label, (u, f, s) in joined.items()} == before
    # A store nobody checkpoints rolls up alike and keeps no keys for a changelog.
    view = WindowStore(RIVALS, WEEK, lifetime_windows=12, persisted=False)
    for source in (SRC, SRC2):
        for _, idx, b in rivals_store.take_dirty(source):
            view.load(source, "a", idx, Bucket.from_bytes(b.to_bytes()))
    view.expire(NOW + 7200)
    assert (view.take_dirty(SRC), view.take_expired(SRC)) == ([], [])
    assert _joined_fields(view, NOW + 7200) == _joined_fields(rivals_store, NOW + 7200)
