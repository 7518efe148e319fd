"""The signals stage in the pipeline: filtered mentions per reason, in volume, not in sentiment."""

from __future__ import annotations

import random
from typing import Any

from builders import ALPHA_BETA, encoded, mention, off
from socialpulse.core.alerts.build import campaign_events
from socialpulse.core.alerts.event import decode_alert, encode_alert
from socialpulse.core.campaigns import CAMPAIGN_SIGNAL
from socialpulse.core.neardup import MinHasher
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.signals import FILTER_REASONS, Signals
from socialpulse.settings import AlertSettings, Settings

NOW = 1_800_000_000.0
SRC = ("mentions", 0)
CAMPAIGN = "alpha gave me a free gift card for testing the new phone, claim yours at the link"
GENUINE = (
    "alpha coffee this morning was lovely",
    "queue at alpha again, twenty minutes",
    "new alpha store opens next week downtown",
    "is alpha open on sundays?",
    "the barista at alpha remembered my order",
)


def _pipeline(**spam: Any) -> Pipeline:
    return Pipeline(Settings(brands=ALPHA_BETA, spam=spam))


def _campaign(p: Pipeline, posts: int, accounts: int, t0: float = NOW - 1800) -> None:
    rng = random.Random(3)
    for n in range(posts):
        words = CAMPAIGN.split()
        words.insert(rng.randrange(len(words)), rng.choice(["wow", "omg", "pls"]))
        m = mention(t0 + n, f"new{n % accounts}", 2, text=" ".join(words))
        p.process("mentions", encoded(m), SRC, NOW, off())


def _genuine(p: Pipeline, t0: float = NOW - 1700) -> None:
    for n, text in enumerate(GENUINE):
        m = mention(t0 + n, f"fan{n}", 500, text=text)
        p.process("mentions", encoded(m), SRC, NOW, off())


def test_a_campaign_counts_in_volume_not_in_sentiment_or_share_of_voice() -> None:
    p = _pipeline()
    _campaign(p, 40, 20)
    _genuine(p)
    kpis = p.store.snapshot(NOW)["a"]["1h"]
    filtered = p.signals.filtered["a"]
    assert set(filtered) == set(FILTER_REASONS)
    flagged = sum(filtered.values())
    assert flagged >= 36  # the first posts of a cluster are clean until it grows
    assert filtered["campaign"] >= 20
    # Volumes count every mention; sentiment and share of voice the genuine ones.
    assert kpis.mentions == sum(kpis.mentions_by_platform.values()) == 40 + len(GENUINE)
    assert kpis.unique_authors == 20 + len(GENUINE)
    assert kpis.filtered == flagged
    assert sum(kpis.mentions_by_sentiment.values()) == 40 + len(GENUINE) - flagged
    assert kpis.share_of_voice_base["mentions"] == 40 + len(GENUINE) - flagged
    assert p.signals.filtered["b"] == dict.fromkeys(FILTER_REASONS, 0)


def test_the_reach_basis_leaves_out_authors_with_no_genuine_mention() -> None:
    p = _pipeline()
    _campaign(p, 40, 20)  # 20 accounts of 2 followers, most of their posts flagged
    _genuine(p)  # 5 fans of 500 followers
    kpis = p.store.snapshot(NOW)["a"]["1h"]
    assert kpis.potential_reach == 20 * 2 + 5 * 500
    voiced = kpis.share_of_voice_base["reach"]
    assert 5 * 500 <= voiced < kpis.potential_reach


def test_include_filtered_counts_them_in_sentiment_and_share_of_voice() -> None:
    p = _pipeline(include_filtered=True)
    _campaign(p, 40, 20)
    kpis = p.store.snapshot(NOW)["a"]["1h"]
    assert kpis.mentions == sum(kpis.mentions_by_sentiment.values()) == 40
    assert kpis.filtered == 0
    assert kpis.share_of_voice_base == {
        "mentions": 40.0,
        "reach": 40.0,
        "engagement": 0.0,
        "positive": float(kpis.positive),
        "negative": float(kpis.negative),
    }
    assert p.signals.filtered["a"]["campaign"] >= 20


def test_disabled_judges_nothing() -> None:
    p = _pipeline(enabled=False)
    _campaign(p, 40, 20)
    assert p.store.snapshot(NOW)["a"]["1h"].mentions == 40
    assert sum(p.signals.filtered["a"].values()) == 0


