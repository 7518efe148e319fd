"""Trends: burst scores on mergeable sketches; merges equal the sketch of the union."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialpulse.core.terms import Tokeniser, brand_terms
from socialpulse.core.trends import BrandTrends, FleetTrends, PublishedBucket, TrendDetector
from socialpulse.settings import TrendSettings

S = TrendSettings(bucket_seconds=60, recent_buckets=5, baseline_buckets=30, min_count=5)
T0 = 1_767_225_600.0


def _background(state: BrandTrends, minutes: int, rng: random.Random, start: float = T0) -> None:
    words = [f"w{i}" for i in range(200)]
    for m in range(minutes):
        for _ in range(20):
            state.add(start + m * 60 + rng.uniform(0, 59), rng.sample(words, 3))


def test_a_planted_burst_trends_and_background_does_not() -> None:
    rng = random.Random(1)
    state = BrandTrends(S)
    _background(state, 40, rng)
    end = T0 + 40 * 60
    assert state.trends(end - 1) == []
    for i in range(30):
        state.add(end + i * 4, ["#launch", "phone"] if i % 2 else ["#launch"])
    top = state.trends(end + 120)
    assert top and top[0].term == "#launch"
    assert "phone" in {t.term for t in top}
    assert all(t.term.startswith(("#launch", "phone")) for t in top)


def test_no_trend_without_a_full_baseline() -> None:
    state = BrandTrends(S)
    for i in range(100):
        state.add(T0 + i, ["#launch"])
    assert state.trends(T0 + 200) == []


def test_a_brand_new_term_scores_finite() -> None:
    rng = random.Random(2)
    state = BrandTrends(S)
    _background(state, 36, rng)
    now = T0 + 36 * 60
    for i in range(1000):
        state.add(now + i * 0.05, ["brandnew"])
    top = state.trends(now + 59)
    assert top[0].term == "brandnew"
    assert top[0].expected == 0
    assert math.isfinite(top[0].score)
    # The heavy-hitter lower bound: never above the true count, within the sketch's error.
    assert 1000 - 0.05 * 1240 <= top[0].recent <= 1000
    assert top[0].score == top[0].recent / math.sqrt(S.noise_floor)


def test_below_min_count_never_trends() -> None:
    rng = random.Random(3)
    state = BrandTrends(S)
    _background(state, 36, rng)
    now = T0 + 36 * 60
    for i in range(S.min_count - 1):
        state.add(now + i, ["rare"])
    assert "rare" not in {t.term for t in state.trends(now + 59)}


def test_brand_terms_never_trend() -> None:
    rng = random.Random(4)
    excluded = brand_terms(["alpha"], ["@alpha"])
    det = TrendDetector(S, {"a": excluded})
    _background(det.brands["a"], 36, rng)
    now = T0 + 36 * 60
    for i in range(200):
        det.add("a", now + i * 0.1, ["alpha", "#alpha", "@alpha", "launch"])
    terms = {t.term for t in det.trends("a", now + 59)}
    assert terms == {"launch"}
    assert det.trends("unknown", now) == []


def test_late_events_beyond_the_horizon_are_counted_not_kept() -> None:
    state = BrandTrends(S)
    state.add(T0 + 3600, ["x"])
    state.add(T0, ["x"])
    assert state.late == 1
    assert len(state.buckets) == 1


def test_memory_is_bounded_by_the_settings() -> None:
    state = BrandTrends(S)
    for i in range(20_000):
        state.add(T0 + i * 0.2, [f"t{i}", f"u{i % 7}"])
    per_bucket = state.memory_bytes() / len(state.buckets)
    cm = 8 * S.sketch_width * S.sketch_depth
    assert per_bucket < cm + 32 * 2**S.heavy_hitters_lg + 4096
    assert len(state.buckets) <= S.recent_buckets + S.baseline_buckets


streams = st.lists(
    st.tuples(st.integers(0, 40 * 60), st.sampled_from([f"t{i}" for i in range(300)])),
    min_size=1,
    max_size=400,
)


@settings(max_examples=30, deadline=None)
@given(streams, st.integers(1, 4))
def test_merge_across_workers_equals_the_union(events: list[tuple[int, str]], workers: int) -> None:
    """Split a stream among workers; the merged state reads as the one-worker state."""
    whole = BrandTrends(S)
    parts = [BrandTrends(S) for _ in range(workers)]
    for n, (dt, term) in enumerate(events):
        whole.add(T0 + dt, [term])
        parts[n % workers].add(T0 + dt, [term])
    merged = BrandTrends.restore(parts[0].snapshot(), S)
    for p in parts[1:]:
        merged.merge(BrandTrends.restore(p.snapshot(), S))
    assert sorted(merged.buckets) == sorted(whole.buckets)
    total = len(events)
    for index, bucket in whole.buckets.items():
        other = merged.buckets[index]
        bucket.fold()
        assert other.counts.total_weight == bucket.counts.total_weight
        for term in {t for _, t in events}:
            exact = sum(1 for dt, t in events if t == term and int((T0 + dt) // 60) == index)
            est = other.counts.get_estimate(term)
            # Count-min: never under, over by at most e/width of the total (with high probability).
            assert exact <= est <= exact + math.e / S.sketch_width * total + 1e-9
            assert est == bucket.counts.get_estimate(term)
            lo, hi = other.heavy.get_lower_bound(term), other.heavy.get_upper_bound(term)
            assert lo <= exact <= hi
    end = T0 + 40 * 60
    assert merged.trends(end) == whole.trends(end)


@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.sampled_from(["the", "and", "los", "und", "avec", "alpha", "#alpha", "@alpha"]),
        min_size=1,
        max_size=4,
    ),
    st.integers(50, 400),
)
def test_stop_words_and_brand_terms_never_trend(burst: list[str], size: int) -> None:
    """However hard they burst, stop-words and the brand's own terms never trend."""
    tok = Tokeniser(("en", "es", "pt", "fr", "de"))
    state = BrandTrends(S, brand_terms(["alpha"], ["@alpha"]))
    _background(state, 36, random.Random(size))
    now = T0 + 36 * 60
    text = " ".join(burst) + " zzlaunch"
    for i in range(size):
        state.add(now + i * 0.1, tok.terms(text))
    assert {t.term for t in state.trends(now + 59)} == {"zzlaunch"}


