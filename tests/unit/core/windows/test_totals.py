"""Running window totals: always what merging the window's buckets gives, as time moves on.

Random streams (late and future events, authors whose follower counts rise and fall, filtered
mentions, purchases, impressions, replays) are read at random times moving forward and back,
with expiry and hour roll-ups in between, and after a restore; every read must equal the merge
of the buckets (``Accumulator``) that snapshots were read from before running totals.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import NEG, NEU, POS, interaction, mention
from socialpulse.core.kpis import WindowKpis
from socialpulse.core.windows.bucket import Bucket
from socialpulse.core.windows.store import WindowStore
from socialpulse.settings import BrandSettings

T0 = 1_800_000_000.0
WINDOWS = {"5m": 300, "1h": 3600, "3h": 3 * 3600}
BRANDS = [
    BrandSettings(id="a", name="A", terms=("a",), handles=("@alpha",), competitors=("b",)),
    BrandSettings(id="b", name="B", terms=("b",), competitors=("a",)),
]
SOURCES = (("m", 0), ("m", 1), ("i", 0))

_event = st.tuples(
    st.sampled_from(["mention", "mention", "mention", "purchase", "impression", "owned", "read"]),
    st.sampled_from(["a", "b"]),
    st.integers(0, 2),  # source
    st.floats(-4 * 3600, 600),  # seconds from the clock
    st.sampled_from(["u1", "u2", "u3", "u4", "alpha"]),
    st.integers(0, 40),  # followers
    st.booleans(),  # filtered
    st.floats(-1, 1, allow_nan=False),  # compound
)


def _merged(store: WindowStore, brand: str, now: float) -> dict[str, WindowKpis]:
    """What a snapshot was before running totals: the window's buckets merged."""
    joined = store.join_kpis(brand, now)
    return {
        label: acc.freeze(joined[label][0], 1.0)
        for label, _, acc in store._accumulate(brand, now)  # noqa: SLF001 - the reference
    }


def _same(have: WindowKpis, want: WindowKpis, where: Any) -> None:
    assert set(have.numbers) == set(want.numbers), where
    for name, v in want.numbers.items():
        assert math.isclose(have.numbers[name], v, rel_tol=1e-12, abs_tol=1e-12), (where, name)
    for attr in (
        "mentions_by_platform",
        "mentions_by_kind",
        "mentions_by_language",
        "interactions",
        "potential_reach",
        "unique_authors",
        "ugc_engagements",
    ):
        assert getattr(have, attr) == getattr(want, attr), (where, attr)
    for basis, v in want.share_of_voice_base.items():
        assert math.isclose(have.share_of_voice_base[basis], v, abs_tol=1e-12), (where, basis)


def _check(store: WindowStore, now: float, where: Any) -> None:
    for brand in ("a", "b"):
        have = store.brand_snapshot(brand, now)
        want = _merged(store, brand, now)
        for label in WINDOWS:
            _same(have[label], want[label], (where, brand, label))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_event, max_size=60), st.lists(st.floats(0, 5 * 3600), max_size=6))
def test_totals_equal_the_merged_buckets(events: list[Any], steps: list[float]) -> None:
    store = WindowStore(BRANDS, WINDOWS)
    clock = T0
    offsets = [0, 0, 0]
    moves = iter(sorted(steps))
    for n, (kind, brand, src, dt, author, followers, filtered, compound) in enumerate(events):
        source = SOURCES[src]
        offsets[src] += 1
        ts = clock + dt
        if kind == "read":  # read at another time: the windows move (back, too)
            _check(store, ts, n)
            continue
        if kind == "mention":
            base = POS if compound > 0.3 else NEG if compound < -0.3 else NEU
            sentiment = replace(base, compound=compound)
            m = mention(ts, author, followers, handle="@alpha" if author == "alpha" else None)
            store.add_mention(source, brand, m, sentiment, False, offsets[src], filtered=filtered)
            if followers % 5 == 0:  # a replay: skipped
                store.add_mention(source, brand, m, sentiment, False, offsets[src])
        elif kind == "purchase":
            i = interaction(ts, "purchase", brand, author, order_value=compound + 1.5)
            store.add_interaction(source, i, offsets[src])
        elif kind == "impression":
            store.add_interaction(
                source, interaction(ts, "impression", brand, author), offsets[src]
            )
        else:
            store.add_owned_post(source, brand, mention(ts, "alpha", handle="@alpha"), offsets[src])
        if n % 7 == 3:
            clock += next(moves, 600.0)
            store.expire(clock)
        if n % 5 == 0:
            _check(store, clock, n)
    _check(store, clock, "end")
    # A restore sums the totals afresh from the buckets: the same KPIs.
    restored = WindowStore(BRANDS, WINDOWS)
    for source in store.sources():
        for brand, idx, b in store.take_dirty(source):
            restored.load(source, brand, idx, Bucket.from_bytes(b.to_bytes()))
    for brand in ("a", "b"):
        before = store.brand_snapshot(brand, clock)
        for label, k in restored.brand_snapshot(brand, clock).items():
            _same(k, before[label], ("restored", brand, label))


