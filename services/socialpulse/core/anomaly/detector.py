"""The detector: per brand and signal, scores every minute and turns breaches into incidents.

``Detector.step(minute, counts)`` is fed each closed minute's totals of every brand and returns
the scores of that minute and the ``firing``/``resolved`` transitions. A breach must hold for
``persistence_minutes`` consecutive minutes to fire, an incident resolves after
``resolve_minutes`` clear ones, and the same brand and signal then stays quiet for
``cooldown_minutes``. Nothing fires before a brand has ``warmup_days`` of history.

An incident's idempotency key hashes the brand, the signal and the minute its breach began, so
evaluating the same minutes again (after a restore, on another worker, in a replay) yields the
same key and a notifier can drop the repeat. The whole state is a msgspec snapshot.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Literal, NamedTuple

import msgspec

from socialpulse.core.anomaly import rules
from socialpulse.core.anomaly.baseline import (
    MINUTES_PER_DAY,
    BrandHistory,
    Expectation,
    expectation,
    history_minutes,
    new_history,
    observe,
)
from socialpulse.core.anomaly.counts import (
    NEGATIVE,
    PLATFORM_INDEX,
    POSITIVE,
    VOICE_SET,
    WIDTH,
    MinuteCounts,
    scored,
    volume,
)
from socialpulse.core.anomaly.rules import Reading
from socialpulse.core.events import PLATFORMS
from socialpulse.settings import AnomalySettings

SNAPSHOT_VERSION: Final = 1
BRAND_SIGNALS: Final[tuple[str, ...]] = (
    "negative_share",
    "net_sentiment",
    "mention_volume",
    "share_of_voice",
)
# Every signal name: a bounded set, fit for a Prometheus label.
SIGNALS: Final[tuple[str, ...]] = (
    *BRAND_SIGNALS,
    *(f"platform_volume:{p}" for p in PLATFORMS),
    *(f"source_silent:{p}" for p in PLATFORMS),
)


def incident_key(brand: str, signal: str, start_minute: int) -> str:
    """The idempotency key of the incident of ``signal`` for ``brand`` whose breach began then."""
    raw = f"socialpulse-anomaly\x1f{brand}\x1f{signal}\x1f{start_minute}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


class Incident(msgspec.Struct):
    """An alert that fired and has not resolved yet."""

    start_minute: int
    key: str
    fired_minute: int
    observed: float
    expected: float
    lower: float
    upper: float
    score: float


class SignalState(msgspec.Struct):
    """Persistence, resolve and cooldown bookkeeping of one brand's signal."""

    run_start: int | None = None
    run_minutes: int = 0
    clear_minutes: int = 0
    quiet_until: int = 0
    incident: Incident | None = None


class BrandState(msgspec.Struct):
    """Everything the detector knows about one brand."""

    history: BrandHistory
    signals: dict[str, SignalState] = {}


class DetectorSnapshot(msgspec.Struct, frozen=True):
    """The detector's whole state, for the state topic; ``slot_minutes`` must match on restore."""

    version: int
    slot_minutes: int
    brands: dict[str, BrandState]


class Transition(msgspec.Struct, frozen=True):
    """An incident firing or resolving, with what was seen against what was expected."""

    brand: str
    signal: str
    state: Literal["firing", "resolved"]
    minute: int
    started_minute: int
    key: str
    observed: float
    expected: float
    lower: float
    upper: float
    score: float


class Evaluation(msgspec.Struct, frozen=True):
    """One minute's outcome: brand -> signal -> score (signals with a baseline), transitions."""

    minute: int
    scores: dict[str, dict[str, float]]
    transitions: tuple[Transition, ...]


