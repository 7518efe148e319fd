"""The spike detector: each rule, its state across a restore, and its behaviour on noise."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialpulse.core.anomaly.counts import MinuteCounts, minute_counts
from socialpulse.core.anomaly.detector import (
    SIGNALS,
    Detector,
    Transition,
    decode_snapshot,
    encode_snapshot,
    incident_key,
)
from socialpulse.core.windows.bucket import Bucket
from socialpulse.settings import AnomalySettings, BrandSettings

T0 = 20_000 * 1440  # an epoch minute at midnight UTC
DAY = 1440
# Short baselines so a rule test needs a day or two of history, not weeks.
QUICK = AnomalySettings(slot_minutes=60, baseline_days=1, baseline_weeks=0, warmup_days=1)


def counts(
    minute: int,
    pos: int = 4,
    neu: int = 4,
    neg: int = 2,
    *,
    platforms: dict[str, int] | None = None,
    voice_set: int = 0,
    brand: str = "a",
) -> MinuteCounts:
    """One minute of a steady brand: 40 % on instagram, the rest on x unless told."""
    total = pos + neu + neg
    if platforms is None:
        platforms = {"x": total - total * 2 // 5, "instagram": total * 2 // 5}
    return MinuteCounts(
        brand=brand,
        minute=minute,
        positive=pos,
        neutral=neu,
        negative=neg,
        by_platform={p: n for p, n in platforms.items() if n},
        voice_set=voice_set,
    )


def warmed(s: AnomalySettings = QUICK, days: int = 1, **kw: Any) -> Detector:
    """A detector that has seen ``days`` of the steady brand."""
    d = Detector(s, ["a"])
    end = T0 + days * DAY
    d.warm((counts(m, **kw) for m in range(T0, end)), T0, end)
    return d


def run(d: Detector, start: int, minutes: int, **kw: Any) -> list[Transition]:
    """Feed ``minutes`` minutes of the brand from ``start``; the transitions they caused."""
    out: list[Transition] = []
    for m in range(start, start + minutes):
        out += d.step(m, [counts(m, **kw)]).transitions
    return out


def fired(ts: list[Transition]) -> dict[str, Transition]:
    return {t.signal: t for t in ts if t.state == "firing"}


SPIKE: dict[str, Any] = {"pos": 20, "neu": 20, "neg": 10}  # five times the steady brand, same mix


# -- the rules ----------------------------------------------------------------------------------


def test_a_breach_must_persist_before_it_fires() -> None:
    # A one-minute window, so the breach lasts exactly as long as the spike.
    s = QUICK.model_copy(update={"window_minutes": 1})
    d = warmed(s)
    start = T0 + DAY
    short = run(d, start, s.persistence_minutes - 1, **SPIKE)
    assert short == []
    run(d, start + s.persistence_minutes - 1, 30)  # back to normal: the window empties
    d2 = warmed(s)
    ts = run(d2, start, s.persistence_minutes + 2, **SPIKE)
    first = fired(ts)["mention_volume"]
    assert first.started_minute == start
    assert first.minute == start + s.persistence_minutes - 1
    assert first.observed > first.upper > first.expected > first.lower
    assert first.score >= s.threshold


def test_nothing_fires_during_warm_up() -> None:
    s = QUICK.model_copy(update={"warmup_days": 2})
    d = warmed(s, days=1)
    early = run(d, T0 + DAY, 10, **SPIKE)
    assert early == []
    # The baseline exists (a day of history): the score says so, the alert waits.
    scores = d.step(T0 + DAY + 10, [counts(T0 + DAY + 10, **SPIKE)]).scores
    assert scores["a"]["mention_volume"] >= s.threshold
    d = warmed(s, days=2)
    assert "mention_volume" in fired(run(d, T0 + 2 * DAY, 10, **SPIKE))


def test_resolve_then_cooldown_then_a_new_incident() -> None:
    s = QUICK.model_copy(update={"cooldown_minutes": 30, "resolve_minutes": 5})
    d = warmed(s)
    t = T0 + DAY
    first = run(d, t, 10, **SPIKE)
    t += 10
    calm = run(d, t, 20)
    t += 20
    resolved = [x for x in calm if x.state == "resolved" and x.signal == "mention_volume"]
    assert len(resolved) == 1
    assert resolved[0].key == fired(first)["mention_volume"].key
    # Within the cooldown the same signal stays quiet, however hard it breaches.
    assert "mention_volume" not in fired(run(d, t, 10, **SPIKE))
    t += 10
    run(d, t, 30)
    t += 30
    again = fired(run(d, t, 10, **SPIKE))["mention_volume"]
    assert again.key != fired(first)["mention_volume"].key
    assert t <= again.started_minute < t + 10


def test_direction_a_positive_launch_is_not_a_crisis_unless_configured() -> None:
    launch: dict[str, Any] = {"pos": 44, "neu": 4, "neg": 2}
    d = warmed()
    assert fired(run(d, T0 + DAY, 15, **launch)) == {}
    d = warmed()
    happier = run(d, T0 + DAY, 15, pos=8, neu=2, neg=0)  # negative share down, net up
    assert fired(happier) == {}
    loud = QUICK.model_copy(update={"alert_on_positive_surge": True})
    d = warmed(loud)
    assert {"mention_volume", "platform_volume:x"} <= set(fired(run(d, T0 + DAY, 15, **launch)))


def test_a_negative_surge_fires_negative_share_and_net_sentiment() -> None:
    d = warmed()
    ts = fired(run(d, T0 + DAY, 15, pos=4, neu=4, neg=12))
    assert {"negative_share", "net_sentiment"} <= set(ts)
    share = ts["negative_share"]
    assert share.expected == pytest.approx(0.2)
    assert share.observed > share.upper


def test_minimum_volume_and_minimum_lift() -> None:
    quiet: dict[str, Any] = {"pos": 0, "neu": 1, "neg": 0}
    d = warmed(**quiet)
    # Five times a brand of one mention a minute: 25 in the window, under min_volume (30).
    assert fired(run(d, T0 + DAY, 15, pos=0, neu=5, neg=0)) == {}
    d = warmed(**quiet)
    assert "mention_volume" in fired(run(d, T0 + DAY, 15, pos=0, neu=7, neg=0))
    # A 50 % rise of a big brand is far outside its Poisson noise, but short of the 2× lift.
    # (Three identical days: no day-to-day spread, so only Poisson noise is allowed for.)
    exact = QUICK.model_copy(update={"min_relative_spread": 0.0, "baseline_days": 3})
    big: dict[str, Any] = {"pos": 80, "neu": 80, "neg": 40}
    rise: dict[str, Any] = {"pos": 120, "neu": 120, "neg": 60}
    d = warmed(exact, days=3, **big)
    assert fired(run(d, T0 + 3 * DAY, 15, **rise)) == {}
    assert (
        d.step(T0 + 3 * DAY + 15, [counts(T0 + 3 * DAY + 15, **rise)]).scores["a"]["mention_volume"]
        > 3 * exact.threshold
    )
    lower = exact.model_copy(update={"min_volume_lift": 0.4})
    d = warmed(lower, days=3, **big)
    assert "mention_volume" in fired(run(d, T0 + 3 * DAY, 15, **rise))


def test_a_source_that_goes_quiet_is_source_silent() -> None:
    mix = {"x": 6, "instagram": 4}
    d = warmed(platforms=mix)
    ts = run(d, T0 + DAY, 15, pos=2, neu=2, neg=2, platforms={"x": 6})
    silent = fired(ts)
    assert set(silent) == {"source_silent:instagram"}
    # 30 expected at 4 a minute: 8 minutes of silence, then the persistence.
    assert silent["source_silent:instagram"].minute == T0 + DAY + 7 + QUICK.persistence_minutes - 1
    # A platform with one mention every ten minutes cannot show silence within the hour.
    sparse = Detector(QUICK, ["a"])
    rows = [
        counts(m, platforms={"x": 9, "reddit": 1} if m % 10 == 0 else {"x": 10})
        for m in range(T0, T0 + DAY)
    ]
    sparse.warm(rows, T0, T0 + DAY)
    assert fired(run(sparse, T0 + DAY, 120, platforms={"x": 10})) == {}


def test_share_of_voice_drop_when_a_rival_takes_the_conversation() -> None:
    d = warmed(voice_set=20)  # half the set's mentions are the brand's
    ts = fired(run(d, T0 + DAY, 15, voice_set=60))
    assert set(ts) == {"share_of_voice"}
    voice = ts["share_of_voice"]
    assert voice.expected == pytest.approx(0.5)
    assert 10 / 60 <= voice.observed < voice.lower


# -- state, restore, idempotency ----------------------------------------------------------------


def test_the_key_is_stable_across_a_snapshot_restore_and_replay_never_fires_twice() -> None:
    s = QUICK
    start = T0 + DAY
    straight = warmed(s)
    reference = fired(run(straight, start, 10, **SPIKE))["mention_volume"]
    assert reference.key == incident_key("a", "mention_volume", reference.started_minute)

    # Snapshot mid-persistence: the restored detector fires the same incident, same key.
    d = warmed(s)
    run(d, start, 1, **SPIKE)
    restored = Detector.restore(s, decode_snapshot(encode_snapshot(d.snapshot())))
    after = fired(run(restored, start + 1, 9, **SPIKE))["mention_volume"]
    assert (after.key, after.minute, after.started_minute) == (
        reference.key,
        reference.minute,
        reference.started_minute,
    )

    # Snapshot taken after the firing: re-feeding minutes already seen yields nothing, and the
    # open incident neither fires again nor loses its key when it resolves.
    snap = encode_snapshot(straight.snapshot())
    again = Detector.restore(s, decode_snapshot(snap))
    assert run(again, start, 10, **SPIKE) == []
    later = run(again, start + 10, 30)
    assert [(t.state, t.key) for t in later if t.signal == "mention_volume"] == [
        ("resolved", reference.key)
    ]

    # Another worker with the same history computes the same key.
    other = warmed(s)
    assert fired(run(other, start, 10, **SPIKE))["mention_volume"].key == reference.key


def test_a_snapshot_with_other_slots_is_refused() -> None:
    snap = warmed().snapshot()
    with pytest.raises(ValueError, match="60-minute slots"):
        Detector.restore(QUICK.model_copy(update={"slot_minutes": 30}), snap)


def test_scores_cover_only_bounded_signals() -> None:
    d = warmed()
    ev = d.step(T0 + DAY, [counts(T0 + DAY)])
    assert set(ev.scores["a"]) <= set(SIGNALS)
    assert {"mention_volume", "negative_share", "net_sentiment"} <= set(ev.scores["a"])


# -- input ----------------------------------------------------------------------------------


def test_minute_counts_sum_partitions_and_count_the_competitive_set() -> None:
    brands = [
        BrandSettings(id="a", name="A", terms=("a",), competitors=("b",)),
        BrandSettings(id="b", name="B", terms=("b",)),
        BrandSettings(id="c", name="C", terms=("c",)),
    ]
    one = Bucket(positive=2, negative=1, mentions_by_platform={"x": 3})
    two = Bucket(neutral=1, mentions_by_platform={"reddit": 1})
    other = Bucket(positive=4, mentions_by_platform={"x": 4})
    out = minute_counts(7, {"a": [one, two], "b": [other]}, brands)
    assert out["a"] == MinuteCounts(
        brand="a",
        minute=7,
        positive=2,
        neutral=1,
        negative=1,
        by_platform={"x": 3, "reddit": 1},
        voice_set=8,
    )
    assert out["b"].voice_set == 0  # no competitors configured: no share of voice
    assert out["c"].mentions == 0


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"positive": -1, "by_platform": {}}, "≥ 0"),
        ({"positive": 1, "by_platform": {"myspace": 1}}, "unknown platforms"),
        ({"positive": 2, "by_platform": {"x": 1}}, "add up"),
        ({"positive": 2, "by_platform": {"x": 2}, "voice_set": 1}, "fewer mentions"),
    ],
)
def test_impossible_counts_are_refused(kw: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        MinuteCounts(brand="a", minute=0, **kw)


def test_slot_length_must_divide_a_day() -> None:
    with pytest.raises(ValueError, match="divide 1440"):
        AnomalySettings(slot_minutes=7)


# -- noise and spikes ---------------------------------------------------------------------------


def noisy(
    seed: int, rate: float, days: int, spike: tuple[int, int] | None = None
) -> Iterator[MinuteCounts]:
    """Poisson traffic with a daily curve and quieter weekends; ``spike``: (minute, length) ×5."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * DAY)
    curve = (1 + 0.5 * np.sin(2 * np.pi * (t % DAY) / DAY)) * np.where((t // DAY) % 7 >= 5, 0.8, 1)
    lam = rate * curve[:, None, None] * np.array([0.4, 0.45, 0.15])[:, None] * [0.6, 0.3, 0.1]
    if spike is not None:
        lam[spike[0] : spike[0] + spike[1]] *= 5
    c = rng.poisson(lam)
    platforms = ("x", "instagram", "reddit")
    for m in range(len(t)):
        s = c[m].sum(axis=1)
        yield MinuteCounts(
            brand="a",
            minute=T0 + m,
            positive=int(s[0]),
            neutral=int(s[1]),
            negative=int(s[2]),
            by_platform={p: int(n) for p, n in zip(platforms, c[m].sum(axis=0), strict=True) if n},
        )


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rate=st.sampled_from([2.0, 20.0, 300.0]))
def test_pure_noise_at_steady_seasonality_raises_no_alert_in_a_week(seed: int, rate: float) -> None:
    s = AnomalySettings()
    rows = list(noisy(seed, rate, 14))
    d = Detector(s, ["a"])
    d.warm(rows[: 7 * DAY], T0, T0 + 7 * DAY)
    alerts = [t for row in rows[7 * DAY :] for t in d.step(row.minute, [row]).transitions]
    assert alerts == []


@settings(max_examples=6, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rate=st.sampled_from([20.0, 80.0, 300.0]),
    at=st.integers(0, DAY - 60),
)
def test_a_five_fold_spike_is_found_within_the_persistence_time(
    seed: int, rate: float, at: int
) -> None:
    s = AnomalySettings()
    start = 7 * DAY + at
    rows = list(noisy(seed, rate, 8, spike=(start, 30)))
    d = Detector(s, ["a"])
    d.warm(rows[: 7 * DAY], T0, T0 + 7 * DAY)
    found = None
    for row in rows[7 * DAY : start + 30]:
        ts = fired(list(d.step(row.minute, [row]).transitions))
        if "mention_volume" in ts:
            found = ts["mention_volume"]
            break
    assert found is not None
    assert found.minute - (T0 + start) <= s.persistence_minutes
