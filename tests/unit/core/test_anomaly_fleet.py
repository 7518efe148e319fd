"""Fleet-wide minutes: partition contributions sum to the one-store totals at any worker count."""

from __future__ import annotations

import random

import pytest

from builders import NEG, NEU, POS, mention, off
from socialpulse.core.anomaly.counts import minute_counts
from socialpulse.core.anomaly.fleet import MinuteAssembler, contribution
from socialpulse.core.windows.bucket import Bucket
from socialpulse.core.windows.store import WindowStore
from socialpulse.settings import BrandSettings

BRANDS = (
    BrandSettings(id="a", name="A", terms=("alpha",), competitors=("b",)),
    BrandSettings(id="b", name="B", terms=("beta",)),
)
SOURCES = [("socialpulse.mentions", p) for p in range(4)]
M0 = 28_800_000
MINUTES = range(M0, M0 + 6)


def _store(seed: int) -> WindowStore:
    rng = random.Random(seed)
    store = WindowStore(BRANDS, {"1h": 3600})
    for _ in range(400):
        minute = rng.choice(MINUTES)
        m = mention(minute * 60 + rng.uniform(0, 59.9), platform=rng.choice(["x", "instagram"]))
        store.add_mention(
            rng.choice(SOURCES), rng.choice("ab"), m, rng.choice([POS, NEU, NEG]), False, off()
        )
    return store


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_sum_of_contributions_is_the_whole_stores_minute(seed: int) -> None:
    store = _store(seed)
    rng = random.Random(seed)
    asm = MinuteAssembler(SOURCES, BRANDS)
    reports = [(s, m) for s in SOURCES for m in MINUTES]
    # Whichever worker owns a partition reports it; after a rebalance the new owner reports
    # some minutes again: a replacement, not an addition.
    reports += rng.sample(reports, 8)
    rng.shuffle(reports)
    for source, minute in reports:
        asm.add(contribution(source, minute, store.buckets_at(source, minute)))
    for source in SOURCES:
        asm.close(source, MINUTES[-1])
    got = asm.complete()
    assert [m[0].minute for m in got] == list(MINUTES)
    for per_minute in got:
        minute = per_minute[0].minute
        buckets: dict[str, list[Bucket]] = {}
        for s in SOURCES:
            for brand, b in store.buckets_at(s, minute).items():
                buckets.setdefault(brand, []).append(b)
        want = minute_counts(minute, buckets, BRANDS)
        assert {c.brand: c for c in per_minute} == want
    assert asm.complete() == []  # each minute once


def test_a_minute_waits_for_every_partition_and_is_emitted_once() -> None:
    store = _store(9)
    asm = MinuteAssembler(SOURCES, BRANDS)
    for s in SOURCES:
        asm.add(contribution(s, M0, store.buckets_at(s, M0)))
    for s in SOURCES[:-1]:
        asm.close(s, M0)
    assert asm.complete() == []  # the last partition has not closed the minute
    asm.close(SOURCES[-1], M0)
    (first,) = asm.complete()
    assert sum(c.mentions for c in first) > 0
    asm.add(contribution(SOURCES[0], M0, store.buckets_at(SOURCES[0], M0)))  # late replay
    for s in SOURCES:
        asm.close(s, M0 + 1)
    (second,) = asm.complete()
    assert second[0].minute == M0 + 1 and all(c.mentions == 0 for c in second)


def test_unknown_partitions_are_refused() -> None:
    asm = MinuteAssembler(SOURCES, BRANDS)
    with pytest.raises(ValueError, match="not one of the input partitions"):
        asm.close(("other", 0), M0)