class Detector:
    """Spike detector over every brand it is fed; pure (time is the ``minute`` argument)."""

    def __init__(self, settings: AnomalySettings, brands: Iterable[str] = ()) -> None:
        self._s = settings
        self._keep = max(settings.window_minutes, settings.silent_max_window_minutes)
        self._brands: dict[str, BrandState] = {}
        self._pending = set(brands)
        # brand -> (slot, its expectation): recomputed once per slot, never persisted.
        self._expect: dict[str, tuple[int, Expectation | None]] = {}
        # brand -> (slot, minutes held, its rows' fixed inputs): made with the expectation.
        self._plans: dict[str, tuple[int, int, _Plan | None]] = {}
        # brand -> running sum of the last window_minutes of totals (derived from history).
        self._window: dict[str, list[int]] = {}

    @property
    def settings(self) -> AnomalySettings:
        """The thresholds this detector applies."""
        return self._s

    @property
    def warmup_minutes(self) -> int:
        """History a brand needs before it can alert."""
        return self._s.warmup_days * MINUTES_PER_DAY

    # -- feeding ----------------------------------------------------------------------------

    def _state(self, brand: str, minute: int) -> BrandState:
        st = self._brands.get(brand)
        if st is None:
            st = self._brands[brand] = BrandState(new_history(minute, self._s.slot_minutes))
            self._pending.discard(brand)
        return st

    def _observe(self, brand: str, minute: int, totals: list[int]) -> bool:
        st = self._state(brand, minute)
        if not observe(st.history, minute, totals, self._s, self._keep):
            return False
        self._window.pop(brand, None)
        return True

    def warm(self, history: Iterable[MinuteCounts], start: int, end: int) -> None:
        """Learn baselines from past totals of minutes ``start`` ≤ minute < ``end``; no alerts.

        A brand's minutes in the range that ``history`` lacks are zeros from its first minute
        on; minutes the detector has already seen are skipped.
        """
        by_brand: dict[str, dict[int, list[int]]] = {}
        for c in history:
            if start <= c.minute < end:
                by_brand.setdefault(c.brand, {})[c.minute] = c.vector()
        zeros = [0] * WIDTH
        for brand, minutes in sorted(by_brand.items()):
            first = min(minutes)
            known = self._brands.get(brand)
            if known is not None:
                first = min(first, known.history.last_minute + 1)
            for m in range(first, end):
                self._observe(brand, m, minutes.get(m, zeros))

    def step(
        self, minute: int, counts: Iterable[MinuteCounts], *, scores: bool = True
    ) -> Evaluation:
        """Observe ``minute``'s totals and evaluate every brand at it.

        Brands known but absent from ``counts`` had no mentions that minute. A minute at or
        before the last one observed was handled already: it yields nothing.

        ``scores=False`` (a history read back, whose scores nobody exports) leaves the
        evaluation's scores empty and scores only the signals that could breach or have an
        incident, cooldown or run to keep: the state and the transitions are the same as with
        scores, at a fraction of the cost.
        """
        fed: dict[str, list[int]] = {}
        for c in counts:
            if c.minute != minute:
                raise ValueError(f"counts of minute {c.minute} given for minute {minute}")
            fed[c.brand] = c.vector()
        for brand in self._pending | set(fed):
            self._state(brand, minute)
        out: dict[str, dict[str, float]] = {}
        transitions: list[Transition] = []
        zeros = [0] * WIDTH
        for brand, st in self._brands.items():
            if not self._observe(brand, minute, fed.get(brand, zeros)):
                continue
            readings = self._read(brand, st, minute, every=scores)
            if readings and scores:
                out[brand] = {sig: r.score for sig, r in readings.items()}
            if readings or st.signals:
                transitions += self._advance(brand, st, minute, readings)
        return Evaluation(minute, out, tuple(transitions))

    # -- reading ----------------------------------------------------------------------------

    def _expectation(self, brand: str, st: BrandState, minute: int) -> Expectation | None:
        slot = minute // self._s.slot_minutes
        cached = self._expect.get(brand)
        if cached is None or cached[0] != slot:
            cached = self._expect[brand] = (slot, expectation(st.history, slot, self._s))
        return cached[1]

    def _plan(self, brand: str, st: BrandState, minute: int) -> _Plan | None:
        """The brand's rows at ``minute`` with what their inputs take of the expectation.

        Made with the expectation, once per slot (and per minute while the history is
        shorter than the longest stretch): the same arithmetic as at every minute, done once.
        """
        slot = minute // self._s.slot_minutes
        held = len(st.history.recent)
        cached = self._plans.get(brand)
        if cached is None or cached[0] != slot or cached[1] != held:
            e = self._expectation(brand, st, minute)
            plan = None if e is None else _plan_of(e, held, self._s)
            cached = self._plans[brand] = (slot, held, plan)
        return cached[2]

    def _window_totals(self, brand: str, h: BrandHistory) -> list[int]:
        w = self._s.window_minutes
        win = self._window.get(brand)
        if win is None:
            recent = h.recent[-w:]
            win = [sum(col) for col in zip(*recent, strict=True)] if recent else [0] * WIDTH
            self._window[brand] = win
        return win

    def _read(
        self, brand: str, st: BrandState, minute: int, *, every: bool = True
    ) -> dict[str, Reading]:
        """Every signal that has a baseline at ``minute``.

        Not ``every``: only the signals the brand keeps state for and those whose cheap
        necessary conditions of a breach hold (the rule's own comparisons, in the same
        floating point), so what is left out could neither breach nor change any state.
        """
        s = self._s
        h = st.history
        if len(h.recent) < s.window_minutes:
            return {}
        plan = self._plan(brand, st, minute)
        if plan is None:
            return {}
        e_mentions, spread, eps, negative_share, net, voice, platforms = plan
        win = self._window_totals(brand, h)
        pos, neg = win[POSITIVE], win[NEGATIVE]
        # Volume counts every mention; shares of sentiment are over the scored ones.
        mentions, polar = int(volume(win)), int(scored(win))
        positive_share = pos / polar if polar else None
        # Each signal with a baseline at ``minute``: its row of the table and its inputs.
        inputs: list[tuple[_Row, tuple[Any, ...]]] = [
            (_MENTION_VOLUME, (mentions, e_mentions, s, spread, positive_share, eps))
        ]
        add = inputs.append
        if negative_share is not None:
            add((_NEGATIVE_SHARE, (neg, polar, negative_share, s)))
        if net is not None:
            add((_NET_SENTIMENT, (pos, neg, net, s)))
        if voice is not None and win[VOICE_SET]:
            add((_SHARE_OF_VOICE, (mentions, win[VOICE_SET], voice, s)))
        recent = h.recent
        for i, unexpected, volume_row, expected, platform_spread, silent in platforms:
            n = win[i]
            if unexpected and not n:
                continue
            add((volume_row, (n, expected, s, platform_spread, positive_share, eps)))
            if silent is not None:
                silent_row, stretch, stretch_expected, limit, whole_window = silent
                window = n if whole_window else None
                add((silent_row, (recent, i, stretch, limit, window, stretch_expected, s)))
        kept = st.signals
        out: dict[str, Reading] = {}
        for (sig, may_breach, rule), args in inputs:
            if every or sig in kept or may_breach(*args):
                r = rule(*args)
                if r is not None:
                    out[sig] = r
        return out

    def window_mix(self, brand: str) -> tuple[list[int], list[float]] | None:
        """The totals of the brand's last window and what its baseline expected of them.

        Both in the ``counts`` layout, at the last minute observed; None before a baseline
        exists. Alert evidence (platform mix, sentiment shares) comes from here, so it shows
        exactly what the detector compared.
        """
        st = self._brands.get(brand)
        if st is None or not st.history.recent:
            return None
        e = self._expectation(brand, st, st.history.last_minute)
        if e is None:
            return None
        w = min(self._s.window_minutes, len(st.history.recent))
        return list(self._window_totals(brand, st.history)), [x * w for x in e.per_minute]

    # -- incidents --------------------------------------------------------------------------

    def _advance(
        self, brand: str, st: BrandState, minute: int, readings: Mapping[str, Reading]
    ) -> list[Transition]:
        s = self._s
        warm = history_minutes(st.history) >= self.warmup_minutes
        out: list[Transition] = []
        for sig in [*readings, *(k for k in st.signals if k not in readings)]:
            r = readings.get(sig)
            breach = r is not None and r.breach
            state = st.signals.get(sig)
            if state is None:
                if not breach:
                    continue
                state = st.signals[sig] = SignalState()
            if breach:
                if state.run_start is None:
                    state.run_start = minute
                state.run_minutes += 1
                state.clear_minutes = 0
            else:
                state.run_start = None
                state.run_minutes = 0
                state.clear_minutes += 1
            inc = state.incident
            if (
                inc is None
                and breach
                and warm
                and state.run_minutes >= s.persistence_minutes
                and minute >= state.quiet_until
                and state.run_start is not None
                and r is not None
            ):
                key = incident_key(brand, sig, state.run_start)
                state.incident = Incident(
                    state.run_start, key, minute, r.observed, r.expected, r.lower, r.upper, r.score
                )
                out.append(_transition(brand, sig, "firing", minute, state.incident, r))
            elif inc is not None and state.clear_minutes >= s.resolve_minutes:
                out.append(_transition(brand, sig, "resolved", minute, inc, r))
                state.incident = None
                state.quiet_until = minute + s.cooldown_minutes + 1
            if state.incident is None and state.run_start is None and minute >= state.quiet_until:
                del st.signals[sig]  # nothing left to remember
        return out

    # -- persistence ------------------------------------------------------------------------

    def snapshot(self) -> DetectorSnapshot:
        """A copy of the whole state (baselines, recent minutes, open incidents)."""
        copy = msgspec.msgpack.decode(
            msgspec.msgpack.encode(self._brands), type=dict[str, BrandState]
        )
        return DetectorSnapshot(SNAPSHOT_VERSION, self._s.slot_minutes, copy)

    @classmethod
    def restore(cls, settings: AnomalySettings, snapshot: DetectorSnapshot) -> Detector:
        """A detector continuing from ``snapshot`` (which must use the same slot length)."""
        if snapshot.version != SNAPSHOT_VERSION:
            raise ValueError(f"detector snapshot version {snapshot.version} is not supported")
        if snapshot.slot_minutes != settings.slot_minutes:
            raise ValueError(
                f"detector snapshot has {snapshot.slot_minutes}-minute slots, the settings say "
                f"{settings.slot_minutes}: its baselines do not apply"
            )
        d = cls(settings)
        d._brands = msgspec.msgpack.decode(
            msgspec.msgpack.encode(snapshot.brands), type=dict[str, BrandState]
        )
        return d


