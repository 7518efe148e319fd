"""Alert events from detector transitions and store evidence; the sample reservoir's bounds."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema  # type: ignore[import-untyped]
import msgspec
import pytest

from builders import NEG, NEU, POS, encoded, mention, off
from socialpulse.core.alerts.build import events_of, runbook_anchor, term_evidence
from socialpulse.core.alerts.event import AlertEvent, decode_alert, encode_alert
from socialpulse.core.alerts.samples import SampleReservoir, truncate
from socialpulse.core.anomaly.counts import MinuteCounts
from socialpulse.core.anomaly.detector import SIGNALS, Detector
from socialpulse.core.clock import rfc3339
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.trends import Trend
from socialpulse.core.windows.store import WindowStore
from socialpulse.settings import AlertSettings, AnomalySettings, BrandSettings, Settings

REPO = Path(__file__).resolve().parents[3]
SCHEMA = json.loads((REPO / "schemas" / "alert.v1.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())

T0 = 20_000 * 1440  # an epoch minute at midnight UTC
DAY = 1440
QUICK = AnomalySettings(slot_minutes=60, baseline_days=1, baseline_weeks=0, warmup_days=1)
BRAND = BrandSettings(id="a", name="A", terms=("alpha",), handles=("@alpha",))
SRC = ("socialpulse.mentions", 0)
ALERTS = AlertSettings(
    grafana_base_url="https://grafana.example/",
    runbook_base_url="https://docs.example/runbook.md",
    sample_text_chars=40,
    top_authors=2,
)


def counts(minute: int, pos: int = 4, neu: int = 4, neg: int = 2) -> MinuteCounts:
    """A steady brand: 60 % of mentions on x, 40 % on instagram."""
    total = pos + neu + neg
    insta = total * 2 // 5
    return MinuteCounts(
        brand="a",
        minute=minute,
        positive=pos,
        neutral=neu,
        negative=neg,
        by_platform={"x": total - insta, "instagram": insta},
    )


class Scenario:
    """A warmed detector, a negative surge, and the store and reservoir of the same minutes."""

    def __init__(self) -> None:
        self.detector = Detector(QUICK, ["a"])
        end = T0 + DAY
        self.detector.warm((counts(m) for m in range(T0, end)), T0, end)
        self.store = WindowStore([BRAND], {"5m": 300, "1h": 3600})
        self.samples = SampleReservoir(3, ALERTS.sample_text_chars, QUICK.window_minutes)
        self.minute = end

    def feed(self, minute: int, **kw: int) -> list[AlertEvent]:
        """Step the detector one minute and put that minute's mentions in store and reservoir."""
        ts = minute * 60 + 30.0
        authors = [("big", 90_000), ("mid", 5_000), ("small", 12), ("alpha", 10**6)]
        for i, (author, followers) in enumerate(authors):
            m = mention(ts + i, author, followers, text=f"alpha {'x' * 60} {minute}")
            self.store.add_mention(SRC, "a", m, NEG if i % 2 else POS, False, off())
        for tone, sentiment in (("negative", NEG), ("neutral", NEU)):
            m = msgspec.structs.replace(
                mention(ts, f"{tone}-author", text=f"alpha is {tone} at minute {minute}"),
                url=f"https://x.example/{tone}/{minute}",
            )
            self.samples.add("a", m, sentiment.label)
        ev = self.detector.step(minute, [counts(minute, **kw)])
        return events_of(ev.transitions, self.detector, self.store, self.samples, ALERTS)

    def until(self, status: str, **kw: int) -> AlertEvent:
        for _ in range(60):
            events = self.feed(self.minute, **kw)
            self.minute += 1
            for e in events:
                if e.status == status and e.signal == "negative_share":
                    return e
        raise AssertionError(f"no {status} negative_share event")


@pytest.fixture(scope="module")
def surge() -> tuple[AlertEvent, AlertEvent]:
    s = Scenario()
    firing = s.until("firing", pos=4, neu=4, neg=12)
    resolved = s.until("resolved")
    return firing, resolved


def _doc(e: AlertEvent) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(encode_alert(e))
    return loaded


