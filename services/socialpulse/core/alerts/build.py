"""Turns a detector transition into an alert event, with evidence from the detector and store.

Everything is read as of the transition's minute, passed in: the detector's window totals and
their expectation (platform mix, sentiment shares), the window store's authors by reach, the
sample reservoir's posts, and the brand's trending terms and hashtags when a trends source is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final
from urllib.parse import urlencode

from socialpulse.core.alerts.event import (
    VERSION,
    AlertEvent,
    AuthorReach,
    Band,
    Evidence,
    Links,
    SamplePost,
    Share,
    TermTrend,
)
from socialpulse.core.alerts.samples import SampleReservoir
from socialpulse.core.anomaly.counts import NEGATIVE, NEUTRAL, PLATFORM_INDEX, POSITIVE
from socialpulse.core.anomaly.detector import Detector, Transition
from socialpulse.core.clock import rfc3339
from socialpulse.core.kpis import AuthorKpis
from socialpulse.core.trends import Trend
from socialpulse.core.windows.store import WindowStore
from socialpulse.settings import AlertSettings

# The brand drill-down board's uid (deploy/grafana/dashboards) and its brand variable.
DASHBOARD_UID: Final = "socialpulse"
# Signals about negative tone: their samples put negative mentions first.
NEGATIVE_SIGNALS: Final = frozenset({"negative_share", "net_sentiment"})
_SENTIMENT: Final = (("positive", POSITIVE), ("neutral", NEUTRAL), ("negative", NEGATIVE))


def runbook_anchor(signal: str) -> str:
    """The runbook section of a signal: ``detector-<family>`` (one per signal family)."""
    return "detector-" + signal.split(":", 1)[0].replace("_", "-")


def dashboard_link(base_url: str, brand: str, from_s: float, to_s: float) -> str:
    """The brand board over ``from_s``..``to_s`` (epoch seconds; Grafana wants milliseconds)."""
    query = urlencode({"var-brand": brand, "from": int(from_s * 1000), "to": int(to_s * 1000)})
    return f"{base_url.rstrip('/')}/d/{DASHBOARD_UID}?{query}"


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


def shares(
    names: Sequence[tuple[str, int]], now: Sequence[int], expected: Sequence[float]
) -> list[Share]:
    """Each named position of the totals now and in the baseline, as counts and shares.

    Positions with nothing now and nothing expected are left out.
    """
    total_now = sum(now[i] for _, i in names)
    total_exp = sum(expected[i] for _, i in names)
    return [
        Share(
            name,
            now[i],
            round(expected[i], 6),
            _share(now[i], total_now),
            _share(expected[i], total_exp),
        )
        for name, i in names
        if now[i] or expected[i] > 0
    ]


def _authors(top: Sequence[AuthorKpis]) -> list[AuthorReach]:
    return [AuthorReach(a.id, a.handle, a.followers, a.verified, a.mentions) for a in top]


def prefers_negative(signal: str, sentiment: Sequence[Share]) -> bool:
    """Whether the samples should show negative mentions first.

    For the tone signals always; for others when the negative share is above its baseline.
    """
    if signal in NEGATIVE_SIGNALS:
        return True
    neg = next((s for s in sentiment if s.name == "negative"), None)
    return (
        neg is not None
        and neg.share is not None
        and neg.baseline_share is not None
        and neg.share > neg.baseline_share
    )


def build_event(
    t: Transition,
    settings: AlertSettings,
    window_minutes: int,
    *,
    mix: tuple[Sequence[int], Sequence[float]] | None,
    authors: Sequence[AuthorKpis],
    reservoir: SampleReservoir | None,
    top_terms: Sequence[TermTrend] = (),
    top_hashtags: Sequence[TermTrend] = (),
) -> AlertEvent:
    """The alert event of ``t`` with the evidence given (``mix`` from ``Detector.window_mix``)."""
    first = t.minute - window_minutes + 1
    platform_mix: list[Share] = []
    sentiment: list[Share] = []
    if mix is not None:
        now, expected = mix
        platform_mix = sorted(
            shares(list(PLATFORM_INDEX.items()), now, expected), key=lambda s: (-s.count, s.name)
        )
        sentiment = shares(_SENTIMENT, now, expected)
    samples: list[SamplePost] = []
    if reservoir is not None and settings.sample_posts:
        samples = reservoir.pick(
            t.brand, first, t.minute, settings.sample_posts, prefers_negative(t.signal, sentiment)
        )
    end_s = (t.minute + 1) * 60
    start_s = t.started_minute * 60
    return AlertEvent(
        version=VERSION,
        alert_id=t.key,
        status=t.state,
        brand=t.brand,
        signal=t.signal,
        starts_at=rfc3339(start_s),
        ends_at=rfc3339(end_s) if t.state == "resolved" else None,
        evaluated_at=rfc3339(end_s),
        observed=t.observed,
        expected=t.expected,
        band=Band(t.lower, t.upper),
        score=t.score,
        evidence=Evidence(
            window_start=rfc3339(first * 60),
            window_end=rfc3339(end_s),
            top_terms=list(top_terms),
            top_hashtags=list(top_hashtags),
            top_authors=_authors(authors[: settings.top_authors]),
            platform_mix=platform_mix,
            sentiment=sentiment,
            samples=samples,
        ),
        links=Links(
            dashboard=dashboard_link(
                settings.grafana_base_url,
                t.brand,
                start_s - settings.dashboard_context_minutes * 60,
                end_s,
            ),
            runbook=f"{settings.runbook_base_url}#{runbook_anchor(t.signal)}",
        ),
    )


def term_evidence(trends: Sequence[Trend]) -> tuple[list[TermTrend], list[TermTrend]]:
    """A brand's trends split into terms (words, @mentions) and hashtags, highest score first."""
    ranked = sorted(trends, key=lambda t: (-t.score, t.term))
    items = [TermTrend(t.term, t.score, t.recent, t.expected) for t in ranked]
    return (
        [t for t in items if not t.term.startswith("#")],
        [t for t in items if t.term.startswith("#")],
    )


