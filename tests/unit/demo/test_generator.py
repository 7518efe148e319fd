"""Demo traffic: schema-valid, varied, deterministic, coherent, and moving every KPI."""

from __future__ import annotations

import random
import statistics
import uuid
from collections import Counter
from datetime import datetime, timedelta

import msgspec
import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from socialpulse.core.events import (
    INTERACTION_TYPES,
    PLATFORMS,
    REQUIRED_VALUE_FIELDS,
    Interaction,
    Mention,
)
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.demo.generator import DemoTraffic, key
from socialpulse.settings import BrandSettings, Settings

from .traffic import NOW, SEED, rejection


def traffic(seed: int = SEED) -> DemoTraffic:
    return DemoTraffic(DEMO_BRANDS, random.Random(seed))


def brand_hits(text: str, brand: BrandSettings) -> bool:
    low = text.lower()
    return any(t.lower() in low for t in (*brand.terms, *brand.handles))


@pytest.fixture(scope="module")
def mentions() -> list[Mention]:
    t = traffic()
    out = []
    for _ in range(5000):
        k, v = t.encoded_mention(NOW)
        m = msgspec.json.decode(v, type=Mention, strict=True)
        assert k == m.author.id.encode()
        out.append(m)
    return out


@pytest.fixture(scope="module")
def interactions() -> list[Interaction]:
    t = traffic()
    out = []
    for _ in range(5000):
        k, v = t.encoded_interaction(NOW)
        i = msgspec.json.decode(v, type=Interaction, strict=True)
        assert k == i.user_id.encode()
        out.append(i)
    return out


def test_demo_brands_are_invented_rivals_that_settings_accept() -> None:
    settings = Settings(brands=DEMO_BRANDS)
    assert [b.id for b in settings.brands] == ["aurora", "lumen", "ember"]
    for b in DEMO_BRANDS:
        assert set(b.competitors) == {o.id for o in DEMO_BRANDS} - {b.id}
        assert b.handles and b.exclude and b.followers
    assert len({b.followers for b in DEMO_BRANDS}) == 3


def test_mentions_decode_strictly_and_are_fresh(mentions: list[Mention]) -> None:
    for m in mentions:
        assert NOW - timedelta(seconds=90) <= m.created_at <= NOW
        assert m.created_at.tzinfo is not None


def test_interactions_decode_with_required_values_and_every_type(
    interactions: list[Interaction],
) -> None:
    for i in interactions:
        assert NOW - timedelta(seconds=90) <= i.created_at <= NOW
        for name in REQUIRED_VALUE_FIELDS.get(i.type, ()):
            assert getattr(i.value, name) is not None, (i.type, name)
    assert {i.type for i in interactions} == set(INTERACTION_TYPES)


def test_interaction_rates_are_realistic() -> None:
    t = traffic()
    n = Counter(t.interaction(NOW)["type"] for _ in range(20_000))
    assert n["impression"] > 3 * n["like"]
    assert n["like"] > n["link_click"] > n["comment"] > n["share"] > n["save"]
    assert n["follow"] > 2 * n["unfollow"]


def test_brand_shares_differ(mentions: list[Mention]) -> None:
    share = {
        b.id: sum(brand_hits(m.text, b) for m in mentions) / len(mentions) for b in DEMO_BRANDS
    }
    assert share["aurora"] > share["lumen"] > share["ember"]
    assert 0.33 < share["aurora"] < 0.55
    assert 0.22 < share["lumen"] < 0.45
    assert 0.10 < share["ember"] < 0.30


def test_brand_sentiment_leans_differ(mentions: list[Mention]) -> None:
    vader = SentimentIntensityAnalyzer()
    scores: dict[str, list[float]] = {b.id: [] for b in DEMO_BRANDS}
    for m in mentions:
        hits = [b for b in DEMO_BRANDS if brand_hits(m.text, b)]
        if m.language in ("en", None) and len(hits) == 1 and m.author.id.startswith("user-"):
            scores[hits[0].id].append(vader.polarity_scores(m.text)["compound"])
    mean = {b: statistics.fmean(s) for b, s in scores.items()}
    assert mean["ember"] > mean["aurora"] > mean["lumen"]
    assert mean["ember"] - mean["lumen"] > 0.3


