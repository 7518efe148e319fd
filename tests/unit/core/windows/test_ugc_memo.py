"""A join view's UGC engagements kept between reads: every read equals a full recount."""

from __future__ import annotations

import random

import pytest

from builders import interaction, mention, off
from socialpulse.core.windows.store import WindowStore
from socialpulse.core.windows.timeline import first_bucket
from socialpulse.settings import BrandSettings

T0 = 1_800_000_000.0  # a whole minute
WINDOWS = {"5m": 300, "1h": 3600, "6h": 21_600}
BRANDS = [
    BrandSettings(id="a", name="A", terms=("a",), handles=("@a_official",)),
    BrandSettings(id="b", name="B", terms=("b",)),
]
SOURCES = [("m", 0), ("m", 1), ("m", 2)]


def _view() -> WindowStore:
    """A store as the join view holds it: never persisted, no running totals."""
    return WindowStore(BRANDS, WINDOWS, persisted=False, totals=False)


def _check(store: WindowStore, now: float) -> None:
    for brand in ("a", "b"):
        full = store._join_kpis(brand, now, None)
        assert store.join_kpis(brand, now) == full, (brand, now)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_every_read_equals_a_full_recount(seed: int) -> None:
    """Whatever happens between reads, the kept counts equal a full recount.

    Mentions before and after their engagements, ids mentioned twice (in one source and in
    two), late events into rolled and archived hours, expiry past posts still engaged, reads
    at earlier times.
    """
    rng = random.Random(seed)
    store = _view()
    posts: list[str] = []  # ids mentioned so far
    promised = [f"later{k}" for k in range(400)]  # engaged before they are mentioned
    now = T0
    reads = 0
    for step in range(900):
        now += rng.choice((5.0, 20.0, 60.0))
        for _ in range(rng.randint(1, 12)):
            late = rng.random() < 0.1
            ts = now - (rng.uniform(600, 30_000) if late else rng.uniform(0, 50))
            source = rng.choice(SOURCES)
            brand = rng.choice("ab")
            roll = rng.random()
            if roll < 0.45:
                if rng.random() < 0.05 and posts:
                    post = rng.choice(posts)  # the same id again, in any source
                elif rng.random() < 0.2 and promised:
                    post = promised.pop(rng.randrange(len(promised)))
                else:
                    post = f"p{step}-{len(posts)}"
                posts.append(post)
                handle = "@a_official" if rng.random() < 0.1 else None
                m = mention(
                    ts,
                    f"u{rng.randrange(50)}",
                    handle=handle,
                    media=rng.random() < 0.5,
                    event_id=post,
                )
                store.add_joined_mention(source, brand, m, off())
            else:
                if rng.random() < 0.15:
                    post = rng.choice(promised) if promised else "nowhere"
                elif rng.random() < 0.1:
                    post = f"unknown{rng.randrange(100)}"
                else:
                    post = rng.choice(posts[-300:]) if posts else "nowhere"
                kind = rng.choice(("like", "comment", "share"))
                store.add_interaction(source, interaction(ts, kind, brand, post=post), off())
        if step % 7 == 0:
            store.expire(now)
        if step % 3 == 0:
            _check(store, now)
            reads += 1
        if step % 50 == 0:
            _check(store, now - rng.uniform(0, 7200))  # an earlier read (the API's ``at``)
    memo = store._ugc_memo
    assert memo is not None and memo.held() > 0  # hours were kept, not recounted each read
    assert reads > 250


def test_hours_whose_buckets_did_not_change_are_not_recounted() -> None:
    """A second read looks up no post; a new engagement recounts its own hour only."""
    store = _view()
    for h in range(5):
        t = T0 - 3600 * (h + 1)
        m = mention(t, "u1", media=True, event_id=f"post{h}")
        store.add_joined_mention(SOURCES[0], "a", m, off())
        for _ in range(3):
            store.add_interaction(SOURCES[1], interaction(t + 10, "like", post=f"post{h}"), off())
    store.expire(T0)
    first = store.join_kpis("a", T0)
    assert first["6h"][0] == 15
    looked: list[str] = []
    real = store._find

    def counting(brand: str, oldest: int):  # type: ignore[no-untyped-def]
        find = real(brand, oldest)

        def lookup(post: str):  # type: ignore[no-untyped-def]
            looked.append(post)
            return find(post)

        return lookup

    store._find = counting  # type: ignore[method-assign]
    assert store.join_kpis("a", T0 + 1) == first
    assert looked == []
    store.add_interaction(SOURCES[1], interaction(T0 - 3600 + 20, "like", post="post0"), off())
    assert store.join_kpis("a", T0 + 2)["6h"][0] == 16
    assert looked == ["post0"]


def test_a_post_mentioned_after_its_engagements_counts_them_at_the_next_read() -> None:
    store = _view()
    t = T0 - 7200
    store.add_interaction(SOURCES[1], interaction(t, "like", post="late"), off())
    store.expire(T0)
    assert store.join_kpis("a", T0)["6h"][0] == 0
    store.add_joined_mention(SOURCES[0], "a", mention(t - 60, media=True, event_id="late"), off())
    assert store.join_kpis("a", T0)["6h"][0] == 1


def test_engagements_stop_counting_when_their_post_leaves_the_window() -> None:
    store = _view()
    t = T0 - 21_600 + 120  # two minutes inside the 6 h window
    store.add_joined_mention(SOURCES[0], "a", mention(t, media=True, event_id="old"), off())
    store.add_interaction(SOURCES[1], interaction(T0 - 60, "like", post="old"), off())
    store.expire(T0)
    assert store.join_kpis("a", T0)["6h"][0] == 1
    later = T0 + 3600  # windows over an hour start on a whole hour
    assert first_bucket(later, 21_600) > first_bucket(t, 60)
    store.expire(later)
    assert store.join_kpis("a", later)["6h"][0] == store._join_kpis("a", later, None)["6h"][0]
    assert store.join_kpis("a", later)["6h"][0] == 0
