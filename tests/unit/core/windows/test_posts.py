"""The post archive: a store nobody persists joins engagement exactly as one keeping post dicts."""

from __future__ import annotations

import random
import zlib
from datetime import UTC, datetime

from socialpulse.core.pipeline import Pipeline
from socialpulse.core.windows.posts import PostArchive, post_key
from socialpulse.core.windows.store import WindowStore
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.demo.generator import DemoTraffic
from socialpulse.settings import Settings

NOW = 1_800_000_000.0
WINDOWS = ("5m", "1h", "24h")


def test_find_keep_and_drop() -> None:
    a = PostArchive()
    a.add([(post_key("p1"), 100 * 2 + 1, 0, 0), (post_key("p2"), 200 * 2, 1, 1)])
    a.add([(post_key("p3"), 300 * 2, 2, 0), (post_key("p1"), 400 * 2, 3, 1)])
    assert len(a) == 4
    assert sorted(a.find(post_key("p1"), 0)) == [(100 * 2 + 1, 0), (400 * 2, 3)]
    assert a.find(post_key("p1"), 101) == [(400 * 2, 3)]
    assert a.find(post_key("nope"), 0) == []
    a.keep(250)
    assert a.find(post_key("p2"), 0) == [] and len(a) == 2
    a.drop_sources([1])
    assert a.find(post_key("p1"), 0) == [] and a.find(post_key("p3"), 0) == [(600, 2)]
    assert a.nbytes() == 18


def _pipelines() -> tuple[Pipeline, Pipeline]:
    settings = Settings(
        brands=[b.model_dump() for b in DEMO_BRANDS], windows=WINDOWS, spam={"enabled": False}
    )
    kept, archived = Pipeline(settings), Pipeline(settings)
    archived.store = WindowStore(
        settings.brands,
        settings.window_lengths,
        lifetime_windows=settings.expected_customer_lifetime_windows,
        persisted=False,
    )
    return kept, archived


def test_archived_posts_join_as_the_buckets_did() -> None:
    kept, archived = _pipelines()
    traffic = DemoTraffic(DEMO_BRANDS, random.Random(5))
    span, n = 6 * 3600.0, 8000
    offsets: dict[tuple[str, int], int] = {}
    for k in range(n):
        t = NOW - span + span * k / n
        stream, key, value = traffic.encoded_next(datetime.fromtimestamp(t, UTC))
        source = (stream[0], zlib.crc32(key) % 4)
        offset = offsets[source] = offsets.get(source, -1) + 1
        for p in (kept, archived):
            p.process(stream, value, source, t, offset)
        if k % 300 == 0:
            for p in (kept, archived):
                p.store.expire(t)
    for p in (kept, archived):
        p.store.expire(NOW)
    store = archived.store
    assert sum(len(a) for a in store._archive.values()) > 1000, "rolled hours' posts moved"
    rolled = [
        b
        for per_brand in store._state.values()
        for buckets in per_brand.values()
        for b in buckets.values()
        if b.minutes > 1
    ]
    assert rolled and all(b.posts is None for b in rolled)
    assert store.snapshot(NOW) == kept.store.snapshot(NOW)
    for brand in store.brands:
        assert store.join_kpis(brand, NOW) == kept.store.join_kpis(brand, NOW)
        for window in WINDOWS:
            assert store.top_authors(NOW, brand, window) == kept.store.top_authors(
                NOW, brand, window
            ), (brand, window)
    engaged = {
        a.id: a.engagement_received
        for brand in store.brands
        for a in store.top_authors(NOW, brand, "24h")["most_engaged"]
    }
    assert any(engaged.values())
    # The archive is what found them: without it, engagement on rolled hours' posts is lost.
    held, store._archive = store._archive, {}
    assert any(
        store.top_authors(NOW, brand, "24h") != kept.store.top_authors(NOW, brand, "24h")
        for brand in store.brands
    )
    store._archive = held
    # Expiry past the longest window empties the archive too.
    store.expire(NOW + 2 * 86400)
    kept.store.expire(NOW + 2 * 86400)
    assert sum(len(a) for a in store._archive.values()) == 0
