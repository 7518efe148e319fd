"""Spam verdicts per input partition: the same whatever the grouping, the batches or a restore."""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import ALPHA_BETA, encoded, mention
from socialpulse.core.language import LanguageDetector
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.signals import Signals
from socialpulse.core.windows.timeline import Source
from socialpulse.settings import Settings

NOW = 1_800_000_000.0
PARTITIONS = 4
CAMPAIGN = "alpha gave me a free gift card for testing the new phone, claim yours at the link"
WORDS = "morning latte queue store barista sunday cold brew cake music seat window".split()
SETTINGS = Settings(
    brands=ALPHA_BETA,
    spam={"window_seconds": 900, "max_posts": 150, "max_authors": 100, "bot_rate_posts": 8},
    trends={"baseline_buckets": 3, "recent_buckets": 1, "min_count": 3},
)
DETECTOR = LanguageDetector(SETTINGS.languages, SETTINGS.language_min_confidence)
# (partition, offset) -> the reason it was filtered, or None.
Verdicts = dict[tuple[Source, int], str | None]
Records = dict[Source, list[tuple[int, bytes]]]


def _stream(seed: int, events: int = 500) -> Records:
    """Campaign posts, a bot at machine rate, fans: keyed by author, as producers key them.

    Timestamps wander back and forth a little, as they do across producers.
    """
    rng = random.Random(seed)
    out: Records = {("mentions", p): [] for p in range(PARTITIONS)}
    for n in range(events):
        ts = NOW - 1800 + n * 3 + rng.uniform(-20, 20)
        kind = rng.random()
        if kind < 0.4:
            words = CAMPAIGN.split()
            words.insert(rng.randrange(len(words)), rng.choice(["wow", "omg", "pls"]))
            author, followers, text = f"new{rng.randrange(40)}", 2, " ".join(words)
        elif kind < 0.5:
            author, followers, text = "bot", 50, f"alpha deal {rng.choice(WORDS)} now, see bio"
        else:
            author, followers = f"fan{rng.randrange(300)}", 500
            text = "alpha " + " ".join(rng.sample(WORDS, 6))
        src = ("mentions", zlib.crc32(author.encode()) % PARTITIONS)
        value = encoded(mention(ts, author, followers, text=text))
        out[src].append((len(out[src]), value))
    return out


def _pipeline() -> tuple[Pipeline, Verdicts]:
    """A pipeline whose signals stage writes down every verdict it gives."""
    p = Pipeline(SETTINGS, detector=DETECTOR)
    verdicts: Verdicts = {}
    check_batch = p.signals.check_batch

    def recording(source: Source, batch: Sequence[Any]) -> list[str | None]:
        resume = p.signals.resume_offset(source)
        reasons = check_batch(source, batch)
        for (offset, *_), reason in zip(batch, reasons, strict=True):
            if resume is None or offset >= resume:  # judged, not skipped as seen before
                verdicts[(source, offset)] = reason
        return reasons

    p.signals.check_batch = recording  # type: ignore[method-assign]
    return p, verdicts


def _feed(
    pipelines: dict[Source, Pipeline],
    records: Records,
    batch: Callable[[], int],
    order: random.Random,
    upto: dict[Source, int] | None = None,
) -> None:
    """Feed each partition's records to its pipeline in batches, partitions interleaved."""
    at = dict.fromkeys(records, 0)
    end = {s: len(r) if upto is None else upto[s] for s, r in records.items()}
    while any(at[s] < end[s] for s in records):
        source = order.choice([s for s in records if at[s] < end[s]])
        n = min(batch(), end[source] - at[source])
        pipelines[source].process_batch(
            "mentions", records[source][at[source] : at[source] + n], source, NOW
        )
        at[source] += n


def _one(records: Records, seed: int = 0) -> Verdicts:
    p, verdicts = _pipeline()
    _feed(dict.fromkeys(records, p), records, lambda: 50, random.Random(seed))
    return verdicts


REFERENCE = _stream(7)
EXPECTED = _one(REFERENCE)


def test_the_stream_exercises_every_kind_of_verdict() -> None:
    reasons = {r for r in EXPECTED.values() if r is not None}
    assert "campaign" in reasons and len(reasons) >= 3, reasons
    flagged = sum(r is not None for r in EXPECTED.values())
    assert 0.2 * len(EXPECTED) < flagged < 0.8 * len(EXPECTED)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    groups=st.lists(st.integers(0, 2), min_size=PARTITIONS, max_size=PARTITIONS),
    seed=st.integers(0, 1000),
    max_batch=st.integers(1, 200),
)
def test_verdicts_are_the_same_at_any_grouping_of_partitions(
    groups: list[int], seed: int, max_batch: int
) -> None:
    owners = {g: _pipeline() for g in set(groups)}
    pipelines = {
        ("mentions", p): owners[g][0] for p, g in zip(range(PARTITIONS), groups, strict=True)
    }
    rng = random.Random(seed)
    _feed(pipelines, REFERENCE, lambda: rng.randint(1, max_batch), rng)
    merged: Verdicts = {}
    for _, verdicts in owners.values():
        merged |= verdicts
    assert merged == EXPECTED