def test_filtered_counts_merge_restore_and_stay_in_the_window() -> None:
    parts = [BrandTrends(S), BrandTrends(S)]
    parts[0].add_filtered(T0 + 10, "campaign")
    parts[0].add_filtered(T0 + 70, "bot_rate")
    parts[1].add_filtered(T0 + 75, "campaign")
    parts[1].add(T0 + 80, ["latte"])
    parts[1].add_filtered(T0 - 600, "near_duplicate")  # ten minutes before: out of the window
    # A bucket of filtered mentions alone makes no sketches.
    assert not parts[0].buckets[int(T0 // 60)].sketched and parts[0].memory_bytes() == 0
    merged = BrandTrends.restore(parts[0].snapshot(), S)
    merged.merge(BrandTrends.restore(parts[1].snapshot(), S))
    assert merged.filtered(T0 + 90) == {"campaign": 2, "bot_rate": 1}
    assert merged.filtered(T0 + 60 * 30) == {}  # past the recent window
    assert merged.buckets[int((T0 + 80) // 60)].counts.get_estimate("latte") == 1


def test_a_snapshot_of_an_older_release_restores_with_nothing_filtered() -> None:
    state = BrandTrends(S)
    state.add(T0, ["latte"])
    counts, heavy = state.buckets[int(T0 // 60)].serialized()
    old = msgspec.msgpack.encode(
        {"version": 1, "first_bucket": int(T0 // 60), "buckets": [[int(T0 // 60), counts, heavy]]}
    )
    restored = BrandTrends.restore(old, S)
    assert restored.filtered(T0) == {}
    assert restored.buckets[int(T0 // 60)].counts.get_estimate("latte") == 1


class _ReferenceTrends(BrandTrends):
    """``BrandTrends.add`` as it was: every mention through ``_bucket``, filtered, then counted."""

    def add(self, ts: float, terms: Iterable[str]) -> None:
        bucket = self._bucket(ts)
        if bucket is not None:
            pending = bucket._open
            for t in [t for t in terms if t not in self.excluded]:
                pending[t] = pending.get(t, 0) + 1
            if len(pending) >= bucket._open_cap:
                bucket.fold()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-120 * 60, 120 * 60),
            st.lists(st.sampled_from(["alpha", "#alpha", *(f"t{i}" for i in range(40))])),
        ),
        max_size=300,
    ),
    st.integers(16, 40),
)
def test_counting_inline_equals_the_reference(
    events: list[tuple[int, list[str]]], open_terms: int
) -> None:
    """Late mentions, new buckets, expiry and folds at ``open_bucket_terms``: the same state."""
    s = S.model_copy(update={"open_bucket_terms": open_terms})
    excluded = brand_terms(["alpha"], [])
    ours, ref = BrandTrends(s, excluded), _ReferenceTrends(s, excluded)
    for n, (dt, terms) in enumerate(events):
        ours.add(T0 + dt, terms)
        ref.add(T0 + dt, terms)
        if n % 50 == 49:  # the trends topic takes the changed buckets now and then
            assert [i for i, _ in ours.take_changed()] == [i for i, _ in ref.take_changed()]
    assert ours.late == ref.late
    assert ours.changed == ref.changed
    assert ours.snapshot() == ref.snapshot()


def test_buckets_sketched_under_other_sketch_settings_are_left_out_not_merged() -> None:
    """A changed ``sketch_width`` must not break trends after a restore or in the fleet."""
    old = BrandTrends(S)
    _background(old, 10, random.Random(2))
    wider = TrendSettings(**{**S.model_dump(), "sketch_width": 2 * S.sketch_width})
    restored = BrandTrends.restore(old.snapshot(), wider)
    assert restored.buckets == {}  # left out, not kept to fail the first merge
    _background(restored, 10, random.Random(3), start=T0 + 600)
    restored.merge(BrandTrends.restore(restored.snapshot(), wider))
    assert restored.trends(T0 + 1200) == []  # reads work
    fleet = FleetTrends(wider, {"a": frozenset()})
    index, bucket = next(iter(old.buckets.items()))
    counts, heavy = bucket.serialized()
    with pytest.raises(ValueError, match="sketched 3 × 256, not 3 × 512"):
        fleet.apply(PublishedBucket(("m", 0), "a", index, 5, T0, counts, heavy, {}))
    same = BrandTrends.restore(old.snapshot(), S)
    assert same.buckets.keys() == old.buckets.keys()