def _volume_may_breach(observed: int, expected: float, s: AnomalySettings, *_: object) -> bool:
    """``volume_spike``'s guard: on the same inputs, of which it needs the first three."""
    return rules.volume_may_breach(observed, expected, s)


def _volume_spike(
    observed: int,
    expected: float,
    s: AnomalySettings,
    spread: float,
    positive_share: float | None,
    expected_positive_share: float | None,
) -> Reading:
    return rules.volume_spike(
        observed,
        expected,
        spread,
        s,
        positive_share=positive_share,
        expected_positive_share=expected_positive_share,
    )


def _silent_may_breach(
    recent: list[list[int]], i: int, stretch: int, limit: float, window: int | None, *_: object
) -> bool:
    """Against ``source_silent``'s own ``limit``: the stretch's newest minutes, or ``window``.

    ``window`` is the window's mentions when the stretch is a window long or more (it then
    holds them): those alone may settle it. The inputs after it are the rule's alone.
    """
    return not ((window is not None and window > limit) or _delivers(recent, i, stretch, limit))


def _source_silent(
    recent: list[list[int]],
    i: int,
    stretch: int,
    limit: float,
    window: int | None,
    expected: float,
    s: AnomalySettings,
) -> Reading:
    """``source_silent`` of count ``i`` over the newest ``stretch`` minutes."""
    return rules.source_silent(sum(v[i] for v in recent[-stretch:]), expected, s)