def _kill_and_restore(
    records: Records, cut: dict[Source, int], lost: int, seed: int
) -> tuple[Verdicts, Verdicts]:
    """Snapshot every partition at ``cut``, go on ``lost`` records, die, restore elsewhere."""
    first, before = _pipeline()
    rng = random.Random(seed)
    _feed(dict.fromkeys(records, first), records, lambda: rng.randint(1, 60), rng, cut)
    saved = {s: first.signals.snapshot(s) for s in records}
    ahead = {s: min(len(records[s]), cut[s] + lost) for s in records}
    # Read on past the snapshot: these verdicts are lost with the process.
    for s in records:
        first.process_batch("mentions", records[s][cut[s] : ahead[s]], s, NOW)
    second, after = _pipeline()
    for s, blob in saved.items():
        resume = second.signals.restore(s, blob) + 1
        assert resume == cut[s]
        second.signals.replay(s, ahead[s])
    # The new owner re-reads from before the snapshot (a commit older than it): skipped.
    back = {s: records[s][max(0, cut[s] - 5) :] for s in records}
    _feed(dict.fromkeys(records, second), back, lambda: rng.randint(1, 60), rng)
    return before, after


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(share=st.floats(0.05, 0.95), lost=st.integers(0, 80), seed=st.integers(0, 1000))
def test_a_restored_snapshot_gives_the_verdicts_of_an_uninterrupted_run(
    share: float, lost: int, seed: int
) -> None:
    cut = {s: int(len(r) * share) for s, r in REFERENCE.items()}
    before, after = _kill_and_restore(REFERENCE, cut, lost, seed)
    assert {k: v for k, v in after.items() if k[1] < cut[k[0]]} == {}  # never judged again
    combined = {k: v for k, v in before.items() if k[1] < cut[k[0]]} | after
    assert combined == EXPECTED


def test_a_replay_below_the_committed_offset_counts_no_filtered_mention_twice() -> None:
    cut = {s: len(r) // 2 for s, r in REFERENCE.items()}
    first, _ = _pipeline()
    _feed(dict.fromkeys(REFERENCE, first), REFERENCE, lambda: 40, random.Random(1), cut)
    saved = {s: first.signals.snapshot(s) for s in REFERENCE}
    first_counts = _counts(first.signals)
    second, _ = _pipeline()
    for s, blob in saved.items():
        second.signals.restore(s, blob)
        second.signals.replay(s, len(REFERENCE[s]))  # all of it was counted by the first
    _feed(dict.fromkeys(REFERENCE, second), REFERENCE, lambda: 40, random.Random(1))
    assert sum(_counts(second.signals).values()) == 0
    assert sum(first_counts.values()) > 0


def _counts(signals: Signals) -> dict[tuple[str, str], int]:
    return {(b, r): n for b, rs in signals.filtered.items() for r, n in rs.items()}


def test_trends_and_campaigns_are_restored_with_the_partition() -> None:
    p, _ = _pipeline()
    _feed(dict.fromkeys(REFERENCE, p), REFERENCE, lambda: 50, random.Random(2))
    at = p.signals.event_time
    q, _ = _pipeline()
    for s in REFERENCE:
        q.signals.restore(s, p.signals.snapshot(s))
    assert q.signals.event_time == at
    assert [c.key for c in q.signals.campaigns()] == [c.key for c in p.signals.campaigns()]
    assert q.signals.campaigns()
    assert q.signals.trends_ready("a", at) == p.signals.trends_ready("a", at)
    assert q.signals.trends_of("a", at) == p.signals.trends_of("a", at)


def test_the_state_of_a_partition_is_bounded_by_the_settings() -> None:
    many = _stream(3, events=3000)
    p, _ = _pipeline()
    _feed(dict.fromkeys(many, p), many, lambda: 100, random.Random(0))
    sizes = [len(p.signals.snapshot(s)) for s in many]
    more = _stream(4, events=6000)
    q, _ = _pipeline()
    _feed(dict.fromkeys(more, q), more, lambda: 100, random.Random(0))
    # max_posts 150 and max_authors 100 per partition: twice the events, about the same state.
    assert max(len(q.signals.snapshot(s)) for s in more) < 1.5 * max(sizes)


def test_an_unknown_state_version_is_refused() -> None:
    p, _ = _pipeline()
    blob = p.signals.snapshot(("mentions", 0))
    with pytest.raises(ValueError, match="version"):
        Pipeline(SETTINGS, detector=DETECTOR).signals.restore(
            ("mentions", 0), blob.replace(b"\x01", b"\x09", 1)
        )
    with pytest.raises(ValueError, match="unreadable"):
        p.signals.restore(("mentions", 0), b"\xc1")
