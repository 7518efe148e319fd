"""Every KPI formula on hand-computed cases: empty windows, one event, rates, joins, bases."""

from __future__ import annotations

import pytest

from builders import NEG, NEU, POS, interaction, mention, off
from socialpulse.core.kpis import RATIOS, influence, ratio
from socialpulse.core.windows.store import WindowStore
from socialpulse.core.windows.timeline import first_bucket

NOW = 1_800_000_030.0  # mid-minute
START_5M = first_bucket(NOW, 300) * 60.0
SRC, SRC2 = ("m", 0), ("i", 3)


def test_ratio_is_absent_on_zero_or_unknown_denominator() -> None:
    assert ratio(1, 0) is None and ratio(0, 0) is None and ratio(3, None) is None
    assert ratio(1, 4) == 0.25 and ratio(0, 4) == 0.0


def test_influence_formula() -> None:
    assert influence(0, False, 0) == 0
    assert influence(9_999_999, True, 9_999) == pytest.approx(100)
    assert influence(10**12, True, 10**9) == pytest.approx(100)  # capped parts
    assert influence(999, False, 9) == pytest.approx(100 * (0.6 * 3 / 7 + 0.3 * 1 / 4))


def test_empty_window_has_zero_counts_and_no_ratios(rivals_store: WindowStore) -> None:
    k = rivals_store.snapshot(NOW)["a"]["5m"]
    assert (k.mentions, k.reach, k.owned_posts, k.sessions, k.purchasing_customers) == (0,) * 5
    assert set(k.interactions.values()) == {0}
    assert k.followers_at_window_start == 1000  # configured
    assert k.follower_growth == 0.0  # 0 ÷ 1000: defined
    for _, name, read in RATIOS:
        if name != "follower_growth_rate":
            assert read(k) is None, name
    assert set(k.share_of_voice_by.values()) == {None}
    b = rivals_store.snapshot(NOW)["b"]["5m"]
    assert b.followers_at_window_start is None and b.follower_growth is None


def test_single_mention(rivals_store: WindowStore) -> None:
    rivals_store.add_mention(SRC, "a", mention(NOW - 5, "u1", 250, kind="reply"), POS, True, off())
    k = rivals_store.snapshot(NOW)["a"]["5m"]
    assert (k.mentions, k.tagged, k.untagged, k.positive) == (1, 1, 0, 1)
    assert dict(k.mentions_by_kind) == {"reply": 1}
    assert (k.potential_reach, k.unique_authors, k.passion) == (250, 1, 1.0)
    assert (k.compound_mean, k.net_sentiment) == (0.6, 1.0)
    assert k.share_of_voice == 1.0 and k.share_of_voice_by["negative"] is None
    assert k.share_of_voice_by["reach"] == 1.0


def test_engagement_reach_and_rates(rivals_store: WindowStore) -> None:
    for user in ("v1", "v2", "v3", "v4", "v1"):
        rivals_store.add_interaction(SRC2, interaction(NOW - 1, "impression", user=user), off())
    for kind in ("like", "like", "comment", "share", "save", "link_click", "link_click"):
        rivals_store.add_interaction(SRC2, interaction(NOW - 1, kind), off())
    rivals_store.add_interaction(SRC2, interaction(NOW - 1, "conversion"), off())
    rivals_store.add_mention(SRC, "a", mention(NOW - 2, "own", handle="@ALPHA"), NEU, False, off())
    rivals_store.add_owned_post(SRC, "a", mention(NOW - 2, "own", handle="alpha"), off())
    k = rivals_store.snapshot(NOW)["a"]["5m"]
    assert (k.impressions, k.reach, k.engagements, k.owned_posts) == (5, 4, 7, 2)
    assert k.engagement_rate == 7 / 4
    assert k.engagement_rate_by_impressions == 7 / 5
    assert (k.comments_per_post, k.shares_per_post) == (0.5, 0.5)
    assert k.click_through == 2 / 5
    assert k.conversion == 1 / 2
    assert k.ugc_mentions == 0


def test_sessions_video_survey(rivals_store: WindowStore) -> None:
    add = rivals_store.add_interaction
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
    k = rivals_store.snapshot(NOW)["a"]["5m"]
    assert (k.sessions, k.sessions_bounced, k.session_seconds_sum) == (2, 1, 105)
    assert (k.bounce, k.session_seconds_mean) == (0.5, 52.5)
    assert (k.interactions["video_view"], k.video_views_completed) == (3, 1)
    assert k.video_watch_seconds_mean == pytest.approx((19 + 18.9 + 5) / 3)
    assert k.video_completion == pytest.approx(1 / 3)
    assert (k.survey_responses_satisfied, k.csat) == (2, 0.5)


