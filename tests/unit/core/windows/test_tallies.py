"""Frozen author tallies: equal to the dict they were made from, in KPIs and in state bytes.

A store that freezes settled hours is compared with one that never does, fed the same stream
(hours of mentions from recurring authors, with late mentions for hours already frozen): every
snapshot, every top-authors list and every serialised bucket must be the same.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from builders import NEG, NEU, POS, mention
from socialpulse.core.joins import JoinView, mention_input
from socialpulse.core.windows.bucket import AuthorTally, Bucket
from socialpulse.core.windows.store import WindowStore
from socialpulse.core.windows.tallies import FREEZE_FROM, ColdTallies, frozen, thawed
from socialpulse.settings import BrandSettings

T0 = 1_800_000_000.0  # a whole hour
WINDOWS = {"5m": 300, "1h": 3600, "6h": 6 * 3600}
BRANDS = [
    BrandSettings(id="a", name="A", terms=("a",), handles=("@u0",)),
    BrandSettings(id="b", name="B", terms=("b",)),
]
SOURCES = (("m", 0), ("m", 1))


def _tallies(n: int) -> dict[str, AuthorTally]:
    return {f"u{i}": AuthorTally(f"@h{i}", 10**10 - i, i % 3 == 0, i + 1, i % 2) for i in range(n)}


def test_frozen_tallies_equal_the_dict_in_order_and_bytes() -> None:
    d = _tallies(9)
    cold = frozen(d)
    assert isinstance(cold, ColdTallies)
    assert cold == d and d == cold
    assert list(cold) == list(d) and list(cold.items()) == list(d.items())
    assert len(cold) == 9 and "u3" in cold and "x" not in cold
    assert cold["u4"] == d["u4"] and cold.get("x") is None
    with pytest.raises(KeyError):
        cold["x"]
    assert Bucket(authors=cold).to_bytes() == Bucket(authors=d).to_bytes()
    assert Bucket.from_bytes(Bucket(authors=cold).to_bytes()) == Bucket(authors=d)


def test_thawed_tallies_are_mutable_copies() -> None:
    d = _tallies(5)
    cold = frozen(d)
    warm = thawed(cold)
    assert isinstance(warm, dict) and warm == d
    assert warm is not None
    warm["u1"].mentions += 5
    assert isinstance(cold, ColdTallies)
    assert cold["u1"].mentions == d["u1"].mentions  # the frozen tallies are untouched
    assert thawed(d) is d and thawed(None) is None


def test_small_tallies_stay_a_dict() -> None:
    small = _tallies(FREEZE_FROM - 1)
    assert frozen(small) is small
    assert frozen(None) is None


def _stream(seed: int) -> Iterator[tuple[float, tuple[str, int], str, str, int, bool]]:
    """(time, source, brand, author, followers, filtered), hour by hour, with late mentions."""
    rng = random.Random(seed)
    for hour in range(8):
        for _ in range(120):
            ts = T0 + hour * 3600 + rng.uniform(0, 3600)
            if rng.random() < 0.1 and hour > 2:  # late: an hour frozen by now
                ts -= rng.uniform(2, 3) * 3600
            yield (
                ts,
                rng.choice(SOURCES),
                rng.choice("ab"),
                f"u{rng.randrange(12)}",
                rng.randrange(0, 10**9),
                rng.random() < 0.2,
            )


def _stores() -> tuple[WindowStore, WindowStore]:
    freezing = WindowStore(BRANDS, WINDOWS)
    never = WindowStore(BRANDS, WINDOWS)
    never._freeze_settled = lambda buckets, limit: None  # type: ignore[method-assign]  # noqa: SLF001
    return freezing, never


def _state(store: WindowStore) -> dict[tuple[tuple[str, int], int], bytes]:
    """Every bucket as the state topic would get it."""
    out: dict[tuple[tuple[str, int], int], bytes] = {}
    for source in SOURCES:
        for idx in {i for _, i in store._dirty.get(source, ())}:  # noqa: SLF001
            for brand, b in store.buckets_at(source, idx).items():
                out[(source, idx)] = out.get((source, idx), b"") + brand.encode() + b.to_bytes()
    return out


def _cold(store: WindowStore) -> int:
    return sum(
        isinstance(b.authors, ColdTallies)
        for per in store._state.values()  # noqa: SLF001
        for bs in per.values()
        for b in bs.values()
    )


@pytest.mark.parametrize("seed", range(3))
def test_a_freezing_store_reads_and_persists_like_one_that_never_freezes(seed: int) -> None:
    freezing, never = _stores()
    offsets = dict.fromkeys(SOURCES, 0)
    last_hour = None
    frozen_seen = thawed_seen = 0
    for ts, source, brand, author, followers, filtered in _stream(seed):
        hour = int(ts // 3600)
        now = max(ts, T0)
        if last_hour is not None and hour > last_hour:
            for s in (freezing, never):
                s.expire(now)
            frozen_seen = max(frozen_seen, _cold(freezing))
            assert _state(freezing) == _state(never)
        last_hour = hour if last_hour is None else max(hour, last_hour)
        offsets[source] += 1
        before = _cold(freezing)
        m = mention(ts, author, followers, handle=f"@{author}")
        sentiment = (POS, NEU, NEG)[offsets[source] % 3]
        for s in (freezing, never):
            s.add_mention(source, brand, m, sentiment, False, offsets[source], filtered=filtered)
        thawed_seen += _cold(freezing) < before
        if offsets[source] % 97 == 0:
            at = T0 + 8 * 3600
            assert freezing.snapshot(at) == never.snapshot(at)
            for w in WINDOWS:
                assert freezing.top_authors(at, brand, w) == never.top_authors(at, brand, w)
    assert frozen_seen > 0 and thawed_seen > 0  # both paths were taken
    end = T0 + 8 * 3600
    for s in (freezing, never):
        s.expire(end)
    assert freezing.snapshot(end) == never.snapshot(end)
    assert _state(freezing) == _state(never)


def test_a_join_view_freezes_and_reads_top_authors_alike() -> None:
    views = [JoinView(BRANDS, WINDOWS) for _ in range(2)]
    views[1].store._freeze_settled = lambda buckets, limit: None  # type: ignore[method-assign]  # noqa: SLF001
    rng = random.Random(5)
    for n in range(900):
        ts = T0 + n * 30
        source = rng.choice(SOURCES)
        m = mention(ts, f"u{rng.randrange(15)}", rng.randrange(10**6))
        joined = mention_input(source, n, (rng.choice("ab"),), m)
        for v in views:
            v.apply(joined, ts)
            if n % 120 == 0:
                v.expire(ts)
    end = T0 + 900 * 30
    for v in views:
        v.expire(end)
    assert _cold(views[0].store) > 0
    for brand in "ab":
        for w in WINDOWS:
            assert views[0].store.top_authors(end, brand, w) == views[1].store.top_authors(
                end, brand, w
            )
