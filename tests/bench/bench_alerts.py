"""Benchmark: alert quality of the in-service detector beside the Prometheus rules and 3 σ.

Synthetic per-minute traffic for many brands over two weeks (the first is history): volumes from
about 2 to 500 mentions a minute, daily and weekly seasonality, an evening peak, day-to-day level
noise, slow growth, Poisson noise on every (sentiment, platform) count. Planted in the second
week: incidents of four shapes (negative surge, volume spike, slow negative drift over hours, a
platform falling silent) and benign look-alikes (large positive launches, small clumps on
low-volume brands; the daily peak is there every day). Three detectors see the same minutes:

* (a) ``socialpulse.core.anomaly`` at its default settings, warmed with the first week;
* (b) the brand alerts of ``deploy/prometheus/rules/brand_alerts.yml`` (generated from the
  detector's default thresholds), re-implemented: 5 m window sums, the mean of the same time a
  day and a week ago (the one-day ``avg_over_time`` while a week is missing), the volume, lift
  and noise-score guards, ``for:`` and ``keep_firing_for:``, evaluated once a minute;
* (c) the classic peak detector: a 5 m sum (or share) above the mean + 3 σ of the trailing day
  (below mean − 3 σ for a platform's volume), held for the same persistence as (a).

An incident counts as detected when any alert of its brand fires from its start to 30 minutes
after its end; every other firing is a false alert. Run with ``make bench`` (or ``python
tests/bench/bench_alerts.py --help``); the output is deterministic for a seed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from socialpulse.core.anomaly.counts import MinuteCounts
from socialpulse.core.anomaly.detector import Detector
from socialpulse.settings import AnomalySettings

PLATFORMS = ("x", "instagram", "tiktok", "facebook", "reddit", "news")
MIX = np.array([0.4, 0.22, 0.15, 0.1, 0.08, 0.05])
DAY = 1440
WEEK = 7 * DAY
# Minute 0 is Monday 2026-01-05 00:00 UTC, so days, weeks and slots align with the calendar.
EPOCH_MINUTE = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp()) // 60
GRACE = 30  # minutes after an incident's end in which an alert still counts as its detection
SHAPES = ("negative_surge", "volume_spike", "slow_drift", "source_silent")
POS, NEU, NEG = 0, 1, 2

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Brand:
    """One synthetic brand: its mean rate, platform mix, sentiment and seasonality."""

    id: str
    rate: float
    mix: Floats
    positive: float
    negative: float
    peak_minute: int
    group: int


@dataclass(frozen=True)
class Event:
    """A planted incident or a benign look-alike on one brand, minutes [start, end)."""

    brand: int
    shape: str
    start: int
    end: int
    benign: bool
    platform: int = -1


@dataclass
class Alert:
    """One firing of a detector."""

    brand: int
    signal: str
    minute: int


@dataclass
class Result:
    """How one detector did."""

    name: str
    alerts: list[Alert]
    seconds: float
    detected: dict[int, int] = field(default_factory=dict)  # event index -> delay


def _brands(rng: np.random.Generator, n: int) -> list[Brand]:
    rates = np.geomspace(2, 500, n)
    out = []
    for i, rate in enumerate(rates):
        mix = rng.dirichlet(MIX * 40)
        out.append(
            Brand(
                id=f"brand{i:02d}",
                rate=float(rate),
                mix=mix,
                positive=float(rng.uniform(0.3, 0.5)),
                negative=float(rng.uniform(0.08, 0.2)),
                peak_minute=int(rng.integers(19 * 60, 21 * 60)),
                group=i % (n // 4),
            )
        )
    return out


def _level(rng: np.random.Generator, b: Brand, minutes: int) -> Floats:
    """Expected mentions per minute: daily curve, evening peak, weekends, level noise, growth."""
    t = np.arange(minutes)
    of_day = t % DAY
    diurnal = 1 + 0.6 * np.sin(2 * np.pi * (of_day / DAY - 0.3))
    peak = 1.2 * np.exp(-(((of_day - b.peak_minute) / 30.0) ** 2) / 2)
    weekend = np.where((t // DAY) % 7 >= 5, 0.7, 1.0)
    level = np.repeat(rng.lognormal(0, 0.05, minutes // DAY + 1), DAY)[:minutes]
    growth = 1 + rng.uniform(-0.05, 0.1) * t / WEEK
    curve: Floats = diurnal * (1 + peak) * weekend * level * growth
    return b.rate * curve / float(curve[:WEEK].mean())


def _plan(rng: np.random.Generator, brands: list[Brand], lam: list[Floats]) -> list[Event]:
    """Ten incidents of each shape and benign look-alikes in the second week, apart per brand."""
    busy: dict[int, list[tuple[int, int]]] = {}
    events: list[Event] = []

    def free(b: int, s: int, e: int) -> bool:
        return all(e + 240 < s0 or s > e0 + 240 for s0, e0 in busy.get(b, []))

    def place(shape: str, benign: bool, candidates: list[int], length: tuple[int, int]) -> None:
        for _ in range(10_000):
            b = int(rng.choice(candidates))
            s = int(rng.integers(WEEK + 60, 2 * WEEK - 480))
            e = s + int(rng.integers(*length))
            platform = -1
            if shape == "source_silent":
                platform = int(np.argmax(brands[b].mix))
                if lam[b][s] * brands[b].mix[platform] < 5:
                    continue
            if free(b, s, e):
                busy.setdefault(b, []).append((s, e))
                events.append(Event(b, shape, s, e, benign, platform))
                return
        raise RuntimeError(f"no room for {shape}")

    every = list(range(len(brands)))
    for _ in range(10):
        place("negative_surge", False, every, (45, 120))
        place("volume_spike", False, every, (20, 90))
        place("slow_drift", False, [i for i, b in enumerate(brands) if b.rate >= 20], (240, 420))
        place("source_silent", False, [i for i, b in enumerate(brands) if b.rate >= 15], (60, 180))
    for _ in range(8):
        place("positive_launch", True, every, (120, 240))
    for _ in range(10):
        place("low_volume_clump", True, [i for i, b in enumerate(brands) if b.rate <= 6], (3, 4))
    return events


def _traffic(
    rng: np.random.Generator, brands: list[Brand], events: list[Event], lam: list[Floats]
) -> list[Ints]:
    """Counts per brand: minutes × (positive, neutral, negative) × platforms, Poisson."""
    out = []
    for i, b in enumerate(brands):
        level = lam[i]
        minutes = len(level)
        of_day = np.arange(minutes) % DAY
        neg = b.negative * (1 + 0.15 * np.sin(2 * np.pi * (of_day / DAY - 0.6)))
        shares = np.stack([np.full(minutes, b.positive), 1 - b.positive - neg, neg], axis=1)
        rates = level[:, None] * shares
        for ev in (e for e in events if e.brand == i):
            s, e = ev.start, ev.end
            if ev.shape == "negative_surge":
                rates[s:e, NEG] += np.maximum(0.8 * level[s:e], 4.0)
            elif ev.shape == "volume_spike":
                factor = np.maximum(rng.uniform(3, 6), 1 + 8 / level[s:e])
                rates[s:e] *= factor[:, None]
            elif ev.shape == "slow_drift":
                ramp = np.minimum(1.0, np.arange(e - s) / (e - s - 60)) * 0.3
                total = rates[s:e].sum(axis=1)
                rest = 1 - (shares[s:e, NEG] + ramp)
                old_rest = shares[s:e, POS] + shares[s:e, NEU]
                rates[s:e, POS] = total * shares[s:e, POS] / old_rest * rest
                rates[s:e, NEU] = total * shares[s:e, NEU] / old_rest * rest
                rates[s:e, NEG] = total * (shares[s:e, NEG] + ramp)
            elif ev.shape == "positive_launch":
                extra = (rng.uniform(2, 4)) * level[s:e]
                rates[s:e, POS] += 0.85 * extra
                rates[s:e, NEU] += 0.15 * extra
            elif ev.shape == "low_volume_clump":
                rates[s:e] += 5 * shares[s:e]
        by_platform = rates[:, :, None] * b.mix[None, None, :]
        for ev in (e for e in events if e.brand == i and e.shape == "source_silent"):
            by_platform[ev.start : ev.end, :, ev.platform] = 0
        out.append(rng.poisson(by_platform).astype(np.int64))
    return out


def _minute_counts(
    brands: list[Brand], counts: list[Ints], voice: Ints, minute: int
) -> Iterator[MinuteCounts]:
    for i, b in enumerate(brands):
        c = counts[i][minute]
        sentiment = c.sum(axis=1)
        yield MinuteCounts(
            brand=b.id,
            minute=EPOCH_MINUTE + minute,
            positive=int(sentiment[POS]),
            neutral=int(sentiment[NEU]),
            negative=int(sentiment[NEG]),
            by_platform={p: int(n) for p, n in zip(PLATFORMS, c.sum(axis=0), strict=True) if n},
            voice_set=int(voice[minute, i]),
        )


def _voice(brands: list[Brand], counts: list[Ints]) -> Ints:
    """Mentions of each brand's competitive set (the brands of its group) per minute."""
    totals = np.stack([c.sum(axis=(1, 2)) for c in counts], axis=1)
    out = np.zeros_like(totals)
    for i, b in enumerate(brands):
        group = [j for j, o in enumerate(brands) if o.group == b.group]
        out[:, i] = totals[:, group].sum(axis=1)
    return out


