"""Spam heuristics: rates, reposts, near-duplicate thresholds and campaigns."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from builders import mention
from socialpulse.core.neardup import (
    MinHasher,
    NearDuplicateIndex,
    normalise,
    normalise_many,
    similarity,
)
from socialpulse.core.spam import NO_CLUSTER, SPAM_REASONS, SpamDetector
from socialpulse.settings import SpamSettings

T0 = 1_767_225_600.0
TEXT = "Alpha gave me a free gift card for testing the new phone, claim yours at the link now"


def test_normalise_drops_links_handles_digits_and_punctuation() -> None:
    assert normalise("WIN 500$ now!! @alpha https://x.co/1") == normalise("win 20$ now @beta")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="aB'#@_1 é-.ñ😀²ßİ:/whtpsw", max_size=60))
def test_normalise_keeps_the_letters_alone(text: str) -> None:
    links = re.sub(r"(?:https?://|www\.)\S+|@\w+", " ", text.lower())
    assert normalise(text) == " ".join("".join(c if c.isalpha() else " " for c in links).split())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="aB'#@_1 é-.ñ😀²ßİ:/whtpsw𝔘", max_size=60), max_size=10))
def test_a_batch_normalises_as_each_text_alone(texts: list[str]) -> None:
    assert normalise_many(texts) == [normalise(t) for t in texts]


def test_similarity_tracks_edit_size() -> None:
    h = MinHasher(5, 8, 4)
    base = h.fingerprint(TEXT).signature
    small = h.fingerprint(TEXT.replace("free", "FREE!!") + " omg").signature
    other = h.fingerprint("Loving the quiet mornings with a cup of tea and a book").signature
    assert similarity(base, base) == 1.0
    assert similarity(base, small) >= 0.6
    assert similarity(base, other) < 0.2


def test_index_finds_above_threshold_only_and_expires() -> None:
    h = MinHasher(5, 8, 4)
    index = NearDuplicateIndex(window_seconds=60, max_posts=10)
    index.add(1, T0, h.fingerprint(TEXT))
    near = index.nearest(h.fingerprint(TEXT + " pls"), 0.6)
    assert near is not None and near[0] == 1
    assert index.nearest(h.fingerprint(TEXT + " pls"), 1.01) is None
    assert index.nearest(h.fingerprint("something else entirely, nothing alike"), 0.6) is None
    assert index.expire(T0 + 60) == [1]
    assert index.nearest(h.fingerprint(TEXT), 0.1) is None


def test_exact_repost_from_another_account() -> None:
    det = SpamDetector(SpamSettings())
    assert not det.classify(mention(T0, "a", 500, text=TEXT)).flagged
    v = det.classify(mention(T0 + 1, "b", 500, text=TEXT + " https://x.co/2"))
    assert v.reasons == {"exact_repost"}
    assert v.primary == "exact_repost"


def test_near_duplicates_flag_from_the_cluster_size_on() -> None:
    s = SpamSettings(near_duplicate_min_posts=3, campaign_min_posts=3, campaign_min_accounts=3)
    det = SpamDetector(s)
    edits = [TEXT, TEXT + " wow", "omg " + TEXT, TEXT.replace("phone", "PHONE!")]
    verdicts = [det.classify(mention(T0 + i, f"u{i}", 500, text=t)) for i, t in enumerate(edits)]
    assert [v.flagged for v in verdicts] == [False, False, True, True]
    assert len({v.cluster for v in verdicts}) == 1
    assert "near_duplicate" in verdicts[2].reasons and "campaign" in verdicts[2].reasons
    [campaign] = det.campaigns()
    assert campaign.posts == 4 and campaign.account_count == 4


def test_a_campaign_needs_enough_accounts() -> None:
    s = SpamSettings(campaign_min_posts=5, campaign_min_accounts=3, bot_rate_posts=1000)
    det = SpamDetector(s)
    for i in range(10):
        det.classify(mention(T0 + i * 60, f"u{i % 2}", 500, text=f"{TEXT} {'!' * i}"))
    assert det.campaigns() == []


def test_distinct_posts_are_not_flagged() -> None:
    det = SpamDetector(SpamSettings())
    rng = random.Random(1)
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=6)) for _ in range(2000)]
    for i in range(300):
        text = " ".join(rng.sample(words, 12))
        assert not det.classify(mention(T0 + i, f"u{i}", 500, text=text)).flagged


def test_short_texts_are_never_duplicates() -> None:
    det = SpamDetector(SpamSettings())
    verdicts = [det.classify(mention(T0 + i, f"u{i}", 500, text="lol @x")) for i in range(5)]
    assert all(not v.flagged and v.cluster == NO_CLUSTER for v in verdicts)


def test_machine_rate_and_new_account_burst() -> None:
    s = SpamSettings(bot_rate_posts=10, bot_rate_seconds=60, new_account_burst_posts=3)
    det = SpamDetector(s)
    rng = random.Random(2)
    new = [
        det.classify(mention(T0 + i, "fresh", 2, text=f"hello {rng.random()}")) for i in range(3)
    ]
    assert [("new_account_burst" in v.reasons) for v in new] == [False, False, True]
    old = [det.classify(mention(T0 + i, "pro", 9000, text=f"hi {rng.random()}")) for i in range(10)]
    assert [("bot_rate" in v.reasons) for v in old] == [False] * 9 + [True]
    assert all("new_account_burst" not in v.reasons for v in old)
    # A slow poster stays clean: the rate span slides.
    det2 = SpamDetector(s)
    slow = [det2.classify(mention(T0 + 61 * i, "slow", 2, text=f"x {i}")) for i in range(20)]
    assert not any(v.flagged for v in slow)


def test_window_forgets_and_memory_stays_bounded() -> None:
    s = SpamSettings(window_seconds=60, max_posts=100, max_authors=100)
    det = SpamDetector(s)
    det.classify(mention(T0, "a", 500, text=TEXT))
    assert not det.classify(mention(T0 + 120, "b", 500, text=TEXT)).flagged
    for i in range(500):
        det.classify(
            mention(T0 + 200 + i * 0.01, f"u{i}", 500, text=f"{TEXT} {i:x}{'z' * (i % 9)}")
        )
    assert len(det.index) <= 100
    assert len(det._authors) <= 100


def test_reasons_are_a_bounded_set() -> None:
    assert set(SPAM_REASONS) == {
        "bot_rate",
        "new_account_burst",
        "exact_repost",
        "near_duplicate",
        "campaign",
    }


def test_a_batch_gives_the_verdicts_of_one_by_one() -> None:
    rng = random.Random(3)
    words = ["".join(rng.choices("abcdefghij", k=5)) for _ in range(50)]
    mentions = []
    for i in range(200):
        text = TEXT + " " + rng.choice(words) if i % 3 == 0 else " ".join(rng.sample(words, 9))
        mentions.append(mention(T0 + i, f"u{i % 40}", rng.choice([1, 500]), text=text))
    s = SpamSettings(new_account_burst_posts=3, campaign_min_posts=10, campaign_min_accounts=5)
    one = SpamDetector(s)
    expected = [one.classify(m) for m in mentions]
    batched = SpamDetector(s)
    got = [v for i in range(0, 200, 64) for v in batched.classify_batch(mentions[i : i + 64])]
    assert got == expected
    assert any(v.flagged for v in got) and not all(v.flagged for v in got)


def test_batched_signatures_equal_single_ones() -> None:
    texts = [TEXT, "ab", "", "omg " + TEXT, "x" * 300, TEXT]
    batch = MinHasher(5, 8, 4).fingerprints(texts)
    for text, fp in zip(texts, batch, strict=True):
        alone = MinHasher(5, 8, 4, cache_entries=0).fingerprint(text)
        assert fp.text == alone.text and fp.bands == alone.bands
        assert (fp.signature == alone.signature).all()


def test_a_batch_larger_than_the_cache_still_fingerprints_every_text() -> None:
    texts = [f"{TEXT} {'x' * i}" for i in range(6)] + [TEXT]
    small = MinHasher(5, 8, 4, cache_entries=2).fingerprints(texts)
    big = MinHasher(5, 8, 4).fingerprints(texts)
    assert [f.bands for f in small] == [f.bands for f in big]


def test_settings_refuse_a_campaign_smaller_than_a_cluster() -> None:
    with pytest.raises(ValidationError, match="campaign_min_posts"):
        SpamSettings(near_duplicate_min_posts=5, campaign_min_posts=4)


@pytest.mark.parametrize("native", [True, False])
def test_a_window_fingerprinted_under_other_minhash_settings_restores_afresh(
    native: bool,
) -> None:
    """Changing ``minhash_bands``/``rows`` between runs must not break judging after a restore."""
    old = SpamSettings(minhash_bands=8, minhash_rows=4)
    new = SpamSettings(minhash_bands=10, minhash_rows=3)
    before = SpamDetector(old)
    if not native:
        before.index = NearDuplicateIndex(old.window_seconds, old.max_posts, native=False)
    for i in range(5):
        before.classify(mention(T0 + i, f"acct{i}", 500, text=f"{TEXT} {i}"))
    state = before.state()
    assert state.posts
    after = SpamDetector(new)
    after.restore(state)
    assert len(after.index) == 0 and not after.has_cluster(state.clusters[0].id)
    assert after.state().authors == state.authors  # posting times are kept
    # Judging goes on; the copies are found again among the new posts alone.
    verdicts = [after.classify(mention(T0 + 10 + i, f"n{i}", 500, text=TEXT)) for i in range(4)]
    assert "near_duplicate" in verdicts[-1].reasons or "exact_repost" in verdicts[-1].reasons
    same = SpamDetector(old)
    same.restore(state)  # the same settings: everything back
    assert len(same.index) == len(state.posts)


def test_a_restore_keeps_the_most_recent_accounts_within_a_lowered_max_authors() -> None:
    before = SpamDetector(SpamSettings(max_authors=1000))
    for i in range(150):
        before.classify(mention(T0 + i, f"acct{i}", 500, text=f"post number {i} about alpha"))
    after = SpamDetector(SpamSettings(max_authors=100))
    after.restore(before.state())
    assert [a for a, _ in after.state().authors] == [f"acct{i}" for i in range(50, 150)]