def test_a_firing_event_carries_the_transition_and_validates(
    surge: tuple[AlertEvent, AlertEvent],
) -> None:
    firing, _ = surge
    VALIDATOR.validate(_doc(firing))
    assert decode_alert(encode_alert(firing)) == firing
    assert firing.status == "firing" and firing.ends_at is None
    assert firing.brand == "a" and firing.signal in SIGNALS
    assert re.fullmatch(r"[0-9a-f]{32}", firing.alert_id)
    assert firing.delivery_key == f"{firing.alert_id}:firing"
    assert firing.expected == pytest.approx(0.2)
    assert firing.band.lower < firing.expected < firing.band.upper < firing.observed
    assert firing.score >= QUICK.threshold
    # The breach began QUICK.persistence_minutes before it fired.
    assert rfc3339(_epoch(firing.evaluated_at) - 60 * QUICK.persistence_minutes) == firing.starts_at


def _epoch(t: str) -> float:
    return datetime.fromisoformat(t).timestamp()


def test_the_resolved_event_has_the_same_id_and_an_end(
    surge: tuple[AlertEvent, AlertEvent],
) -> None:
    firing, resolved = surge
    VALIDATOR.validate(_doc(resolved))
    assert resolved.alert_id == firing.alert_id and resolved.starts_at == firing.starts_at
    assert resolved.ends_at == resolved.evaluated_at
    assert _epoch(resolved.ends_at) > _epoch(firing.evaluated_at)


def test_platform_mix_and_sentiment_shift_are_the_window_against_the_baseline(
    surge: tuple[AlertEvent, AlertEvent],
) -> None:
    ev = surge[0].evidence
    w = QUICK.window_minutes
    assert _epoch(ev.window_end) - _epoch(ev.window_start) == w * 60
    tone = {s.name: s for s in ev.sentiment}
    # Every window minute of the surge has 4 positive, 4 neutral, 12 negative; baseline 4/4/2.
    assert tone["negative"].count == 12 * w and tone["negative"].expected == pytest.approx(2 * w)
    assert tone["negative"].share == pytest.approx(0.6)
    assert tone["negative"].baseline_share == pytest.approx(0.2)
    assert tone["positive"].share == pytest.approx(0.2)
    mix = {s.name: s for s in ev.platform_mix}
    assert list(mix) == ["x", "instagram"]  # most mentions first
    assert mix["x"].count == 12 * w and mix["instagram"].count == 8 * w
    assert mix["x"].baseline_share == pytest.approx(0.6)
    assert ev.top_terms == [] and ev.top_hashtags == []


def test_top_authors_by_reach_leave_out_the_brands_own_account(
    surge: tuple[AlertEvent, AlertEvent],
) -> None:
    authors = surge[0].evidence.top_authors
    assert [a.id for a in authors] == ["big", "mid"]  # alerts.top_authors = 2; @alpha is own
    assert authors[0].followers == 90_000 and authors[0].mentions == QUICK.window_minutes


def test_samples_put_negative_mentions_first_cut_to_the_limit(
    surge: tuple[AlertEvent, AlertEvent],
) -> None:
    firing = surge[0]
    samples = firing.evidence.samples
    assert len(samples) == 3
    assert [s.sentiment for s in samples] == ["negative"] * 3
    assert [s.created_at for s in samples] == sorted((s.created_at for s in samples), reverse=True)
    assert samples[0].created_at == rfc3339(_epoch(firing.evaluated_at) - 30)
    assert samples[0].url is not None and samples[0].url.startswith("https://x.example/negative/")
    assert all(len(s.text) <= ALERTS.sample_text_chars for s in samples)


def test_links_point_at_the_brand_board_over_the_incident_and_the_runbook_section(
    surge: tuple[AlertEvent, AlertEvent],
) -> None:
    firing = surge[0]
    url = urlsplit(firing.links.dashboard)
    assert (url.scheme, url.netloc, url.path) == ("https", "grafana.example", "/d/socialpulse")
    q = parse_qs(url.query)
    assert q["var-brand"] == ["a"]
    start = _epoch(firing.starts_at) - ALERTS.dashboard_context_minutes * 60
    assert q["from"] == [str(int(start * 1000))]
    assert q["to"] == [str(int(_epoch(firing.evaluated_at) * 1000))]
    assert firing.links.runbook == "https://docs.example/runbook.md#detector-negative-share"