def run_detector(brands: list[Brand], counts: list[Ints], voice: Ints) -> Result:
    """(a): warm with the first week, then one step per minute of the second."""
    t0 = time.perf_counter()
    detector = Detector(AnomalySettings(), [b.id for b in brands])
    history = (c for m in range(WEEK) for c in _minute_counts(brands, counts, voice, m))
    detector.warm(history, EPOCH_MINUTE, EPOCH_MINUTE + WEEK)
    index = {b.id: i for i, b in enumerate(brands)}
    alerts = []
    for m in range(WEEK, 2 * WEEK):
        ev = detector.step(EPOCH_MINUTE + m, _minute_counts(brands, counts, voice, m))
        for t in ev.transitions:
            if t.state == "firing":
                alerts.append(Alert(index[t.brand], t.signal, t.minute - EPOCH_MINUTE))
    return Result("(a) socialpulse detector", alerts, time.perf_counter() - t0)


def _sum5(x: Floats) -> Floats:
    c = np.concatenate([[0.0], np.cumsum(x)])
    out = np.full(len(x), np.nan)
    out[4:] = c[5:] - c[:-5]
    return out


def _sentiment5(c: Ints) -> tuple[Floats, Floats, Floats]:
    """Positive, neutral and negative mentions of the 5 m window ending at each minute."""
    s = c.sum(axis=2).astype(float)
    return _sum5(s[:, POS]), _sum5(s[:, NEU]), _sum5(s[:, NEG])


