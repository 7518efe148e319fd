"""Fleet-wide minutes: partition contributions sum to the one-store totals at any worker count."""

from __future__ import annotations

import random

import msgspec
import pytest

from builders import NEG, NEU, POS, mention, off
from socialpulse.core.alerts.event import SamplePost
from socialpulse.core.anomaly.counts import MinuteCounts, minute_counts
from socialpulse.core.anomaly.fleet import (
    BrandMinute,
    Contribution,
    MinuteAssembler,
    Samples,
    Watermark,
    closed_minute,
    contribution,
    decode_record,
    encode_record,
    record_key,
    samples_key,
)
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


def _store(seed: int, sources: list[tuple[str, int]] = SOURCES) -> WindowStore:
    rng = random.Random(seed)
    store = WindowStore(BRANDS, {"1h": 3600})
    for _ in range(400):
        minute = rng.choice(MINUTES)
        m = mention(minute * 60 + rng.uniform(0, 59.9), platform=rng.choice(["x", "instagram"]))
        # Some mentions in a language no scorer covers: in the volume, in no share.
        store.add_mention(
            rng.choice(sources),
            rng.choice("ab"),
            m,
            rng.choice([POS, NEU, NEG, None]),
            False,
            off(),
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


def test_two_workers_give_the_detector_the_sum_not_their_share() -> None:
    """Workers own half the partitions each; what reaches the detector is the fleet's total."""
    halves = (SOURCES[:2], SOURCES[2:])
    stores = [_store(11 + i, half) for i, half in enumerate(halves)]
    asm = MinuteAssembler(SOURCES, BRANDS)
    for store, half in zip(stores, halves, strict=True):
        for s in half:  # each worker publishes only its own partitions, through the wire format
            for m in MINUTES:
                asm.feed(decode_record(encode_record(contribution(s, m, store.buckets_at(s, m)))))
            asm.feed(decode_record(encode_record(Watermark(s[0], s[1], MINUTES[-1]))))
    got = asm.complete()
    assert len(got) == len(MINUTES)
    for per_minute in got:
        minute = per_minute[0].minute
        share = [
            minute_counts(
                minute,
                {b: [x.buckets_at(s, minute).get(b) or Bucket() for s in h] for b in "ab"},
                BRANDS,
            )
            for x, h in zip(stores, halves, strict=True)
        ]
        for c in per_minute:
            one, other = share[0][c.brand], share[1][c.brand]
            assert c.mentions == one.mentions + other.mentions
            assert c.unscored == one.unscored + other.unscored
            assert c.negative == one.negative + other.negative
            assert c.voice_set == one.voice_set + other.voice_set
            assert one.mentions < c.mentions  # neither worker alone sees the total
    assert sum(c.unscored for m in got for c in m) > 0


def test_records_round_trip_and_key_per_partition_and_minute() -> None:
    c = Contribution("t", 3, M0, {})
    w = Watermark("t", 3, M0)
    assert decode_record(encode_record(c)) == c
    assert decode_record(encode_record(w)) == w
    assert record_key(c) != record_key(Contribution("t", 3, M0 + 1))
    assert record_key(c) == record_key(Contribution("t", 3, M0, {"a": {}}))  # type: ignore[dict-item]
    assert record_key(w) == record_key(Watermark("t", 3, M0 + 9))  # one watermark per partition


def test_a_silent_partition_holds_no_minute_back() -> None:
    store = _store(5)
    asm = MinuteAssembler(SOURCES, BRANDS)
    for s in SOURCES[:-1]:
        for m in MINUTES:
            asm.add(contribution(s, m, store.buckets_at(s, m)))
        asm.close(s, MINUTES[-1] if s != SOURCES[0] else MINUTES[3])
    assert asm.complete() == []  # the last partition never reported
    got = asm.complete(silent=[SOURCES[-1]])  # ... and is silent: the others decide
    assert [m[0].minute for m in got] == list(MINUTES[:4])
    assert asm.incomplete == 4
    for s in SOURCES:
        asm.close(s, MINUTES[-1])
    rest = asm.complete()
    assert [m[0].minute for m in rest] == list(MINUTES[4:])
    assert asm.incomplete == 4  # those had every partition


def test_a_partition_closes_a_minute_grace_seconds_after_it_ended() -> None:
    start = M0 * 60
    assert closed_minute(start + 59, True, None, 10) == M0 - 1
    assert closed_minute(start + 60 + 9, True, None, 10) == M0 - 1
    assert closed_minute(start + 60 + 10, True, None, 10) == M0
    # Behind: event time says how far it got; nothing read yet says nothing.
    assert closed_minute(start + 3600, False, start + 60 + 9, 10) == M0 - 1
    assert closed_minute(start + 3600, False, start + 60 + 10, 10) == M0
    assert closed_minute(start, False, None, 10) is None


def test_unscored_mentions_reach_the_fleet_totals() -> None:
    store = WindowStore(BRANDS, {"1h": 3600})
    store.add_mention(SOURCES[0], "a", mention(M0 * 60 + 1), None, False, off())
    c = contribution(SOURCES[0], M0, store.buckets_at(SOURCES[0], M0))
    asm = MinuteAssembler(SOURCES[:1], BRANDS)
    asm.add(c)
    asm.close(SOURCES[0], M0)
    ((a, b),) = asm.complete()
    assert a == MinuteCounts(brand="a", minute=M0, unscored=1, by_platform={"x": 1}, voice_set=1)
    assert b.mentions == 0


def test_filtered_mentions_count_in_the_volume_and_in_no_sentiment_class() -> None:
    """A mention the signals stage filtered is in its platform's count: the minute must add up."""
    store = WindowStore(BRANDS, {"1h": 3600})
    store.add_mention(SOURCES[0], "a", mention(M0 * 60 + 1), POS, False, off())
    for i in range(3):
        spam = mention(M0 * 60 + 2 + i, platform="instagram")
        store.add_mention(SOURCES[0], "a", spam, None, False, off(), filtered=True)
    c = contribution(SOURCES[0], M0, store.buckets_at(SOURCES[0], M0))
    asm = MinuteAssembler(SOURCES[:1], BRANDS)
    asm.add(c)
    asm.close(SOURCES[0], M0)
    ((a, _),) = asm.complete()
    assert a.mentions == 4 and a.positive == 1 and a.unscored == 3
    assert a.by_platform == {"x": 1, "instagram": 3}
    own = minute_counts(M0, {"a": [store.buckets_at(SOURCES[0], M0)["a"]]}, BRANDS)
    assert own["a"].mentions == 4 and own["a"].unscored == 3


@pytest.mark.parametrize(
    "brand_minute",
    [
        BrandMinute(negative=-1),
        BrandMinute(positive=1, by_platform={"myspace": 1}),
        BrandMinute(positive=2, by_platform={"x": 5}),
        BrandMinute(positive=1, by_platform={"x": 2, "reddit": -1}),
    ],
)
def test_a_record_no_worker_writes_is_refused_when_read(brand_minute: BrandMinute) -> None:
    data = encode_record(Contribution("m", 0, 7, {"a": brand_minute}))
    with pytest.raises(msgspec.ValidationError):
        decode_record(data)
    with pytest.raises(msgspec.ValidationError):
        decode_record(encode_record(Watermark("m", -1, 7)))


def test_samples_round_trip_and_are_not_counts() -> None:
    post = SamplePost("e1", None, "x", "negative", "2026-12-01T10:00:05Z", "awful")
    r = Samples("m", 0, 7, {"a": (post,)})
    assert decode_record(encode_record(r)) == r
    assert record_key(r) == samples_key(("m", 0), 7) != record_key(Contribution("m", 0, 7))
    assembler = MinuteAssembler([("m", 0)], [BrandSettings(id="a", name="A", terms=("a",))])
    assembler.feed(r)
    assembler.feed(Watermark("m", 0, 7))
    assert assembler.complete() == []  # no contribution: samples open no minute