def test_customer_lifetime_value(rivals_store: WindowStore) -> None:
    add = rivals_store.add_interaction
    add(SRC2, interaction(NOW, "purchase", order_value=10, customer_id="c1"), off())
    add(SRC2, interaction(NOW, "purchase", order_value=20, customer_id="c1"), off())
    add(SRC2, interaction(NOW, "purchase", order_value=30, user="w"), off())  # customer = user
    add(SRC2, interaction(NOW, "purchase", brand="b", order_value=8, customer_id="c1"), off())
    s = rivals_store.snapshot(NOW)
    k = s["a"]["5m"]
    assert (k.purchase_value_sum, k.purchasing_customers) == (60, 2)
    # mean order 20 × 1.5 purchases per customer × 12 windows
    assert k.customer_lifetime_value == pytest.approx(20 * 1.5 * 12)
    assert s["b"]["5m"].customer_lifetime_value == pytest.approx(8 * 1 * 2)  # brand override


def test_follower_growth_uses_latest_snapshot_at_or_before_start(rivals_store: WindowStore) -> None:
    add = rivals_store.add_interaction
    add(SRC2, interaction(START_5M - 120, "account_snapshot", followers=400), off())
    add(SRC2, interaction(START_5M, "account_snapshot", followers=500), off())  # at the edge
    add(SRC2, interaction(START_5M + 1, "account_snapshot", followers=9999), off())  # after
    for kind in ("follow", "follow", "follow", "unfollow"):
        add(SRC2, interaction(NOW, kind), off())
    k = rivals_store.snapshot(NOW)["a"]["5m"]
    assert k.followers_at_window_start == 500
    assert k.follower_growth == 2 / 500
    assert rivals_store.snapshot(NOW)["a"]["1h"].followers_at_window_start == 1000  # none before


def test_dm_first_response_median(rivals_store: WindowStore) -> None:
    add = rivals_store.add_interaction
    add(SRC2, interaction(NOW - 100, "direct_message", user="c1", event_id="d1"), off())
    add(SRC2, interaction(NOW - 100, "direct_message", user="c2", event_id="d2"), off())
    add(SRC2, interaction(NOW - 100, "direct_message", user="c3", event_id="d3"), off())
    add(SRC, interaction(NOW - 90, "direct_message", user="@Alpha", replies_to="d1"), off())
    add(SRC, interaction(NOW - 80, "direct_message", user="alpha", replies_to="d1"), off())
    add(SRC, interaction(NOW - 40, "direct_message", user="a", replies_to="d2"), off())
    add(SRC, interaction(NOW - 50, "direct_message", user="c3", replies_to="d3"), off())  # no
    k = rivals_store.snapshot(NOW)["a"]["5m"]
    assert k.interactions["direct_message"] == 7
    assert sorted(k.dm_first_response_seconds) == [10, 60]
    assert k.dm_first_response_seconds_median == 35


def test_ugc_and_engagement_received_join_across_partitions(rivals_store: WindowStore) -> None:
    rivals_store.add_mention(
        SRC, "a", mention(NOW - 5, "u1", 100, media=True, event_id="p1"), POS, False, off()
    )
    rivals_store.add_mention(
        SRC, "a", mention(NOW - 5, "u2", 5000, event_id="p2"), POS, False, off()
    )
    rivals_store.add_mention(
        SRC,
        "a",
        mention(NOW - 5, "own", handle="@alpha", media=True, event_id="p3"),
        POS,
        False,
        off(),
    )
    for post in ("p1", "p1", "p2", "p3", "p3", "p3", "nope"):
        rivals_store.add_interaction(SRC2, interaction(NOW - 1, "like", post=post), off())
    rivals_store.add_interaction(SRC2, interaction(NOW - 1, "impression", post="p1"), off())
    k = rivals_store.snapshot(NOW)["a"]["5m"]
    assert (k.ugc_mentions, k.ugc_engagements, k.owned_posts) == (1, 2, 1)
    top = rivals_store.top_authors(NOW, "a", "5m", k=1)
    assert [a.id for a in top["most_engaged"]] == ["u1"]  # the brand's own account is not ranked
    assert [a.id for a in top["highest_reach"]] == ["u2"]
    u1 = top["most_engaged"][0]
    assert u1.influence == pytest.approx(influence(100, False, 2))
    assert len(rivals_store.top_authors(NOW, "a", "5m", k=10)["most_influential"]) == 2


def test_share_of_voice_bases_sum_over_competitive_set(rivals_store: WindowStore) -> None:
    rivals_store.add_mention(SRC, "a", mention(NOW, "u1", 30), POS, False, off())
    rivals_store.add_mention(SRC, "b", mention(NOW, "u2", 10), NEG, False, off())
    rivals_store.add_mention(SRC, "b", mention(NOW, "u3", 60), POS, False, off())
    rivals_store.add_interaction(SRC2, interaction(NOW, "like", brand="b"), off())
    s = rivals_store.snapshot(NOW)
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