def _avg(x: Floats, n: int) -> Floats:
    """Mean of the last ``n`` samples, current included (Prometheus ``avg_over_time``)."""
    ok = ~np.isnan(x)
    c = np.concatenate([[0.0], np.cumsum(np.where(ok, x, 0.0))])
    k = np.concatenate([[0], np.cumsum(ok)])
    out = np.full(len(x), np.nan)
    num, cnt = c[n:] - c[:-n], k[n:] - k[:-n]
    out[n - 1 :] = np.where(cnt > 0, num / np.maximum(cnt, 1), np.nan)
    return out


def _episodes(cond: npt.NDArray[np.bool_], hold: int, keep: int = 0) -> list[int]:
    """Minutes an alert fires: ``cond`` held ``hold`` consecutive evaluations; one per run.

    A firing alert stays firing ``keep`` minutes after ``cond`` clears (``keep_firing_for``): a
    run that starts while it still fires is the same alert.
    """
    fired, run, last_true, firing = [], 0, -(10**9), False
    for m, c in enumerate(cond.tolist()):
        if firing and not c and m - last_true > keep:
            firing = False
        run = run + 1 if c else 0
        if c:
            last_true = m
        if run == hold and not firing:
            fired.append(m)
        if run >= hold:
            firing = True
    return fired


def _seasonal(x: Floats, fallback: Floats) -> Floats:
    """The mean of ``x`` a day and a week ago where both exist, else ``fallback`` (``or``)."""
    both = np.full(len(x), np.nan)
    both[WEEK:] = 0.5 * (x[WEEK - DAY : -DAY] + x[:-WEEK])
    return np.where(np.isnan(both), fallback, both)


def _ratio(num: Floats, den: Floats) -> Floats:
    """``num / (den > 0)``: no value where the denominator is 0."""
    return num / np.where(den > 0, den, np.nan)