def test_the_brands_own_posts_are_never_filtered() -> None:
    p = _pipeline()
    for n in range(40):
        m = mention(NOW - 600 + n, "alpha", 2, text=f"{CAMPAIGN} {n}", handle="@alpha")
        p.process("mentions", encoded(m), SRC, NOW, off())
    assert sum(p.signals.filtered["a"].values()) == 0
    assert p.store.snapshot(NOW)["a"]["1h"].mentions == 40


def test_a_campaign_fires_once_and_resolves_when_it_left_the_window() -> None:
    p = _pipeline(window_seconds=600)
    _campaign(p, 40, 20, t0=NOW - 3000)
    firing = p.signals.campaign_transitions()
    assert [(t.brand, t.signal, t.state) for t in firing] == [("a", CAMPAIGN_SIGNAL, "firing")]
    assert firing[0].observed >= 20 and firing[0].score >= 1
    assert p.signals.campaign_transitions() == []
    # Genuine posts an hour later move the window past the campaign.
    _genuine(p, t0=NOW)
    resolved = p.signals.campaign_transitions()
    assert [(t.key, t.state) for t in resolved] == [(firing[0].key, "resolved")]
    assert p.signals.campaigns() == []


def test_the_campaign_key_is_the_same_on_a_replay() -> None:
    keys = []
    for _ in range(2):
        p = _pipeline()
        _campaign(p, 40, 20)
        keys.append([t.key for t in p.signals.campaign_transitions()])
    assert keys[0] == keys[1] and len(keys[0]) == 1


def test_campaign_events_follow_the_alert_schema() -> None:
    p = _pipeline()
    _campaign(p, 40, 20)
    events = campaign_events(p.signals.campaign_transitions(), AlertSettings(), 60)
    assert len(events) == 1
    event = decode_alert(encode_alert(events[0]))
    assert event.signal == CAMPAIGN_SIGNAL and event.status == "firing"
    assert event.links.runbook.endswith("#detector-copy-paste-campaign")
    assert event.observed >= 20


def test_genuine_mentions_feed_trends_and_filtered_ones_do_not() -> None:
    settings = Settings(
        brands=ALPHA_BETA,
        trends={"baseline_buckets": 2, "recent_buckets": 1, "min_count": 3},
    )
    s = Signals(settings)
    rng = random.Random(1)
    words = "morning latte queue store barista sunday cold brew cake music seat window".split()

    def distinct() -> str:  # digits are folded by the near-duplicate check, words are not
        return "alpha " + " ".join(rng.sample(words, 6))

    t0 = NOW - 240
    for n in range(60):  # background in the baseline buckets
        s.check(SRC, off(), mention(t0 + n * 2, f"fan{n}", 500, text=distinct()), ["a"], False)
    for n in range(30):  # a genuine burst of a new hashtag, and a campaign of another
        m = mention(NOW - 50 + n, f"fest{n}", 500, text=f"{distinct()} #alphafest")
        assert s.check(SRC, off(), m, ["a"], owned=False) is None
        s.check(
            SRC,
            off(),
            mention(NOW - 50 + n, f"bot{n}", 1, text=f"{CAMPAIGN} #freegift"),
            ["a"],
            False,
        )
    terms = [t.term for t in s.trends_of("a", NOW - 1)]  # the burst's bucket
    assert "#alphafest" in terms and "#freegift" not in terms
    assert s.filtered["a"]["campaign"] > 0
    assert s.trends_ready("a", NOW - 1)
    assert s.trend_window == "1m"


def test_campaign_parts_carry_the_signature_of_their_first_text() -> None:
    """Signatures computed for all of a partition's clusters at once are each text's own."""
    p = _pipeline()
    _campaign(p, 40, 20)
    rng = random.Random(4)
    for n in range(40):  # a second cluster, so the parts are signed in one pass of two texts
        words = GENUINE[0].split() + ["again"]
        words.insert(rng.randrange(len(words)), rng.choice(["wow", "omg", "pls"]))
        m = mention(NOW - 900 + n, f"bot{n % 20}", 2, text=" ".join(words))
        p.process("mentions", encoded(m), SRC, NOW, off())
    s = p.signals.settings.spam
    alone = MinHasher(s.shingle_chars, s.minhash_bands, s.minhash_rows, cache_entries=0)
    parts = p.signals.campaign_parts(SRC)
    assert len({part.text for part in parts}) == 2
    for part in parts:
        assert part.signature == alone.fingerprint(part.text).signature.tobytes()