# A signal, its guard and its rule, both on the same inputs (a guard names the first ones it
# reads, the rest are the rule's): the guard is False only when the rule cannot breach, so a
# signal with no state to keep need not be read (``Detector.step(scores=False)``).
_Row = tuple[str, Callable[..., bool], Callable[..., Reading | None]]
_MENTION_VOLUME: Final[_Row] = ("mention_volume", _volume_may_breach, _volume_spike)
_NEGATIVE_SHARE: Final[_Row] = (
    "negative_share",
    rules.negative_share_may_breach,
    rules.negative_share_rise,
)
_NET_SENTIMENT: Final[_Row] = (
    "net_sentiment",
    rules.net_sentiment_may_breach,
    rules.net_sentiment_drop,
)
_SHARE_OF_VOICE: Final[_Row] = ("share_of_voice", rules.voice_may_breach, rules.voice_shift)
# Per platform: its index in the counts, its volume row and its silence row.
_PLATFORM_ROWS: Final[tuple[tuple[int, _Row, _Row], ...]] = tuple(
    (
        PLATFORM_INDEX[p],
        (f"platform_volume:{p}", _volume_may_breach, _volume_spike),
        (f"source_silent:{p}", _silent_may_breach, _source_silent),
    )
    for p in PLATFORMS
)

