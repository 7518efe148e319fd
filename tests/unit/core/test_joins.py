"""The join view: workers owning different partitions give the join KPIs of one worker owning all.

Demo traffic is split over 4 partitions per topic by key and handled by three pipelines (one per
worker, each owning some partitions); their join inputs, in any order and with repeats, build a
view that every worker reads its join KPIs and top authors from.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from socialpulse.core.events import Stream
from socialpulse.core.joins import (
    JoinView,
    decode_input,
    encode_input,
    interaction_input,
)
from socialpulse.core.kpis import WindowKpis
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.windows.timeline import Source
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.demo.generator import DemoTraffic
from socialpulse.settings import Settings

NOW = 1_800_000_000.0
WINDOWS = ("5m", "1h", "24h")
PARTITIONS = 4
WORKERS = 3
TOPICS = {"mentions": "m", "interactions": "i"}


def _settings() -> Settings:
    # Spam verdicts come from each pipeline's own window (README: Signals), so one pipeline
    # holding every partition filters other mentions than three sharing them.
    return Settings(
        brands=[b.model_dump() for b in DEMO_BRANDS], windows=WINDOWS, spam={"enabled": False}
    )


def _records(n: int, seed: int) -> list[tuple[Stream, Source, int, bytes]]:
    """(stream, source, offset, value) of ``n`` demo events over the last 50 minutes."""
    rng = random.Random(seed)
    traffic = DemoTraffic(DEMO_BRANDS, rng)
    offsets: dict[Source, int] = {}
    out = []
    for k in range(n):
        at = datetime.fromtimestamp(NOW - 3000 + 3000 * k / n, UTC)
        stream, key, value = traffic.encoded_next(at)
        source = (TOPICS[stream], zlib.crc32(key) % PARTITIONS)
        offset = offsets[source] = offsets.get(source, -1) + 1
        out.append((stream, source, offset, value))
    return out


def _owner(source: Source) -> int:
    return (source[1] + (source[0] == "i")) % WORKERS


@pytest.fixture(scope="module")
def fleet() -> tuple[Pipeline, list[Pipeline], list[bytes]]:
    """One pipeline with every partition, three sharing them, and the three's join inputs."""
    settings = _settings()
    solo = Pipeline(settings)
    workers = [Pipeline(settings) for _ in range(WORKERS)]
    for w in workers:
        w.join_inputs = []
    for stream, source, offset, value in _records(6000, seed=12):
        assert solo.process(stream, value, source, NOW, offset) is None
        workers[_owner(source)].process(stream, value, source, NOW, offset)
    sent = [encode_input(j) for w in workers for j in w.join_inputs or []]
    return solo, workers, sent


def _view(sent: list[bytes], seed: int, repeats: int) -> JoinView:
    """The view of ``sent`` in a shuffled order, ``repeats`` of them sent again later."""
    rng = random.Random(seed)
    log = list(sent) + rng.sample(sent, repeats)
    rng.shuffle(log)
    view = JoinView(_settings().brands, _settings().window_lengths)
    for value in log:
        view.apply(decode_input(value), NOW)
    assert view.duplicates == repeats
    return view


Joined = dict[tuple[str, str], tuple[int, int | None, list[float]]]


def _joined(snapshot: dict[str, dict[str, WindowKpis]]) -> Joined:
    """(brand, window) -> UGC engagements, followers at window start, DM response times."""
    return {
        (brand, w): (
            k.ugc_engagements,
            k.followers_at_window_start,
            sorted(k.dm_first_response_seconds),  # median: any order
        )
        for brand, per_window in snapshot.items()
        for w, k in per_window.items()
    }


def _ordered(snapshot: dict[str, dict[str, WindowKpis]]) -> dict[str, dict[str, WindowKpis]]:
    """DM response times sorted (their median is what counts; the order is the join's)."""
    return {
        brand: {
            w: replace(k, dm_first_response_seconds=tuple(sorted(k.dm_first_response_seconds)))
            for w, k in per_window.items()
        }
        for brand, per_window in snapshot.items()
    }