def author_window(store: WindowStore, window_minutes: int) -> str:
    """The store's shortest window that covers the detector's window (else its longest)."""
    for label, seconds in store.windows.items():
        if seconds >= window_minutes * 60:
            return label
    return list(store.windows)[-1]


def events_of(
    transitions: Sequence[Transition],
    detector: Detector,
    store: WindowStore,
    reservoir: SampleReservoir | None,
    settings: AlertSettings,
    trends: Callable[[str, float], Sequence[Trend]] | None = None,
) -> list[AlertEvent]:
    """The events of one evaluation's transitions, evidence read from this worker's state.

    ``trends`` is ``TrendDetector.trends`` (brand, event time) once the service runs it.
    """
    window = detector.settings.window_minutes
    label = author_window(store, window)
    out = []
    for t in transitions:
        top: Sequence[AuthorKpis] = ()
        if settings.top_authors and t.brand in store.brands:
            at = t.minute * 60 + 59.0  # the last second of the evaluated minute
            top = store.top_authors(at, t.brand, label, settings.top_authors)["highest_reach"]
        terms, hashtags = term_evidence(trends(t.brand, (t.minute + 1) * 60) if trends else ())
        out.append(
            build_event(
                t,
                settings,
                window,
                mix=detector.window_mix(t.brand),
                authors=top,
                reservoir=reservoir,
                top_terms=terms,
                top_hashtags=hashtags,
            )
        )
    return out


def campaign_events(
    transitions: Sequence[Transition], settings: AlertSettings, window_minutes: int
) -> list[AlertEvent]:
    """The events of copy-paste campaigns beginning or ending (``Signals.campaign_transitions``).

    Their posts are filtered from every KPI, so the evidence holds no mix or samples: the
    event's ``observed`` is the campaign's posts, and its text is served by ``/api/v1/trends``.
    """
    return [
        build_event(t, settings, window_minutes, mix=None, authors=(), reservoir=None)
        for t in transitions
    ]