def test_every_signal_has_a_runbook_section() -> None:
    runbook = (REPO / "deploy" / "runbook.md").read_text(encoding="utf-8")
    anchors = set(re.findall(r'<a id="([a-z-]+)"></a>', runbook))
    assert {runbook_anchor(s) for s in SIGNALS} <= anchors


def test_truncation_marks_the_cut_and_keeps_short_texts() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("a" * 20, 10) == "a" * 9 + "…"
    assert len(truncate("word " * 100, 280)) <= 280


def test_the_reservoir_is_bounded_and_keeps_the_newest_minutes() -> None:
    r = SampleReservoir(per_minute=2, text_chars=50, window_minutes=5)
    for minute in range(T0, T0 + 100):
        for k in range(10):
            r.add(
                "a",
                mention(minute * 60 + k, text=f"alpha {k}"),
                "negative" if k % 3 else "positive",
            )
    assert r.size() == r.keep_minutes * 2 * 2
    last = T0 + 99
    assert r.pick("a", T0, T0 + 80, 5, True) == []  # those minutes are gone
    newest = r.pick("a", last, last, 5, True)
    assert [p.sentiment for p in newest] == ["negative", "negative", "positive", "positive"]
    assert [p.text for p in newest] == ["alpha 8", "alpha 7", "alpha 9", "alpha 6"]
    # An old mention arriving late does not push a recent minute out.
    r.add("a", mention(T0 * 60, text="alpha late"), "negative")
    assert r.size() == r.keep_minutes * 2 * 2
    assert r.pick("a", T0, T0, 5, False) == []


def test_without_preference_samples_are_newest_first_whatever_their_tone() -> None:
    r = SampleReservoir(per_minute=3, text_chars=50, window_minutes=5)
    for k, label in enumerate(["negative", "positive", "neutral", "negative"]):
        r.add("a", mention(T0 * 60 + k, text=f"alpha {k}"), label)
    assert [p.text for p in r.pick("a", T0, T0, 3, False)] == ["alpha 3", "alpha 2", "alpha 1"]
    assert [p.text for p in r.pick("a", T0, T0, 3, True)] == ["alpha 3", "alpha 0", "alpha 2"]


def test_the_pipeline_keeps_matched_mentions_as_samples() -> None:
    p = Pipeline(Settings(brands=[BRAND]))
    now = T0 * 60.0
    m = msgspec.structs.replace(
        mention(now - 5, "u", text="alpha is awful, terrible, broken"), url="https://x.example/1"
    )
    assert p.process("mentions", encoded(m), SRC, now, off()) is None
    assert (
        p.process("mentions", encoded(mention(now - 5, text="nothing here")), SRC, now, off())
        is None
    )
    got = p.samples.pick("a", T0 - 1, T0, 3, True)
    assert [(s.event_id, s.url, s.sentiment) for s in got] == [
        (m.event_id, "https://x.example/1", "negative")
    ]


def test_trends_become_terms_and_hashtags_of_the_event() -> None:
    trends = [
        Trend("outage", 7.5, 40.0, 2.0),
        Trend("#alphadown", 9.0, 55.0, 1.5),
        Trend("@alphasupport", 6.0, 30.0, 3.0),
    ]
    terms, hashtags = term_evidence(trends)
    assert [t.term for t in terms] == ["outage", "@alphasupport"]
    assert [(t.term, t.score, t.recent, t.expected) for t in hashtags] == [
        ("#alphadown", 9.0, 55.0, 1.5)
    ]
    s = Scenario()
    asked: list[tuple[str, float]] = []

    def source(brand: str, now: float) -> list[Trend]:
        asked.append((brand, now))
        return trends

    for _ in range(60):
        ev = s.detector.step(s.minute, [counts(s.minute, neg=12)])
        s.minute += 1
        if ev.transitions:
            break
    events = events_of(ev.transitions, s.detector, s.store, s.samples, ALERTS, source)
    assert events and all(e.evidence.top_hashtags == hashtags for e in events)
    assert all(e.evidence.top_terms == terms for e in events)
    VALIDATOR.validate(_doc(events[0]))
    assert asked[0] == ("a", _epoch(events[0].evaluated_at))