def test_every_worker_reads_the_join_kpis_of_the_whole_fleet(
    fleet: tuple[Pipeline, list[Pipeline], list[bytes]],
) -> None:
    solo, workers, sent = fleet
    truth = _joined(solo.store.snapshot(NOW))
    assert any(v[0] for v in truth.values()), "the traffic engages with UGC"
    assert any(v[2] for v in truth.values()), "the traffic answers DMs"
    # Without the view, what the workers see of the joins does not add up to the truth.
    alone = [_joined(w.store.snapshot(NOW)) for w in workers]
    assert any(sum(a[key][0] for a in alone) != v[0] for key, v in truth.items())
    view = _view(sent, seed=1, repeats=200)
    for w in workers:
        w.store.join_from(view.store)
        assert _joined(w.store.snapshot(NOW)) == truth
        for brand in solo.store.brands:
            for window in WINDOWS:
                assert w.store.top_authors(NOW, brand, window) == solo.store.top_authors(
                    NOW, brand, window
                ), (brand, window)


def test_a_store_reading_a_view_keeps_no_join_state_and_gives_the_same_kpis(
    fleet: tuple[Pipeline, list[Pipeline], list[bytes]],
) -> None:
    """As the worker wires it: the view joined before any event, then fed what is sent."""
    solo, _, _ = fleet
    settings = _settings()
    worker = Pipeline(settings)
    view = JoinView(settings.brands, settings.window_lengths)
    worker.store.join_from(view.store)
    worker.join_inputs = []
    for stream, source, offset, value in _records(6000, seed=12):
        worker.process(stream, value, source, NOW, offset)
    for j in worker.join_inputs:
        view.apply(decode_input(encode_input(j)), NOW)
    assert _ordered(worker.store.snapshot(NOW)) == _ordered(solo.store.snapshot(NOW))
    for brand in solo.store.brands:
        assert worker.store.top_authors(NOW, brand, "1h") == solo.store.top_authors(
            NOW, brand, "1h"
        )
    held = [
        b
        for per_brand in worker.store._state.values()
        for buckets in per_brand.values()
        for b in buckets.values()
    ]
    assert held and not worker.store._posts
    assert all(
        b.posts is None and b.ugc is None and b.post_engagements is None and b.dm_opened is None
        for b in held
    )
    assert any(b.authors for b in held)  # unique authors and potential reach stay local


def test_order_and_repeats_do_not_change_the_view(
    fleet: tuple[Pipeline, list[Pipeline], list[bytes]],
) -> None:
    _, _, sent = fleet
    a, b = _view(sent, seed=2, repeats=0), _view(sent, seed=3, repeats=500)
    assert _joined(a.store.snapshot(NOW)) == _joined(b.store.snapshot(NOW))
    for brand in a.store.brands:
        assert a.store.top_authors(NOW, brand, "1h") == b.store.top_authors(NOW, brand, "1h")
    assert a.applied == b.applied == len(sent)


def test_only_what_a_join_reads_is_sent() -> None:
    p = Pipeline(_settings())
    p.join_inputs = []
    kinds = set()
    for stream, source, offset, value in _records(2000, seed=5):
        p.process(stream, value, source, NOW, offset)
    for j in p.join_inputs:
        if j.mention is not None:
            assert j.brands and j.mention.text == ""  # texts stay out of the topic
        else:
            assert j.interaction is not None
            kinds.add(j.interaction.type)
            assert interaction_input(j.source, j.offset, j.interaction) == j
    assert "impression" not in kinds and "purchase" not in kinds
    assert {"like", "direct_message", "account_snapshot"} <= kinds


def test_inputs_older_than_every_window_are_skipped_but_snapshots() -> None:
    settings = _settings()
    p = Pipeline(settings)
    p.join_inputs = []
    for stream, source, offset, value in _records(3000, seed=7):
        p.process(stream, value, source, NOW, offset)
    later = NOW + 86400 + 3600  # every input is older than the 24 h window now
    view = JoinView(settings.brands, settings.window_lengths)
    for j in p.join_inputs:
        view.apply(j, later)
    snapshots = sum(
        1 for j in p.join_inputs if j.interaction and j.interaction.type == "account_snapshot"
    )
    assert 0 < view.applied == snapshots
    assert view.too_old == len(p.join_inputs) - snapshots


def test_a_change_in_the_view_changes_the_brand_version(
    fleet: tuple[Pipeline, list[Pipeline], list[bytes]],
) -> None:
    """Scrapes reuse a brand's KPIs while its version stands: the view's changes must move it."""
    _, _, sent = fleet
    worker = Pipeline(_settings())
    view = JoinView(_settings().brands, _settings().window_lengths)
    worker.store.join_from(view.store)
    j = decode_input(sent[0])
    brand = j.brands[0] if j.mention is not None else j.interaction.brand  # type: ignore[union-attr]
    before = worker.store.version(brand)
    assert view.apply(j, NOW)
    assert worker.store.version(brand) != before
