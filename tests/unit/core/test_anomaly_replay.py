"""A history read back without scores leaves the detector exactly as scoring every minute does."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
import numpy as np
import pytest

# The alert benchmark's generators: seasonal traffic with planted incidents.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from bench_alerts import (  # noqa: E402
    DAY,
    EPOCH_MINUTE,
    WEEK,
    _brands,
    _level,
    _minute_counts,
    _plan,
    _traffic,
    _voice,
)

from socialpulse.core.anomaly.counts import MinuteCounts  # noqa: E402
from socialpulse.core.anomaly.detector import Detector, Transition  # noqa: E402
from socialpulse.settings import AnomalySettings  # noqa: E402

# Short baselines and a short cooldown: incidents, resolves and cooldowns within a few days.
QUICK = AnomalySettings(
    slot_minutes=60, baseline_days=1, baseline_weeks=0, warmup_days=1, cooldown_minutes=20
)
PLATFORMS = ("x", "instagram", "reddit")


def _state(d: Detector) -> bytes:
    return msgspec.msgpack.encode(d.snapshot())


def _traffic_with_incidents(seed: int, days: int) -> list[list[MinuteCounts]]:
    """Three brands with a daily curve; surges, spikes, repeats in cooldown, a silent source."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * DAY)
    curve = 1 + 0.5 * np.sin(2 * np.pi * (t % DAY) / DAY)
    out: list[list[MinuteCounts]] = [[] for _ in t]
    for b, rate in enumerate((3.0, 40.0, 250.0)):
        lam = rate * curve[:, None, None] * np.array([0.4, 0.45, 0.15])[:, None] * [0.6, 0.3, 0.1]
        for _ in range(12):
            start = int(rng.integers(DAY, days * DAY - 200))
            length = int(rng.integers(3, 120))
            shape = rng.integers(3)
            span = slice(start, start + length)
            if shape == 0:
                lam[span] *= rng.uniform(2, 8)  # a volume spike
            elif shape == 1:
                lam[span, 2] += max(rate, 5.0) * 0.3  # a negative surge
            else:
                lam[span, :, 0] = 0  # x falls silent
        c = rng.poisson(lam)
        for m in range(len(t)):
            s = c[m].sum(axis=1)
            per = c[m].sum(axis=0)
            out[m].append(
                MinuteCounts(
                    brand=f"b{b}",
                    minute=EPOCH_MINUTE + m,
                    positive=int(s[0]),
                    neutral=int(s[1]),
                    negative=int(s[2]),
                    by_platform={p: int(n) for p, n in zip(PLATFORMS, per, strict=True) if n},
                    voice_set=int(c[m].sum()) + 10 * (m % 7),
                )
            )
    return out


def _both(
    s: AnomalySettings, minutes: list[list[MinuteCounts]], replayed: int, brands: list[str]
) -> tuple[list[Transition], list[Transition]]:
    """Transitions of the slow path and of the replay path (``replayed`` minutes unscored).

    Asserts on the way that both detectors hold the same state at every day's end and at the
    end of the history.
    """
    slow, fast = Detector(s, brands), Detector(s, brands)
    t_slow: list[Transition] = []
    t_fast: list[Transition] = []
    for m, cs in enumerate(minutes):
        minute = cs[0].minute
        t_slow += slow.step(minute, cs).transitions
        replay = fast.step(minute, cs, scores=m >= replayed)
        if m < replayed:
            assert replay.scores == {}
        t_fast += replay.transitions
        if m % DAY == DAY - 1 or m == replayed - 1:
            assert _state(fast) == _state(slow), f"state differs after minute {m}"
    assert slow.window_mix(brands[0]) == fast.window_mix(brands[0])
    return t_slow, t_fast


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_replay_without_scores_keeps_state_and_later_alerts_identical(seed: int) -> None:
    minutes = _traffic_with_incidents(seed, 4)
    t_slow, t_fast = _both(QUICK, minutes, 3 * DAY + 7, ["b0", "b1", "b2"])
    states = {t.state for t in t_slow}
    assert states == {"firing", "resolved"}  # the traffic exercises incidents and cooldowns
    assert {t.signal.split(":")[0] for t in t_slow} >= {"mention_volume", "source_silent"}
    assert t_fast == t_slow
    assert [t for t in t_fast if t.minute >= EPOCH_MINUTE + 3 * DAY + 7]  # alerts afterwards


@pytest.mark.slow
def test_replay_of_the_alert_benchmarks_traffic_at_default_thresholds() -> None:
    """Two weeks of seasonal traffic with every planted incident shape, default settings."""
    rng = np.random.default_rng(20260105)
    brands = _brands(rng, 8)
    lam = [_level(rng, b, 2 * WEEK) for b in brands]
    events = _plan(rng, brands, lam)
    counts = _traffic(rng, brands, events, lam)
    voice = _voice(brands, counts)
    minutes = [list(_minute_counts(brands, counts, voice, m)) for m in range(2 * WEEK)]
    t_slow, t_fast = _both(AnomalySettings(), minutes, WEEK + 3 * DAY, [b.id for b in brands])
    assert any(t.state == "firing" for t in t_slow)
    assert t_fast == t_slow
