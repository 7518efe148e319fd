"""Oracle: the 1 h brand KPIs recomputed from the input topics' contents, one count per event id.

Independent of the service's pipeline: JSON is read with the standard library, brands are
matched with ``socialpulse.core.brands.BrandMatcher`` over the demo brand list, sentiment comes from
``vaderSentiment`` directly for English mentions (the others, the demo's es/pt/fr/de ones, are
``unscored``; a mention's language is its ``language`` field, else py3langid's detection, as in
``tests/kpi_oracle.py``), and the window rule is restated here: an event counts in the 1 h
window when its minute is one of the 60 ending in the minute of ``now`` (or later, up to the
5 minutes of allowed clock skew); events older than the longest window (24 h, starting at the
whole hour its first minute falls in) are rejected as ``late`` and counted nowhere. With the spam
heuristics on (``spam=True``), a filtered mention counts in the mentions and in no sentiment
class; which mentions are filtered comes from ``tests/spam_oracle.py``: the core signals stage
run over each input partition's mentions in offset order, as the pipeline feeds it.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from kpi_oracle import language
from socialpulse.core.brands import BrandMatcher
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.settings import Settings
from spam_oracle import spam_verdicts as spam_oracle

from .harness import EVENT_KPIS, KPIS, PARTITIONS, Kpis, Scenario

WINDOW_SECONDS: Final = 3600
LONGEST_WINDOW_SECONDS: Final = 86400
MAX_FUTURE_SECONDS: Final = 300
ENGAGEMENT_TYPES: Final = frozenset({"like", "comment", "share", "save", "link_click"})
BRANDS: Final = tuple(b.id for b in DEMO_BRANDS)


async def read_topic(
    bootstrap: str, topic: str, partitions: int = PARTITIONS, limit_s: float = 120.0
) -> list[Any]:
    """Every record of ``topic`` (``partitions`` partitions) from the start to its end now."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    records: list[Any] = []
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if end[tp] > 0}
        deadline = time.monotonic() + limit_s
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end in {limit_s} s")
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, rs in batch.items():
                records.extend(r for r in rs if r.offset < end[tp])
                if rs and rs[-1].offset + 1 >= end[tp]:
                    remaining.discard(tp)
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return records


@dataclass
class Truth:
    """The input topics as the oracle understands them."""

    kpis: Kpis
    records: int = 0  # records read, duplicates included
    distinct: int = 0  # distinct event ids
    late_ids: set[str] = field(default_factory=set)  # older than the longest window
    filtered: int = 0  # matched mentions of the 1 h window the spam heuristics filtered


class Oracle:
    """Recomputes KPIs; VADER results are cached by text (the demo reuses its templates)."""

    def __init__(self) -> None:
        self._matcher = BrandMatcher(DEMO_BRANDS)
        self._vader = SentimentIntensityAnalyzer()
        self._labels: dict[str, str] = {}

    def _sentiment(self, event: dict[str, Any]) -> str:
        if language(event) != "en":
            return "unscored"
        text = event["text"]
        label = self._labels.get(text)
        if label is None:
            c = self._vader.polarity_scores(text)["compound"]
            label = "positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral"
            self._labels[text] = label
        return label

    async def truth(self, scenario: Scenario, now: float, spam: bool = False) -> Truth:
        """KPIs of the 1 h window ending at ``now`` over the distinct events in the topics.

        With ``spam``, the mentions the spam heuristics filter are in no sentiment class.
        """
        mentions = await read_topic(scenario.bootstrap, scenario.mentions_topic)
        interactions = await read_topic(scenario.bootstrap, scenario.interactions_topic)
        filtered = spam_verdicts(mentions) if spam else set()
        return self.compute(
            [r.value for r in mentions], [r.value for r in interactions], now, filtered
        )

    def compute(
        self,
        mentions: list[bytes],
        interactions: list[bytes],
        now: float,
        filtered: set[str] | frozenset[str] = frozenset(),
    ) -> Truth:
        """The pure part of :meth:`truth`; ``filtered`` are the event ids of spam."""
        kpis: Kpis = defaultdict(int)
        for brand in BRANDS:
            for kpi in KPIS:
                kpis[(brand, kpi)] = 0
        seen: set[str] = set()
        truth = Truth(kpis={}, records=len(mentions) + len(interactions))
        first_minute = int(now // 60) - WINDOW_SECONDS // 60 + 1
        oldest_minute = int(now // 60) - LONGEST_WINDOW_SECONDS // 60 + 1
        oldest_minute -= oldest_minute % 60
        for stream, values in (("mention", mentions), ("interaction", interactions)):
            for raw in values:
                event = json.loads(raw)
                event_id = event["event_id"]
                if event_id in seen:
                    continue
                seen.add(event_id)
                ts = datetime.fromisoformat(event["created_at"].replace("Z", "+00:00"))
                t = ts.timestamp()
                if int(t // 60) < oldest_minute:
                    truth.late_ids.add(event_id)
                    continue
                if t > now + MAX_FUTURE_SECONDS or int(t // 60) < first_minute:
                    continue
                if stream == "mention":
                    matches = self._matcher.match(event["text"], bool(event.get("tagged")))
                    if not matches:
                        continue
                    label = None if event_id in filtered else self._sentiment(event)
                    truth.filtered += label is None
                    for m in matches:
                        kpis[(m.brand, "mentions")] += 1
                        if label is not None:
                            kpis[(m.brand, label)] += 1
                elif event["brand"] in BRANDS:
                    if event["type"] == "impression":
                        kpis[(event["brand"], "impressions")] += 1
                    elif event["type"] in ENGAGEMENT_TYPES:
                        kpis[(event["brand"], "engagements")] += 1
        truth.kpis = dict(kpis)
        truth.distinct = len(seen)
        return truth


def spam_verdicts(records: list[Any]) -> set[str]:
    """Event ids of the mentions the spam heuristics filter (at the default settings)."""
    settings = Settings(brands=list(DEMO_BRANDS))
    return set(spam_oracle([(r.partition, r.offset, r.value) for r in records], settings).reasons)


@dataclass(frozen=True)
class Comparison:
    """Observed totals against the oracle."""

    lost: int  # Σ max(0, oracle − observed) over brands × {mentions, impressions, engagements}
    doubled: int  # Σ max(0, observed − oracle) over the same
    mismatches: dict[tuple[str, str], tuple[int, int]]  # every KPI off: (oracle, observed)

    @property
    def exact(self) -> bool:
        return not self.mismatches


def compare(oracle: Kpis, observed: Kpis) -> Comparison:
    """Events lost and double counted, and every KPI (sentiment classes too) that differs."""
    lost = doubled = 0
    mismatches: dict[tuple[str, str], tuple[int, int]] = {}
    for key in sorted(set(oracle) | set(observed)):
        want, got = oracle.get(key, 0), observed.get(key, 0)
        if want != got:
            mismatches[key] = (want, got)
        if key[1] in EVENT_KPIS:
            lost += max(0, want - got)
            doubled += max(0, got - want)
    return Comparison(lost, doubled, mismatches)