def run_prometheus(brands: list[Brand], counts: list[Ints]) -> Result:
    """(b): the brand alerts of brand_alerts.yml (default thresholds), evaluated once a minute."""
    s = AnomalySettings()
    t0 = time.perf_counter()
    alerts = []
    k, floor2 = s.threshold, s.min_ratio_spread**2
    with np.errstate(invalid="ignore", divide="ignore"):
        for i, c in enumerate(counts):
            pos5, neu5, neg5 = _sentiment5(c)
            all5 = pos5 + neu5 + neg5
            polar = pos5 + neg5
            p_avg, n_avg, a_avg = _avg(pos5, DAY), _avg(neg5, DAY), _avg(all5, DAY)
            share, pshare = _ratio(neg5, all5), _ratio(pos5, all5)
            net = _ratio(pos5 - neg5, polar)
            share_b = _seasonal(share, _ratio(n_avg, a_avg))
            pshare_b = _seasonal(pshare, _ratio(p_avg, a_avg))
            net_b = _seasonal(net, _ratio(p_avg - n_avg, p_avg + n_avg))
            vol_b = _seasonal(all5, a_avg)
            neg_spike = (
                (share >= (1 + s.min_share_lift) * share_b)
                & (share >= share_b + s.min_share_delta)
                & (share >= share_b + k * np.sqrt(share_b * (1 - share_b) / all5 + floor2))
                & (all5 >= s.min_sentiment_mentions)
            )
            net_drop = (
                (net <= net_b - s.min_net_sentiment_drop)
                & (net <= net_b - k * np.sqrt((1 - net_b**2) / polar + floor2))
                & (polar >= s.min_sentiment_mentions)
            )
            spread = s.min_relative_spread * vol_b
            volume = (
                (all5 >= (1 + s.min_volume_lift) * vol_b)
                & (all5 >= vol_b + k * np.sqrt(np.maximum(vol_b, 1) + spread**2))
                & (all5 >= s.min_volume)
            )
            if not s.alert_on_positive_surge:
                volume &= ~(pshare >= pshare_b + s.positive_surge_margin)
            # `for: 3m` with evaluations a minute apart: 4 consecutive true evaluations.
            hold = s.persistence_minutes + 1
            for name, cond in (
                ("SocialpulseNegativeSentimentSpike", neg_spike),
                ("SocialpulseNetSentimentDrop", net_drop),
                ("SocialpulseMentionVolumeSpike", volume),
            ):
                week2 = cond.copy()
                week2[: WEEK - hold + 1] = False
                fired = _episodes(week2, hold, keep=s.resolve_minutes)
                alerts += [Alert(i, name, m) for m in fired if m >= WEEK]
    return Result("(b) Prometheus rules", alerts, time.perf_counter() - t0)


def _trailing(x: Floats, n: int, lag: int) -> tuple[Floats, Floats]:
    """Mean and standard deviation of the ``n`` samples ending ``lag`` before each one."""
    ok = ~np.isnan(x)
    v = np.where(ok, x, 0.0)
    c1 = np.concatenate([[0.0], np.cumsum(v)])
    c2 = np.concatenate([[0.0], np.cumsum(v * v)])
    k = np.concatenate([[0], np.cumsum(ok)]).astype(float)
    mean = np.full(len(x), np.nan)
    sd = np.full(len(x), np.nan)
    hi = np.arange(len(x)) - lag + 1
    lo = hi - n
    good = lo >= 0
    cnt = k[hi[good]] - k[lo[good]]
    m = (c1[hi[good]] - c1[lo[good]]) / np.maximum(cnt, 1)
    var = (c2[hi[good]] - c2[lo[good]]) / np.maximum(cnt, 1) - m * m
    mean[good] = np.where(cnt > 1, m, np.nan)
    sd[good] = np.sqrt(np.maximum(var, 0))
    return mean, sd


def run_three_sigma(brands: list[Brand], counts: list[Ints], hold: int) -> Result:
    """(c): mean + 3 σ of the trailing day of the same 5 m series, held ``hold`` minutes."""
    t0 = time.perf_counter()
    alerts = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for i, c in enumerate(counts):
            pos5, neu5, neg5 = _sentiment5(c)
            all5 = pos5 + neu5 + neg5
            polar = pos5 + neg5
            series: list[tuple[str, Floats, int]] = [
                ("mention_volume", all5, 1),
                ("negative_share", neg5 / np.where(all5 > 0, all5, np.nan), 1),
                ("net_sentiment", (pos5 - neg5) / np.where(polar > 0, polar, np.nan), -1),
            ]
            plat = c.sum(axis=1).astype(float)
            for p, name in enumerate(PLATFORMS):
                x = _sum5(plat[:, p])
                series += [(f"platform_volume:{name}", x, 1), (f"source_silent:{name}", x, -1)]
            for name, x, sign in series:
                mean, sd = _trailing(x, DAY, 6)
                cond = np.nan_to_num(sign * (x - mean) > 3 * sd, nan=False) & (sd > 0)
                cond[:WEEK] = False
                alerts += [Alert(i, name, m) for m in _episodes(cond, hold)]
    return Result("(c) mean + 3 sigma", alerts, time.perf_counter() - t0)