# A platform's silence row with its stretch, the mentions expected in it, the most it may hold
# and be silent (``rules.silent_limit``), and whether the stretch is a window long or more.
_Silent = tuple[_Row, int, float, float, bool]


class _Plan(NamedTuple):
    """What a brand's rows take of its expectation, over a window (``_plan_of``)."""

    mentions: float
    mentions_spread: float
    positive_share: float | None
    negative_share: float | None  # None: no scored mention expected, no row
    net: float | None  # None: no polar mention expected, no row
    voice: float | None  # None: the competitive set expects no mention, no row
    # Per platform: index, nothing expected (a row only with mentions), volume row,
    # mentions expected, spread, and its silence row (None when it cannot go silent).
    platforms: tuple[tuple[int, bool, _Row, float, float, _Silent | None], ...]


def _plan_of(e: Expectation, held: int, s: AnomalySettings) -> _Plan:
    """The rows' fixed inputs from ``e``, with ``held`` minutes of history."""
    w = s.window_minutes
    exp = e.per_minute
    e_pos, e_neg = exp[POSITIVE] * w, exp[NEGATIVE] * w
    e_mentions, e_polar = volume(exp) * w, scored(exp) * w
    e_set = exp[VOICE_SET] * w
    platforms = []
    for i, volume_row, silent_row in _PLATFORM_ROWS:
        rate = exp[i]
        silent: _Silent | None = None
        if not rate <= 0:
            stretch = math.ceil(s.silent_min_expected / rate)
            if stretch <= s.silent_max_window_minutes and stretch <= held:
                expected = rate * stretch
                limit = rules.silent_limit(expected, s)
                silent = (silent_row, stretch, expected, limit, stretch >= w)
        platforms.append((i, rate <= 0, volume_row, rate * w, e.spread[i], silent))
    return _Plan(
        e_mentions,
        e.mentions_spread,
        e.positive_share,
        e_neg / e_polar if e_polar > 0 else None,
        (e_pos - e_neg) / (e_pos + e_neg) if e_pos + e_neg > 0 else None,
        e_mentions / e_set if e_set > 0 else None,
        tuple(platforms),
    )


def _delivers(recent: list[list[int]], i: int, stretch: int, limit: float) -> bool:
    """True once the stretch's newest minutes of count ``i`` hold more than ``limit``.

    Stops at the first partial sum above ``source_silent``'s limit (counts are ≥ 0, so the
    whole stretch is above it too): most minutes need a handful of additions, not a stretch.
    """
    seen = 0
    for k in range(1, stretch + 1):
        seen += recent[-k][i]
        if seen > limit:
            return True
    return False


def _transition(
    brand: str,
    signal: str,
    state: Literal["firing", "resolved"],
    minute: int,
    inc: Incident,
    r: Reading | None,
) -> Transition:
    if r is None:  # a resolve while the signal is below its volume floor: the firing's values
        values = (inc.observed, inc.expected, inc.lower, inc.upper, inc.score)
    else:
        values = (r.observed, r.expected, r.lower, r.upper, r.score)
    return Transition(brand, signal, state, minute, inc.start_minute, inc.key, *values)


def encode_snapshot(snapshot: DetectorSnapshot) -> bytes:
    """The snapshot as msgpack bytes, for the state topic."""
    return msgspec.msgpack.encode(snapshot)


def decode_snapshot(data: bytes) -> DetectorSnapshot:
    """A snapshot back from ``encode_snapshot`` bytes."""
    return msgspec.msgpack.decode(data, type=DetectorSnapshot)
