"""End to end through a real broker: produce known events, scrape /metrics, compare with an oracle.

The oracle is written out here, separately from the service: expected brands per text are stated
by hand, sentiment comes from vaderSentiment directly, and window membership restates the
documented rule (an event is in window W when its minute is one of the W/60 minutes ending in the
minute of ``now``, or later).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema  # type: ignore[import-untyped]
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from socialpulse.core.pipeline import Pipeline
from socialpulse.export.collector import register_metrics
from socialpulse.export.server import HttpServer, build_app
from socialpulse.kafka.changelog import state_topic_spec
from socialpulse.kafka.deadletter import headers_as_dict
from socialpulse.kafka.minutes import minutes_topic_spec
from socialpulse.kafka.topics import TopicSpec, ensure_topics
from socialpulse.kafka.worker import Worker
from socialpulse.settings import Settings

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
WINDOWS = {"5m": 300, "1h": 3600, "24h": 86400}
BRANDS: list[dict[str, Any]] = [
    {
        "id": "aurora",
        "name": "Aurora Coffee",
        "terms": ["aurora coffee", "auroracoffee"],
        "handles": ["@auroracoffee"],
        "exclude": ["aurora borealis"],
        "competitors": ["lumen", "ember"],
    },
    {
        "id": "lumen",
        "name": "Lumen Roasters",
        "terms": ["lumen roasters"],
        "handles": ["@lumenroasters"],
        "competitors": ["aurora"],
    },
    {"id": "ember", "name": "Ember Brew", "terms": ["ember brew"], "competitors": ["aurora"]},
]

# (seconds before now, platform, author, followers, text, tagged, expected brands)
MENTIONS: list[tuple[float, str, str, int, str, bool, list[str]]] = [
    (30, "x", "u1", 1200, "I love @auroracoffee, best latte in town! 😍", False, ["aurora"]),
    (45, "instagram", "u2", 50, "aurora coffee is fine I guess", False, ["aurora"]),
    (
        200,
        "x",
        "u1",
        1300,
        "Aurora Coffee was TERRIBLE today, cold and rude staff",
        False,
        ["aurora"],
    ),
    (
        100,
        "tiktok",
        "u3",
        2_000_000,
        "switched from Lumen Roasters to Aurora Coffee, no regrets",
        True,
        ["aurora", "lumen"],
    ),
    (1000, "reddit", "u4", 10, "lumen roasters beans are amazing!!!", False, ["lumen"]),
    (3000, "x", "u5", 400, "@lumenroasters why is my order late again? awful", False, ["lumen"]),
    (5000, "youtube", "u6", 90_000, "ember brew cold brew review: pretty good", False, ["ember"]),
    (7200, "x", "u7", 5, "Ember Brew lost my order. Never again.", False, ["ember"]),
    (40_000, "facebook", "u8", 777, "aurora coffee opened a new store downtown", False, ["aurora"]),
    (80_000, "linkedin", "u2", 60, "Great talk by the auroracoffee team", False, ["aurora"]),
    (20, "x", "u9", 3, "watching the aurora borealis with aurora coffee", False, []),
    (25, "bluesky", "u10", 8, "just a normal day, nothing about coffee brands", False, []),
]
# (seconds before now, type, brand)
INTERACTIONS: list[tuple[float, str, str]] = [
    (10, "impression", "aurora"),
    (11, "impression", "aurora"),
    (12, "impression", "aurora"),
    (250, "like", "aurora"),
    (500, "comment", "aurora"),
    (3500, "share", "aurora"),
    (20_000, "save", "aurora"),
    (30, "link_click", "lumen"),
    (30, "impression", "lumen"),
    (4000, "impression", "ember"),
    (60, "profile_visit", "aurora"),
    (60, "follow", "ember"),
    (60, "like", "not-tracked"),
]


Labels = tuple[tuple[str, str], ...]


@dataclass
class Produced:
    topic: str
    key: bytes
    value: bytes
    reason: str | None  # expected dead-letter reason, None when it should count


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def _mention(
    ts: float, platform: str, author: str, followers: int, text: str, tagged: bool
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "platform": platform,
        "created_at": _iso(ts),
        "author": {"id": author, "handle": author, "followers": followers, "verified": False},
        "text": text,
        "kind": "post",
        "tagged": tagged,
    }


def _interaction(ts: float, kind: str, brand: str) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "platform": "instagram",
        "created_at": _iso(ts),
        "type": kind,
        "brand": brand,
        "user_id": f"v-{uuid.uuid4().hex[:6]}",
        "post_id": "p1",
    }


def _events(now: float, mentions_topic: str, interactions_topic: str) -> list[Produced]:
    out = []
    for ago, platform, author, followers, text, tagged, _ in MENTIONS:
        m = _mention(now - ago, platform, author, followers, text, tagged)
        out.append(Produced(mentions_topic, author.encode(), json.dumps(m).encode(), None))
    for ago, kind, brand in INTERACTIONS:
        i = _interaction(now - ago, kind, brand)
        out.append(
            Produced(interactions_topic, i["user_id"].encode(), json.dumps(i).encode(), None)
        )
    # Older than the 24 h window even at its widest (it starts at a whole hour).
    late = _mention(now - 86400 - 3600 - 120, "x", "u1", 1, "aurora coffee long ago", False)
    future = _mention(now + 600, "x", "u1", 1, "aurora coffee from the future", False)
    bad_schema = _mention(now - 5, "x", "u1", 1, "aurora coffee", False)
    bad_schema["author"]["followers"] = -3
    oversized = _mention(now - 5, "x", "u1", 1, "aurora coffee " + "a" * 600, False)
    future_i = _interaction(now + 3600, "like", "aurora")
    out += [
        Produced(mentions_topic, b"u1", json.dumps(late).encode(), "late"),
        Produced(mentions_topic, b"u1", json.dumps(future).encode(), "future"),
        Produced(mentions_topic, b"u1", json.dumps(bad_schema).encode(), "schema"),
        Produced(mentions_topic, b"u1", json.dumps(oversized).encode(), "oversized"),
        Produced(mentions_topic, b"u1", b'{"event_id": "x", "text": ', "invalid_json"),
        Produced(mentions_topic, b"u1", b"\xff\xfe\x00garbage", "undecodable"),
        Produced(interactions_topic, b"v", json.dumps(future_i).encode(), "future"),
        Produced(interactions_topic, b"v", b"[1, 2, 3]", "schema"),
    ]
    return out


def _in_window(ts: float, now: float, length: int) -> bool:
    return int(ts // 60) >= int(now // 60) - length // 60 + 1


def _oracle(now: float) -> dict[tuple[str, ...], float]:
    """Every exported KPI sample, keyed by (metric, brand, window[, extra label])."""
    vader = SentimentIntensityAnalyzer()
    expected: dict[tuple[str, ...], float] = defaultdict(float)
    brands = [b["id"] for b in BRANDS]
    for window, length in WINDOWS.items():
        mentions: Counter[str] = Counter()
        for brand in brands:
            authors: dict[str, int] = {}
            compounds = []
            for ago, platform, author, followers, text, tagged, matched in MENTIONS:
                if brand not in matched or not _in_window(now - ago, now, length):
                    continue
                c = vader.polarity_scores(text)["compound"]
                label = "positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral"
                compounds.append(c)
                mentions[brand] += 1
                expected[("socialpulse_mentions", brand, window, platform)] += 1
                expected[("socialpulse_mentions_by_sentiment", brand, window, label)] += 1
                handle = next(
                    (h for b in BRANDS if b["id"] == brand for h in b.get("handles", [])), None
                )
                if tagged or (handle and handle.lower() in text.lower()):
                    expected[("socialpulse_mentions_tagged", brand, window)] += 1
                authors[author] = max(authors.get(author, 0), followers)
            # Every text is English (detected: no record has a language field), so none unscored.
            for label in ("positive", "neutral", "negative", "unscored"):
                expected[("socialpulse_mentions_by_sentiment", brand, window, label)] += 0
            expected[("socialpulse_mentions_tagged", brand, window)] += 0
            expected[("socialpulse_potential_reach", brand, window)] = sum(authors.values())
            expected[("socialpulse_unique_authors", brand, window)] = len(authors)
            expected[("socialpulse_sentiment_compound_sum", brand, window)] = sum(compounds)
            imp = sum(
                1
                for ago, k, b in INTERACTIONS
                if b == brand and k == "impression" and _in_window(now - ago, now, length)
            )
            eng = sum(
                1
                for ago, k, b in INTERACTIONS
                if b == brand
                and k in {"like", "comment", "share", "save", "link_click"}
                and _in_window(now - ago, now, length)
            )
            expected[("socialpulse_impressions", brand, window)] = imp
            expected[("socialpulse_engagements", brand, window)] = eng
        for b in BRANDS:
            total = mentions[b["id"]] + sum(mentions[c] for c in b["competitors"])
            own = ("socialpulse_share_of_voice_base", b["id"], window, "mentions")
            expected[own] = mentions[b["id"]]
            expected[("socialpulse_share_of_voice_set_base", b["id"], window, "mentions")] = total
    return dict(expected)


def _scraped(
    text: str,
) -> tuple[dict[tuple[str, ...], float], dict[str, dict[Labels, float]]]:
    kpis: dict[tuple[str, ...], float] = {}
    other: dict[str, dict[Labels, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = s.labels
            if "brand" in labels and "window" in labels:
                if labels.get("basis", "mentions") != "mentions" or "kind" in labels:
                    continue  # the full catalogue is checked in test_kpis_end_to_end.py
                extra = labels.get("platform") or labels.get("sentiment") or labels.get("basis")
                key = (s.name, labels["brand"], labels["window"]) + ((extra,) if extra else ())
                kpis[key] = s.value
            else:
                other[s.name][tuple(sorted(labels.items()))] = s.value
    return kpis, other


async def _run_scenario(bootstrap: str) -> None:
    run = uuid.uuid4().hex[:8]
    mentions_topic, interactions_topic, dlq_topic = (f"e2e-{run}-{n}" for n in ("m", "i", "dlq"))
    settings = Settings(
        kafka={
            "bootstrap_servers": bootstrap,
            "group_id": f"e2e-{run}",
            "mentions_topic": mentions_topic,
            "interactions_topic": interactions_topic,
            "dlq_topic": dlq_topic,
            "poll_timeout_ms": 200,
        },
        brands=BRANDS,
        windows=tuple(WINDOWS),
        max_text_chars=500,
        metrics_host="127.0.0.1",
        metrics_port=0,
    )
    now = (time.time() // 60) * 60 + 30  # a fixed service clock, mid-minute
    clock = lambda: now  # noqa: E731
    opts = {"bootstrap_servers": bootstrap}
    spec = TopicSpec(partitions=3)
    await ensure_topics(
        opts,
        {
            mentions_topic: spec,
            interactions_topic: spec,
            dlq_topic: TopicSpec(partitions=1),
            settings.kafka.state_topic_name: state_topic_spec(2),
            settings.kafka.minutes_topic_name: minutes_topic_spec(settings.anomaly),
        },
    )

    events = _events(now, mentions_topic, interactions_topic)
    producer = AIOKafkaProducer(enable_idempotence=False, acks="all", **opts)
    await producer.start()
    try:
        for e in events:
            await producer.send_and_wait(e.topic, e.value, key=e.key)
    finally:
        await producer.stop()

    pipeline = Pipeline(settings)
    worker = Worker(settings, pipeline, bootstrap, clock)
    registry = CollectorRegistry()
    register_metrics(registry, pipeline, clock, worker.stats)
    http = HttpServer(build_app(registry), "127.0.0.1", 0)
    await http.start()
    await worker.start()
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        deadline = time.monotonic() + 90
        while sum(pipeline.stats.processed.values()) < len(events):
            assert time.monotonic() < deadline, f"processed only {pipeline.stats.processed}"
            assert not task.done(), task
            await asyncio.sleep(0.2)
        # The lag converges once the readers have fetched past the last records, the worker's
        # own join inputs on the joins topic among them: scrape until it has (or the deadline).
        async with aiohttp.ClientSession() as session:
            while True:
                async with session.get(f"http://127.0.0.1:{http.port}/metrics") as resp:
                    assert resp.status == 200
                    body = await resp.text()
                lags = _scraped(body)[1]["socialpulse_consumer_lag_records"]
                every = 3 + 3 + settings.kafka.topic_partitions  # input and joins partitions
                if len(lags) == every and set(lags.values()) == {0.0}:
                    break
                assert time.monotonic() < deadline, f"consumer lag not 0 on every partition: {lags}"
                await asyncio.sleep(0.2)
    finally:
        stop.set()
        await task
        await worker.stop()
        await http.stop()

    kpis, other = _scraped(body)
    expected = _oracle(now)
    names = {key[0] for key in expected}
    kpis = {key: v for key, v in kpis.items() if key[0] in names}
    assert set(kpis) == set(expected), set(kpis) ^ set(expected)
    for key, value in expected.items():
        assert kpis[key] == pytest.approx(value, abs=1e-9), key

    reasons = Counter(e.reason for e in events if e.reason)
    rejected: dict[str, float] = {
        dict(k)["reason"]: v for k, v in other["socialpulse_events_rejected_total"].items()
    }
    assert rejected == {r: float(reasons.get(r, 0)) for r in rejected}
    assert set(rejected) == {"undecodable", "invalid_json", "schema", "oversized", "late", "future"}
    processed: dict[str, float] = {
        dict(k)["stream"]: v for k, v in other["socialpulse_events_processed_total"].items()
    }
    assert processed == {
        "mentions": sum(e.topic == mentions_topic for e in events),
        "interactions": sum(e.topic == interactions_topic for e in events),
    }
    assert other["socialpulse_mentions_unmatched_total"][()] == 2
    assert other["socialpulse_interactions_untracked_total"][()] == 1
    lag = other["socialpulse_consumer_lag_records"]
    by_topic = Counter(dict(k)["topic"] for k in lag)
    # The input partitions, and the joins topic the worker created (every worker reads it all).
    assert by_topic == {
        mentions_topic: 3,
        interactions_topic: 3,
        settings.kafka.joins_topic_name: settings.kafka.topic_partitions,
    }
    assert set(lag.values()) == {0.0}

    # Every reject is in the dead-letter topic with its original bytes, reason and source.
    dead = await _read_all(bootstrap, dlq_topic, reasons.total())
    schema = json.loads((SCHEMAS / "dead-letter.v1.json").read_text())
    expected_dead = Counter((e.value, e.reason, e.topic) for e in events if e.reason)
    got: Counter[tuple[bytes, str, str]] = Counter()
    for record in dead:
        h = headers_as_dict(record.headers)
        jsonschema.validate(h, schema, format_checker=jsonschema.FormatChecker())
        got[(record.value, h["socialpulse.reason"], h["socialpulse.source.topic"])] += 1
        assert int(h["socialpulse.source.offset"]) >= 0
    assert got == expected_dead


async def _read_all(bootstrap: str, topic: str, count: int) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + 30
        while len(records) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for rs in batch.values():
                records.extend(rs)
    finally:
        await consumer.stop()
    return records


async def test_end_to_end_against_test_broker(kafka_bootstrap: str) -> None:
    await _run_scenario(kafka_bootstrap)


async def test_end_to_end_against_embedded_broker(tansu_bootstrap: str) -> None:
    await _run_scenario(tansu_bootstrap)