def score(result: Result, events: list[Event]) -> list[Alert]:
    """Match alerts to incidents; the unmatched ones are false alerts."""
    false = []
    for a in result.alerts:
        hit = False
        for k, ev in enumerate(events):
            if ev.benign or ev.brand != a.brand or not ev.start <= a.minute <= ev.end + GRACE:
                continue
            hit = True
            delay = a.minute - ev.start
            result.detected[k] = min(delay, result.detected.get(k, delay))
        if not hit:
            false.append(a)
    return false


def _cause(a: Alert, brands: list[Brand], events: list[Event]) -> str:
    for ev in events:
        if ev.benign and ev.brand == a.brand and ev.start <= a.minute <= ev.end + GRACE:
            return ev.shape
    group = brands[a.brand].group
    if a.signal == "share_of_voice" and any(
        brands[ev.brand].group == group and ev.start <= a.minute <= ev.end + GRACE for ev in events
    ):
        return "competitor"  # a rival's surge really did take the brand's voice
    if abs(a.minute % DAY - brands[a.brand].peak_minute) <= 90:
        return "daily_peak"
    return "noise"


def main() -> None:
    """Generate, run the three detectors, print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20260105)
    parser.add_argument("--brands", type=int, default=24)
    args = parser.parse_args()
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    brands = _brands(rng, args.brands)
    lam = [_level(rng, b, 2 * WEEK) for b in brands]
    events = _plan(rng, brands, lam)
    counts = _traffic(rng, brands, events, lam)
    voice = _voice(brands, counts)
    generated = time.perf_counter() - t0
    results = [
        run_detector(brands, counts, voice),
        run_prometheus(brands, counts),
        run_three_sigma(brands, counts, AnomalySettings().persistence_minutes),
    ]
    incidents = [k for k, e in enumerate(events) if not e.benign]
    benign = [e for e in events if e.benign]
    print(  # noqa: T201
        f"seed {args.seed}: {len(brands)} brands ({brands[0].rate:.0f} to {brands[-1].rate:.0f} "
        f"mentions/min on average), 14 days per minute (days 1-7 history, 8-14 scored), "
        f"{len(incidents)} incidents, {len(benign)} benign look-alikes plus a daily peak; "
        f"generated in {generated:.1f} s"
    )
    head = (
        f"{'detector':<26} {'detected':>9} {'false/brand-week':>17} {'median delay':>13} "
        + " ".join(f"{s:>15}" for s in SHAPES)
        + f" {'false: launch/clump/peak/rival/noise':>37} {'time':>7}"
    )
    print(head)  # noqa: T201
    print("-" * len(head))  # noqa: T201
    for r in results:
        false = score(r, events)
        hit = [k for k in incidents if k in r.detected]
        delays = [r.detected[k] for k in hit]
        median = f"{statistics.median(delays):.0f} min" if delays else "-"
        per_shape = []
        for shape in SHAPES:
            ks = [k for k in incidents if events[k].shape == shape]
            got = [r.detected[k] for k in ks if k in r.detected]
            med = f" ({statistics.median(got):.0f}m)" if got else ""
            per_shape.append(f"{len(got):>2}/{len(ks)}{med:>7}")
        causes = [_cause(a, brands, events) for a in false]
        split = "/".join(
            str(causes.count(c))
            for c in ("positive_launch", "low_volume_clump", "daily_peak", "competitor", "noise")
        )
        print(  # noqa: T201
            f"{r.name:<26} {100 * len(hit) / len(incidents):>8.1f}% "
            f"{len(false) / len(brands):>17.2f} {median:>13} "
            + " ".join(f"{p:>15}" for p in per_shape)
            + f" {split:>37} {r.seconds:>6.1f}s"
        )
    print(  # noqa: T201
        "detected: incidents with an alert of their brand from start to 30 min after the end; "
        "delay: first such alert - start; per shape: detected/planted (median delay); false "
        "alerts by cause (rival: share of voice lost while a competitor surged, counted as false)"
    )


if __name__ == "__main__":
    main()