def test_float_sums_are_the_exact_sum_of_the_buckets_and_come_back_to_zero() -> None:
    store = WindowStore(BRANDS, WINDOWS)
    values = (0.1, 0.2, 0.3, -0.7, 1e-300, 0.4)
    for n, c in enumerate(values):  # one minute each: a bucket holds each value as it is
        store.add_mention(SOURCES[0], "a", mention(T0 + 60 * n), replace(POS, compound=c), False, n)
    k = store.brand_snapshot("a", T0 + 400)["1h"]
    assert k.numbers["compound_sum"] == math.fsum(values)  # correctly rounded, any order
    later = store.brand_snapshot("a", T0 + 7200)["1h"]
    assert later.numbers["compound_sum"] == 0.0
    assert (later.mentions, later.unique_authors, later.potential_reach) == (0, 0, 0)


def test_an_author_keeps_the_largest_follower_count_still_inside_the_window() -> None:
    store = WindowStore(BRANDS, WINDOWS)
    # 50 followers four minutes ago, 20 now: once the older minute leaves, 20.
    store.add_mention(SOURCES[0], "a", mention(T0 - 240, "u1", 50), POS, False, 1)
    store.add_mention(SOURCES[0], "a", mention(T0, "u1", 20), POS, False, 2)
    assert store.brand_snapshot("a", T0)["5m"].potential_reach == 50
    assert store.brand_snapshot("a", T0 + 60)["5m"].potential_reach == 20
    assert store.brand_snapshot("a", T0 + 60)["1h"].potential_reach == 50


def test_rolling_minutes_into_their_hour_changes_no_float_sum_even_in_the_last_bit() -> None:
    store = WindowStore(BRANDS, WINDOWS)
    # Sums whose doubles round when added: the hour's double alone is not their exact sum.
    values = (0.1, 0.2, 0.3, -0.7, 1e-300, 0.4, 1e16, -1e16, 0.1 / 3)
    for n, c in enumerate(values):  # one minute each of the hour that starts at T0
        store.add_mention(SOURCES[0], "a", mention(T0 + 60 * n), replace(POS, compound=c), False, n)
    now = T0 + 2.5 * 3600
    before = store.brand_snapshot("a", now)["3h"].numbers["compound_sum"]
    assert before == math.fsum(values)
    store.expire(now)  # the minutes are older than the last whole hour: one bucket now
    [(_, idx, hour)] = store.take_dirty(SOURCES[0])
    assert (idx, hour.minutes, hour.rest is not None) == (int(T0 // 60), 60, True)
    assert store.brand_snapshot("a", now)["3h"].numbers["compound_sum"] == before
    restored = WindowStore(BRANDS, WINDOWS)  # the hour as the state topic gives it back
    restored.load(SOURCES[0], "a", idx, Bucket.from_bytes(hour.to_bytes()))
    assert restored.brand_snapshot("a", now)["3h"].numbers["compound_sum"] == before
    assert restored.brand_snapshot("a", T0 + 4 * 3600)["3h"].numbers["compound_sum"] == 0.0
