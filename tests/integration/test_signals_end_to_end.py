"""Signals through a real broker: the trends endpoint and the filtered-mention counter move.

A worker reads genuine background mentions first, then a burst of a new hashtag from distinct
people and a copy-paste campaign of small edits from new accounts. Between the two phases the
scrape shows nothing filtered and no trend; after them, the campaign's posts are counted in
``socialpulse_mentions_filtered_total`` (and in volume, not in sentiment or share of voice), the
hashtag trends in ``/api/v1/trends`` and the campaign is listed there and raises a
``copy_paste_campaign`` incident. Two workers sharing the partitions see one campaign through
the trends topic, and only the owner of partition 0 announces it: one incident; and both report
the fleet's filtered mentions in ``/api/v1/trends``, the sum of what each filtered.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from socialpulse.core.campaigns import CAMPAIGN_SIGNAL
from socialpulse.core.pipeline import Pipeline
from socialpulse.export.collector import register_metrics
from socialpulse.export.server import HttpServer, build_app
from socialpulse.kafka.changelog import state_topic_spec
from socialpulse.kafka.minutes import minutes_topic_spec
from socialpulse.kafka.topics import TopicSpec, ensure_topics
from socialpulse.kafka.worker import Worker
from socialpulse.settings import Settings

pytestmark = pytest.mark.integration

BRANDS: list[dict[str, Any]] = [
    {"id": "aurora", "name": "Aurora Coffee", "terms": ["aurora coffee"]},
    {"id": "lumen", "name": "Lumen Roasters", "terms": ["lumen roasters"]},
]
WORDS = (
    "latte queue barista morning sunday cold brew cake music seat window pastry oat "
    "espresso terrace staff cup price playlist wifi"
).split()
CAMPAIGN = "aurora coffee gave me a free gift card for testing the new phone, claim yours now"
HASHTAG = "#latteartday"
# Keyed by author over 3 partitions, each judged alone: about 30 posts from 15 accounts each,
# a campaign in every partition (20 posts, 10 accounts by default).
CAMPAIGN_POSTS = 90
CAMPAIGN_ACCOUNTS = 45
# The two workers' campaign: 6, 18 and 12 posts from 3, 9 and 6 accounts in the 3 partitions
# (the default partitioner's murmur2 of the author), below the thresholds in every one and
# above them fleet-wide.
SPREAD_POSTS = 36
SPREAD_ACCOUNTS = 18


def _mention(ts: float, author: str, followers: int, text: str) -> bytes:
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "platform": "x",
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
            + f".{int(ts % 1 * 1000):03d}Z",
            "author": {"id": author, "handle": f"@{author}", "followers": followers},
            "text": text,
            "kind": "post",
            "language": "en",
        }
    ).encode()


def _genuine(rng: random.Random, ts: float, n: int, extra: str = "") -> tuple[str, bytes]:
    author = f"fan{n}"
    text = f"aurora coffee {' '.join(rng.sample(WORDS, 7))} {extra}".strip()
    return author, _mention(ts, author, rng.randint(100, 5000), text)


def _phases(
    now: float, posts: int = CAMPAIGN_POSTS, accounts: int = CAMPAIGN_ACCOUNTS
) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """Background over the three minutes before ``now``'s; then the burst and the campaign."""
    rng = random.Random(7)
    minute = now // 60 * 60
    background = [_genuine(rng, minute - 180 + n * 3, n) for n in range(60)]
    later: list[tuple[str, bytes]] = []
    for n in range(20):
        later.append(_genuine(rng, minute + 1 + n, 1000 + n, HASHTAG))
    for n in range(posts):
        words = CAMPAIGN.split()
        words.insert(rng.randrange(2, len(words)), rng.choice(["wow", "omg", "pls", "so"]))
        text = " ".join(words) + f" https://bit.ly/{rng.randrange(10**6)}"
        author = f"new{n % accounts}"
        later.append((author, _mention(minute + 1 + n / 3, author, 2, text)))
    return background, later