def test_mentions_are_varied(mentions: list[Mention]) -> None:
    texts = [m.text for m in mentions]
    assert {m.platform for m in mentions} >= set(PLATFORMS) - {
        "mastodon",
        "news",
        "blog",
        "forum",
        "other",
    }
    assert {m.language for m in mentions} >= {"en", "es", "fr", "de", "pt", None}
    assert {m.kind for m in mentions} == {"post", "reply", "share", "comment"}
    assert 0.2 < sum(m.tagged for m in mentions) / len(mentions) < 0.4
    assert 0.1 < sum(m.has_media for m in mentions) / len(mentions) < 0.5
    no_brand = [t for t in texts if not any(brand_hits(t, b) for b in DEMO_BRANDS)]
    two_brands = [t for t in texts if sum(brand_hits(t, b) for b in DEMO_BRANDS) == 2]
    excluded = [t for t in texts if any(x in t.lower() for b in DEMO_BRANDS for x in b.exclude)]
    assert 0.07 < len(no_brand) / len(texts) < 0.2
    assert len(two_brands) > 100
    assert 20 < len(excluded) < 250
    for marker in ("!!!", "😍", "😡", "☕", "🔥", " lol", "meh", " not ", " so ", "#", "@"):
        assert any(marker in t for t in texts), marker
    assert any(t.isupper() for t in texts)
    assert any("switched from @lumenroasters to" in t.lower() for t in texts) or any(
        "switched from" in t for t in two_brands
    )


def test_authors_recur_with_heavy_tailed_reach(mentions: list[Mention]) -> None:
    public = [m.author for m in mentions if m.author.id.startswith("user-")]
    counts = Counter(a.id for a in public)
    # Authors recur, but none posts at the machine rates the bot heuristics flag.
    assert 5 <= counts.most_common(1)[0][1] <= 20
    assert len(counts) < 0.6 * len(public)
    reach = {a.id: a.followers for a in public}
    assert statistics.median(reach.values()) < 1000
    assert max(reach.values()) > 1_000_000
    assert any(a.verified for a in public)


def test_interactions_target_owned_posts_or_ugc_published_as_mentions() -> None:
    t = traffic()
    brands = {b.id: b for b in DEMO_BRANDS}
    owned: dict[str, tuple[str, str]] = {}  # post id -> (author handle, platform)
    ugc: dict[str, Mention] = {}  # public mentions with media
    referenced: list[Interaction] = []
    for _ in range(4000):
        stream, _, raw = t.encoded_next(NOW)
        if stream == "mentions":
            m = msgspec.json.decode(raw, type=Mention, strict=True)
            if m.author.id.startswith("brand-"):
                assert m.kind == "post" and not m.tagged
                owned[m.event_id] = (m.author.handle, m.platform)
            elif m.has_media:
                ugc[m.event_id] = m
        else:
            i = msgspec.json.decode(raw, type=Interaction, strict=True)
            if i.post_id is not None:
                referenced.append(i)
    assert len(owned) >= 12
    on_ugc = [i for i in referenced if i.post_id not in owned]
    assert 0.005 < len(on_ugc) / len(referenced) < 0.1  # impressions are on owned posts only
    for i in referenced:
        if i.post_id in owned:
            assert owned[i.post_id] == (brands[i.brand].handles[0], i.platform)
            continue
        assert i.type in {"like", "comment", "share", "save", "link_click"}
        m = ugc[str(i.post_id)]  # fans' posts about this very brand
        assert brand_hits(m.text, brands[i.brand]) and m.platform == i.platform


def test_video_views_never_exceed_the_video(interactions: list[Interaction]) -> None:
    views = [i.value for i in interactions if i.type == "video_view"]
    assert views
    for v in views:
        assert v.watch_seconds is not None and v.video_seconds is not None
        assert 0 <= v.watch_seconds <= v.video_seconds


def test_brand_replies_answer_an_earlier_dm(interactions: list[Interaction]) -> None:
    asked: dict[str, Interaction] = {}
    replies = 0
    for i in interactions:
        if i.type != "direct_message":
            continue
        if i.value.replies_to is None:
            asked[i.event_id] = i
            continue
        replies += 1
        original = asked.pop(i.value.replies_to)  # earlier, and answered only once
        assert original.brand == i.brand and not original.user_id.startswith(("aurora", "lumen"))
        # The reply is the brand account's: its handle without the @.
        assert i.user_id == next(b for b in DEMO_BRANDS if b.id == i.brand).handles[0][1:]
        assert i.created_at >= original.created_at
    assert replies >= 5


def test_purchases_sessions_surveys_and_snapshots_look_real(
    interactions: list[Interaction],
) -> None:
    purchases = [i.value for i in interactions if i.type == "purchase"]
    customers = Counter(v.customer_id for v in purchases)
    assert customers.most_common(1)[0][1] >= 2
    assert all(v.currency and v.order_value and v.order_value > 0 for v in purchases)
    sessions = [i.value for i in interactions if i.type == "session"]
    assert {v.bounced for v in sessions} == {True, False}
    assert {v.referred_from_social for v in sessions} == {True, False}
    ratings = [i.value.rating for i in interactions if i.type == "survey_response"]
    assert sum(r is not None and r >= 4 for r in ratings) / len(ratings) > 0.55
    baseline = {b.id: b.followers or 0 for b in DEMO_BRANDS}
    for i in interactions:
        if i.type == "account_snapshot":
            assert i.value.followers is not None
            assert abs(i.value.followers - baseline[i.brand]) < 2000