async def _produce(bootstrap: str, topic: str, records: Sequence[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(enable_idempotence=False, acks="all", bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


def _filtered(body: str) -> dict[tuple[str, str], float]:
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            if s.name == "socialpulse_mentions_filtered_total":
                out[(s.labels["brand"], s.labels["reason"])] = s.value
    return out


@dataclass(frozen=True)
class _Run:
    """One run's settings and topics (created), its clock and the two phases of mentions."""

    bootstrap: str
    settings: Settings
    topics: dict[str, str]
    now: float
    background: list[tuple[str, bytes]]
    later: list[tuple[str, bytes]]

    def clock(self) -> float:
        return self.now


# Makes a run on a broker, with the campaign's posts and accounts (``_phases``).
_Prepare = Callable[..., Awaitable[_Run]]


@pytest.fixture
def prepare() -> _Prepare:
    """Makes a run on a broker: fresh names, its topics created, its two phases of mentions.

    A factory, as each test names its broker's fixture (the test broker or the embedded one).
    """

    async def make(
        bootstrap: str, posts: int = CAMPAIGN_POSTS, accounts: int = CAMPAIGN_ACCOUNTS
    ) -> _Run:
        settings, topics = _settings(bootstrap, uuid.uuid4().hex[:8])
        now = time.time() // 60 * 60 + 50  # late in the minute: phase two's events before it
        await ensure_topics(
            {"bootstrap_servers": bootstrap},
            {
                topics["m"]: TopicSpec(partitions=3),
                topics["i"]: TopicSpec(partitions=3),
                topics["dlq"]: TopicSpec(partitions=1),
                settings.kafka.state_topic_name: state_topic_spec(2),
                settings.kafka.minutes_topic_name: minutes_topic_spec(settings.anomaly),
            },
        )
        return _Run(bootstrap, settings, topics, now, *_phases(now, posts, accounts))

    return make


async def _run(run: _Run) -> None:
    bootstrap, settings, topics, clock = run.bootstrap, run.settings, run.topics, run.clock
    background, later, now = run.background, run.later, run.now
    pipeline = Pipeline(settings)
    worker = Worker(settings, pipeline, bootstrap, clock)
    registry = CollectorRegistry()
    register_metrics(registry, pipeline, clock, worker.stats)
    app = build_app(registry, pipeline.store, clock, signals=pipeline.signals)
    http = HttpServer(app, "127.0.0.1", 0)
    await http.start()
    await worker.start()
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    base = f"http://127.0.0.1:{http.port}"

    async def settled(count: int) -> tuple[dict[tuple[str, str], float], dict[str, Any]]:
        deadline = time.monotonic() + 45
        while pipeline.stats.processed["mentions"] < count:
            assert time.monotonic() < deadline, pipeline.stats.processed
            assert not task.done(), task
            await asyncio.sleep(0.2)
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{base}/metrics") as resp:
                metrics = _filtered(await resp.text())
            params = {"brand": "aurora", "window": "1m"}
            async with s.get(f"{base}/api/v1/trends", params=params) as resp:
                assert resp.status == 200
                trends = await resp.json()
            async with s.get(f"{base}/api/v1/trends", params={"brand": "x", "window": "1m"}) as r:
                assert r.status == 400
        return metrics, trends

    try:
        await _produce(bootstrap, topics["m"], background)
        before, quiet = await settled(len(background))
        await _produce(bootstrap, topics["m"], later)
        after, loud = await settled(len(background) + len(later))
        # Trends come from the trends topic, every worker's buckets: a few seconds behind.
        deadline = time.monotonic() + 30
        while HASHTAG not in [t["term"] for t in loud["trends"]] and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            after, loud = await settled(len(background) + len(later))
    finally:
        stop.set()
        await task
        await worker.stop()
        await http.stop()

    assert sum(before.values()) == 0 and len(before) == 2 * 5  # every brand × reason, at 0
    assert quiet["trends"] == [] and quiet["campaigns"] == []
    filtered = sum(v for (brand, _), v in after.items() if brand == "aurora")
    # The first 2 posts of each partition's cluster are clean (a near-duplicate needs 3).
    assert filtered >= CAMPAIGN_POSTS - 3 * 2 and after[("aurora", "campaign")] >= 10
    assert filtered == sum(loud["filtered"].values())
    assert loud["baseline_ready"] is True
    assert HASHTAG in [t["term"] for t in loud["trends"]][:3]
    # One campaign: its parts in the 3 partitions have similar texts (one key).
    [campaign] = loud["campaigns"]
    assert campaign["posts"] >= 60 and campaign["accounts"] == CAMPAIGN_ACCOUNTS
    # The filtered posts count in volume, not in sentiment or share of voice.
    kpis = pipeline.store.snapshot(now)["aurora"]["1h"]
    total = len(background) + 20 + CAMPAIGN_POSTS
    assert kpis.mentions == sum(kpis.mentions_by_platform.values()) == total
    assert kpis.filtered == filtered
    genuine = total - filtered
    assert sum(kpis.mentions_by_sentiment.values()) == genuine
    assert kpis.share_of_voice_base["mentions"] == genuine
    [incident] = pipeline.signals.campaign_transitions()
    assert (incident.signal, incident.state) == (CAMPAIGN_SIGNAL, "firing")
    assert incident.key == campaign["alert_id"]


def _settings(bootstrap: str, run: str) -> tuple[Settings, dict[str, str]]:
    topics = {n: f"sig-{run}-{n}" for n in ("m", "i", "dlq")}
    settings = Settings(
        kafka={
            "bootstrap_servers": bootstrap,
            "group_id": f"sig-{run}",
            "mentions_topic": topics["m"],
            "interactions_topic": topics["i"],
            "dlq_topic": topics["dlq"],
            "poll_timeout_ms": 200,
        },
        brands=BRANDS,
        windows=("5m", "1h"),
        trends={"bucket_seconds": 60, "recent_buckets": 1, "baseline_buckets": 3, "min_count": 5},
        metrics_port=0,
    )
    return settings, topics


async def _run_two(run: _Run) -> None:
    """Two workers, one campaign over the 3 partitions: one campaign, one key, one announcer.

    The campaign is below the thresholds in each partition, above them fleet-wide.
    """
    bootstrap, settings, topics, clock = run.bootstrap, run.settings, run.topics, run.clock
    background, later = run.background, run.later
    pipelines = [Pipeline(settings), Pipeline(settings)]
    workers = [Worker(settings, p, bootstrap, clock) for p in pipelines]
    servers = []
    for p in pipelines:
        app = build_app(CollectorRegistry(), p.store, clock, signals=p.signals)
        servers.append(HttpServer(app, "127.0.0.1", 0))
        await servers[-1].start()
    stop = asyncio.Event()
    for w in workers:
        await w.start()
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    lead = (topics["m"], 0)

    def counted() -> dict[str, int]:
        """The filtered counters of both workers added: what Prometheus sums."""
        return {
            r: sum(p.signals.filtered["aurora"][r] for p in pipelines)
            for r in pipelines[0].signals.filtered["aurora"]
        }

    async def reported() -> list[dict[str, int]]:
        """``filtered`` in each pod's ``/api/v1/trends``."""
        out = []
        async with aiohttp.ClientSession() as s:
            for server in servers:
                params = {"brand": "aurora", "window": "1m"}
                url = f"http://127.0.0.1:{server.port}/api/v1/trends"
                async with s.get(url, params=params) as resp:
                    assert resp.status == 200
                    out.append((await resp.json())["filtered"])
        return out

    try:
        deadline = time.monotonic() + 60
        while not (
            all(w.restored for w in workers)
            and len(workers[0].restored | workers[1].restored) == 6  # mentions + interactions
        ):
            assert time.monotonic() < deadline, [w.restored for w in workers]
            assert not any(t.done() for t in tasks), tasks
            await asyncio.sleep(0.2)
        await _produce(bootstrap, topics["m"], [*background, *later])
        deadline = time.monotonic() + 60
        while True:
            views = [
                [(c.key, c.posts, c.accounts) for c in p.signals.campaigns()] for p in pipelines
            ]
            done = sum(p.stats.processed["mentions"] for p in pipelines) >= len(background) + len(
                later
            )
            pods = await reported()
            if (
                done
                and views[0]
                and views[0] == views[1]
                and views[0][0][2] == SPREAD_ACCOUNTS
                and pods[0] == pods[1] == counted()
            ):
                break
            assert time.monotonic() < deadline, views
            await asyncio.sleep(0.5)
        owners = [lead in w.restored for w in workers]
        own = [p.signals.filtered["aurora"] for p in pipelines]
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        for w in workers:
            await w.stop()
        for server in servers:
            await server.stop()
    assert sorted(owners) == [False, True]
    # Both pods report the fleet's filtered mentions: the sum of what each worker filtered.
    assert pods[0] == pods[1] == counted()
    assert all(0 < sum(o.values()) < sum(pods[0].values()) for o in own)
    assert sum(pods[0].values()) >= SPREAD_POSTS - 3 * 2
    # Below the thresholds in every partition: no mention's verdict is ``campaign`` (verdicts
    # are their partition's), yet the fleet's joined cluster is one.
    assert all(o["campaign"] == 0 for o in own) and pods[0]["near_duplicate"] > 0
    [(key, posts, _)] = views[0]
    assert SPREAD_POSTS >= posts >= settings.spam.campaign_min_posts
    # Each worker's own partitions hold a part of it: without the topic, two campaigns.
    assert all(any(p.signals.campaign_parts(s) for s in p.signals.partitions) for p in pipelines)
    incidents = []
    for p, owner in zip(pipelines, owners, strict=True):
        p.signals.lead_campaigns(owner)
        transitions = p.signals.campaign_transitions()
        incidents += transitions if p.signals.campaign_lead else []
    assert [(t.signal, t.state, t.key) for t in incidents] == [(CAMPAIGN_SIGNAL, "firing", key)]


async def test_signals_against_test_broker(kafka_bootstrap: str, prepare: _Prepare) -> None:
    await _run(await prepare(kafka_bootstrap))


async def test_signals_against_embedded_broker(tansu_bootstrap: str, prepare: _Prepare) -> None:
    await _run(await prepare(tansu_bootstrap))


async def test_one_campaign_over_two_workers_against_embedded_broker(
    tansu_bootstrap: str, prepare: _Prepare
) -> None:
    await _run_two(await prepare(tansu_bootstrap, SPREAD_POSTS, SPREAD_ACCOUNTS))


async def test_one_campaign_over_two_workers_against_test_broker(
    kafka_bootstrap: str, prepare: _Prepare
) -> None:
    await _run_two(await prepare(kafka_bootstrap, SPREAD_POSTS, SPREAD_ACCOUNTS))