def test_event_ids_are_unique_uuid4() -> None:
    t = traffic()
    ids = [t.mention(NOW)["event_id"] for _ in range(2500)]
    ids += [t.interaction(NOW)["event_id"] for _ in range(7500)]
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 4 for i in ids)


def test_same_seed_same_stream() -> None:
    a, b, c = traffic(1), traffic(1), traffic(2)
    run_a = [a.encoded_next(NOW) for _ in range(500)] + [a.malformed(NOW) for _ in range(8)]
    run_b = [b.encoded_next(NOW) for _ in range(500)] + [b.malformed(NOW) for _ in range(8)]
    run_c = [c.encoded_next(NOW) for _ in range(500)]
    assert run_a == run_b
    assert run_a[:500] != run_c


def test_mix_is_mostly_interactions() -> None:
    t = traffic()
    streams = Counter(t.encoded_next(NOW)[0] for _ in range(4000))
    assert 0.2 < streams["mentions"] / 4000 < 0.3


def test_malformed_inputs_are_all_rejectable() -> None:
    t = traffic()
    reasons: Counter[tuple[str, str | None]] = Counter()
    for _ in range(32):
        stream, raw = t.encoded_malformed(NOW)
        reasons[stream, rejection(stream, raw)] += 1
    assert all(reason is not None for _, reason in reasons), reasons
    kinds = {reason for _, reason in reasons}
    assert kinds == {"undecodable", "stale", "future", "missing value field"}
    assert {stream for stream, _ in reasons} == {"mentions", "interactions"}
    assert any(b"\xff" in t.malformed(NOW) for _ in range(8))  # invalid UTF-8 is in the cycle


def test_malformed_records_leave_no_dangling_references() -> None:
    t = traffic()
    valid_dms: set[str] = set()
    owned_posts: set[str] = set()
    refs: list[Interaction] = []
    for n in range(6000):
        if n % 3 == 0:
            t.malformed(NOW)  # built from the same templates, but must not enter the state
        stream, _, raw = t.encoded_next(NOW)
        if stream == "mentions":
            m = msgspec.json.decode(raw, type=Mention, strict=True)
            if m.author.id.startswith("brand-") or m.has_media:
                owned_posts.add(m.event_id)  # owned posts and UGC
            continue
        i = msgspec.json.decode(raw, type=Interaction, strict=True)
        if i.type == "direct_message" and i.value.replies_to is None:
            valid_dms.add(i.event_id)
        refs.append(i)
    replies = [i.value.replies_to for i in refs if i.value.replies_to is not None]
    assert replies and set(replies) <= valid_dms
    assert {i.post_id for i in refs if i.post_id is not None} <= owned_posts


def test_rejects_naive_time_and_no_brands() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        traffic().mention(datetime(2025, 1, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="at least one brand"):
        DemoTraffic((), random.Random(1))


def test_any_configured_brand_works() -> None:
    solo = BrandSettings(id="solo", name="Solo Tea", terms=("Solo Tea",))
    t = DemoTraffic((solo,), random.Random(3))
    for _ in range(500):
        msgspec.json.decode(t.encoded_mention(NOW)[1], type=Mention, strict=True)
        i = msgspec.json.decode(t.encoded_interaction(NOW)[1], type=Interaction, strict=True)
        assert i.brand == "solo"


def test_key_is_author_for_mentions_and_user_for_interactions() -> None:
    assert key({"author": {"id": "a1"}, "text": "x"}) == b"a1"
    assert key({"user_id": "u1", "type": "like"}) == b"u1"


def test_demo_traffic_moves_every_kpi() -> None:
    """Two simulated minutes of demo traffic through the pipeline define every KPI of each brand."""
    from socialpulse.core.pipeline import Pipeline
    from socialpulse.export.api import kpis_json

    t = traffic()
    p = Pipeline(Settings(brands=DEMO_BRANDS))
    offsets: Counter[str] = Counter()
    for n in range(12_000):
        at = NOW + timedelta(seconds=n / 100)
        stream, _, raw = t.encoded_next(at)
        offsets[stream] += 1
        p.process(stream, raw, (stream, 0), at.timestamp(), offsets[stream])
    end = (NOW + timedelta(seconds=120)).timestamp()
    for brand, per_window in p.store.snapshot(end).items():
        k = kpis_json(per_window["5m"])
        undefined = [name for name, v in k.items() if v is None]
        assert not undefined, (brand, undefined)
        zero = [name for name, v in k.items() if v == 0]
        assert not zero, (brand, zero)
        assert all(k["interactions"].values()), (brand, k["interactions"])
        top = p.store.top_authors(end, brand, "5m")
        assert any(a.engagement_received for a in top["most_engaged"]), brand
