"""Spike alerts end to end: Kafka, the service, Prometheus and Alertmanager, both alert paths.

A day of history is backfilled into the mentions topic (the detector warms from it: behind, a
partition's minutes close by event time), then live traffic runs for three brands at a steady
negative share. A negative spike is planted for one brand. The service's detector must deliver
that brand's alert, with its evidence, to the test's webhook and the alerts topic; Prometheus
(scraping every second, with brand rules generated from the same thresholds) must deliver it
through Alertmanager (deploy/'s routes) to a second webhook; nothing may arrive for the other
brands. The service is then restarted mid-incident: it rebuilds the detector from the minutes
topic, finds the same incident again and sends nothing twice.

Thresholds and windows are the test's own (one-minute window, one day of warm-up, volume
signals off), so the run takes minutes, not a week.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import logging
import random
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from ports import free_port
from prometheus_server import RULES_DIR, alertmanager_test_config, run_alertmanager, run_prometheus
from socialpulse.app.rules import brand_rules
from socialpulse.app.service import run_service
from socialpulse.app.topics import service_topics
from socialpulse.core.alerts.event import AlertEvent, decode_alert
from socialpulse.export.webhooks import IDEMPOTENCY_HEADER, SIGNATURE_HEADER
from socialpulse.kafka.topics import ensure_topics
from socialpulse.settings import AnomalySettings, Settings
from webhook_receiver import Receiver, receiver

# Kafka and Prometheus start-up, minute-long alert windows and a restart: minutes, not seconds.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(720),
]
log = logging.getLogger(__name__)

BRANDS: list[dict[str, Any]] = [
    {"id": "zorblax", "name": "Zorblax", "terms": ["zorblax"]},
    {"id": "quintor", "name": "Quintor", "terms": ["quintor"]},
    {"id": "velmira", "name": "Velmira", "terms": ["velmira"]},
]
TARGET = "zorblax"
# The exported 1m window is the current minute alone (near empty at each minute's start), so
# the alert window is 2m: always at least a minute of mentions behind it.
WINDOWS = ("2m", "7d")
# The test's thresholds: two-minute window, one-minute persistence, a day of warm-up (no weekly
# baseline), volume and silence signals off (the history is sparser than the live traffic),
# a score of 2 fires.
ANOMALY: dict[str, Any] = {
    "slot_minutes": 5,
    "baseline_days": 1,
    "baseline_weeks": 0,
    "warmup_days": 1,
    "window_minutes": 2,
    "persistence_minutes": 1,
    "resolve_minutes": 5,
    "cooldown_minutes": 0,
    "threshold": 2.0,
    "min_volume": 1_000_000,
    "min_sentiment_mentions": 10,
    # Prometheus' fallback baseline is the average since it started (a minute of steady state),
    # which the spike itself soon raises: a 1.2-times lift still tells the spike from it.
    "min_share_lift": 0.2,
    "silent_min_expected": 1e9,
    "grace_seconds": 3.0,
    "max_wait_minutes": 2,
}
# The Prometheus alerts of a negative spike. Either may fire first (a scrape that a loaded machine
# times out restarts an alert's `for:`); the inhibit rule drops the second while the first fires.
SENTIMENT_ALERTS = {"SocialpulseNegativeSentimentSpike", "SocialpulseNetSentimentDrop"}
# Samples of the steady negative share Prometheus records before the spike (one a second).
STEADY_SAMPLES = 45
SECRET = "e2e-secret"  # noqa: S105 - a test key
HISTORY_MINUTES = 1440 + 30
HISTORY_PER_MINUTE = 2
LIVE_PER_MINUTE = 30
SPIKE_PER_MINUTE = 120  # extra negative mentions of the target while the spike lasts
# Mentions are written from parts and end in a few everyday words drawn at random (none of them
# in VADER's lexicon), so that no two are near-duplicates: the spam heuristics run at their
# defaults and find no campaign here.
OPENERS = ("so", "ok", "honestly", "today", "well", "update:", "fyi", "hmm", "right,", "yep")
POSITIVE = (
    "I love my new {}, it is wonderful and works great",
    "{} is brilliant, setup took a minute and it just works",
    "really happy with {} this week, great job",
    "the {} team fixed my issue fast, excellent service",
    "{} keeps getting better, the new version is awesome",
    "big thanks to {} support, friendly and helpful",
)
# Every negative text says "terrible": the alert's samples must be the spike's posts.
NEGATIVE = (
    "{} support is terrible, the update broke everything",
    "terrible experience with {} again, nothing loads",
    "{} crashed twice today, terrible and useless",
    "the new {} release is terrible, I want a refund",
    "{} billing is a terrible mess, charged me twice",
    "so angry at {}, terrible service and no answer",
)
WORDS = (
    "kitchen laptop garden river pencil window morning bus station tram ticket office desk lamp "
    "chair table street corner market bakery bridge harbor tunnel village city suburb road train "
    "platform backpack jacket sweater umbrella bottle kettle teapot spoon fork plate bowl drawer "
    "shelf cabinet ladder hammer bucket basket carpet curtain mirror pillow blanket notebook "
    "folder stapler printer cable charger router monitor keyboard mouse speaker headset camera "
    "tripod album poster frame canvas brush paint crayon marker eraser ruler compass atlas globe "
    "calendar clock watch wallet purse pocket button zipper collar sleeve boot sock sandal helmet "
    "bicycle scooter wagon trolley ferry canoe paddle anchor sail mast deck cabin attic cellar "
    "garage porch fence gate hedge lawn pond creek valley hill ridge canyon meadow orchard barn"
).split()
AUTHORS = 5000
# The service path: the minute in progress, the persistence, the grace and a checkpoint or two.
SERVICE_DEADLINE_S = 60 * (1 + ANOMALY["persistence_minutes"]) + ANOMALY["grace_seconds"] + 10
# The Prometheus path: the 1m window fills, `for: 1m`, group_wait 1 s, and scrape/eval steps.
PROMETHEUS_DEADLINE_S = 60 + 60 * ANOMALY["persistence_minutes"] + 45


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Traffic:
    """Mentions of every brand: every tenth negative, the rest positive; a spike on request."""

    def __init__(self) -> None:
        self._rng = random.Random(12)
        self._n = itertools.count()
        self._per_brand: Counter[str] = Counter()
        self.spike: str | None = None

    def mention(self, brand: str, ts: float, negative: bool | None = None) -> bytes:
        i = self._per_brand[brand]
        self._per_brand[brand] += 1
        if negative is None:
            negative = i % 10 == 0
        n = next(self._n)
        name = next(b["name"] for b in BRANDS if b["id"] == brand)
        event = {
            "event_id": f"e2e-{uuid.uuid4().hex}",
            "platform": "x",
            "created_at": _iso(ts),
            "author": {
                "id": f"u{n % AUTHORS}",
                "handle": f"@u{n % AUTHORS}",
                "followers": 100 + n % 40,
            },
            "text": self.text(name, negative),
            "kind": "post",
            "language": "en",
            "url": f"https://x.example/{n}",
        }
        return json.dumps(event).encode()

    def text(self, name: str, negative: bool) -> str:
        """A mention of ``name``, positive or negative, unlike any other."""
        rng = self._rng
        body = rng.choice(NEGATIVE if negative else POSITIVE).format(name)
        return f"{rng.choice(OPENERS)} {body}. {' '.join(rng.sample(WORDS, 8))}"

    async def history(self, producer: AIOKafkaProducer, topic: str, now: float) -> int:
        """Backfill ``HISTORY_MINUTES`` up to the minute before ``now``."""
        first = int(now // 60) - HISTORY_MINUTES
        sent = []
        for minute in range(first, int(now // 60)):
            for brand in (b["id"] for b in BRANDS):
                for k in range(HISTORY_PER_MINUTE):
                    ts = minute * 60 + 60 * (k + 0.5) / HISTORY_PER_MINUTE
                    sent.append(
                        await producer.send(topic, self.mention(brand, ts), key=brand.encode())
                    )
        await asyncio.gather(*sent)
        return len(sent)

    async def live(self, producer: AIOKafkaProducer, topic: str, stop: asyncio.Event) -> None:
        """Steady traffic for every brand, plus the spike's negatives while it is on."""
        owed: dict[str, float] = dict.fromkeys([*(b["id"] for b in BRANDS), "spike"], 0.0)
        last = time.time()
        while not stop.is_set():
            await asyncio.sleep(0.25)
            now = time.time()
            for b in BRANDS:
                owed[b["id"]] += (now - last) * LIVE_PER_MINUTE / 60
            if self.spike is not None:
                owed["spike"] += (now - last) * SPIKE_PER_MINUTE / 60
            last = now
            for key in list(owed):
                while owed[key] >= 1:
                    owed[key] -= 1
                    if key == "spike":
                        assert self.spike is not None
                        value = self.mention(self.spike, now, negative=True)
                        await producer.send(topic, value, key=self.spike.encode())
                    else:
                        await producer.send(topic, self.mention(key, now), key=key.encode())


class Service:
    """``run_service`` in this process, started and stopped like the command."""

    def __init__(self, settings: Settings) -> None:
        self.stop = asyncio.Event()
        self.lines: list[str] = []
        self.task = asyncio.create_task(run_service(settings, self.stop, self.lines.append))

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, timeout=60)


async def _metrics(port: int) -> dict[str, float]:
    """Unlabelled samples of the service's /metrics (empty while it is not up)."""
    try:
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"http://127.0.0.1:{port}/metrics", timeout=aiohttp.ClientTimeout(total=5)) as r,
        ):
            text = await r.text()
    except (aiohttp.ClientError, TimeoutError):
        return {}
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


async def _until(what: str, deadline_s: float, check: Any, service: Service | None = None) -> Any:
    """Poll the async ``check`` every half second until it returns something truthy."""
    deadline = time.monotonic() + deadline_s
    while True:
        if service is not None and service.task.done():
            service.task.result()  # the service died: its exception fails the test
            pytest.fail(f"the service stopped while waiting for {what}")
        got = await check()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {deadline_s:.0f} s")
        await asyncio.sleep(0.5)


def _service_events(hook: Receiver) -> list[tuple[AlertEvent, dict[str, str], bytes]]:
    return [(decode_alert(r.body), r.headers, r.body) for r in hook.requests]


def _am_alerts(hook: Receiver) -> list[tuple[str, dict[str, str]]]:
    """(status, labels) of every alert in every Alertmanager notification."""
    out = []
    for r in hook.requests:
        body = json.loads(r.body)
        out += [(a["status"], a["labels"]) for a in body["alerts"]]
    return out


async def _topic_records(opts: dict[str, Any], topic: str) -> list[tuple[str, AlertEvent]]:
    consumer = AIOKafkaConsumer(group_id=None, auto_offset_reset="earliest", **opts)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(2)]
        consumer.assign(tps)
        end = await consumer.end_offsets(tps)
        out = []
        for tp in tps:
            while await consumer.position(tp) < end[tp]:
                for r in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                    out.append((r.key.decode(), decode_alert(r.value)))
        return out
    finally:
        await consumer.stop()


async def test_a_negative_spike_alerts_once_through_both_paths_and_survives_a_restart(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    opts = {"bootstrap_servers": kafka_bootstrap}
    port = free_port()
    mentions = f"{topic_prefix}mentions"
    alerts_topic = f"{topic_prefix}alerts"
    rules = tmp_path / "brand_alerts.yml"
    rules.write_text(brand_rules(AnomalySettings(**ANOMALY), WINDOWS))
    traffic = Traffic()
    stop_traffic = asyncio.Event()
    async with receiver() as hook, receiver() as am_hook:
        settings = Settings(
            kafka={
                "bootstrap_servers": kafka_bootstrap,
                "group_id": f"{topic_prefix}g",
                "mentions_topic": mentions,
                "interactions_topic": f"{topic_prefix}interactions",
                "dlq_topic": f"{topic_prefix}dlq",
                "alerts_topic": alerts_topic,
                "topic_partitions": 2,
            },
            brands=BRANDS,
            windows=WINDOWS,
            # The backfilled history reaches past a day: ids held for it, else its first
            # minutes would be late.
            dedup_horizon_seconds=2 * 86400,
            anomaly=ANOMALY,
            alerts={"webhook_urls": [hook.url], "webhook_secret": SECRET},
            metrics_port=port,
            demo=False,
            summary_interval_seconds=3600,
        )
        producer = AIOKafkaProducer(linger_ms=20, **opts)
        await producer.start()
        live: asyncio.Task[None] | None = None
        service: Service | None = None
        try:
            with (
                run_alertmanager(tmp_path, alertmanager_test_config(am_hook.url)) as am,
                run_prometheus(
                    tmp_path,
                    [f"127.0.0.1:{port}"],
                    rules=[RULES_DIR / "recording.yml", rules],
                    alertmanager=am,
                ) as prom,
            ):
                # A day of history backfilled before the service starts, then live traffic
                # from where it ends.
                await ensure_topics(opts, dict(service_topics(settings).values()))
                assert await traffic.history(producer, mentions, time.time()) > 8000
                live = asyncio.create_task(traffic.live(producer, mentions, stop_traffic))
                service = Service(settings)

                async def caught_up() -> bool:
                    m = await _metrics(port)
                    done = m.get("socialpulse_anomaly_evaluated_timestamp_seconds", 0)
                    return done >= (time.time() // 60) * 60

                await _until("detector caught up with the history", 90, caught_up, service)

                # Prometheus learns the steady state (its fallback baseline is the average of what
                # it recorded: scrapes a loaded machine timed out do not count); the spike starts
                # early enough in a minute for that minute to show it.
                async def steady() -> bool:
                    got = prom.query(
                        "count_over_time(brand_window:socialpulse_negative_share:ratio"
                        f'{{window="{WINDOWS[0]}"}}[10m])'
                    )
                    return len(got) == len(BRANDS) and all(
                        float(r["value"][1]) >= STEADY_SAMPLES for r in got
                    )

                await _until("steady samples in Prometheus", 300, steady, service)
                if time.time() % 60 > 45:
                    await asyncio.sleep(61 - time.time() % 60)
                assert not hook.requests, "an alert before the spike"
                assert not [a for a in _am_alerts(am_hook) if a[1].get("team") == "social"]
                traffic.spike = TARGET
                spiked = time.monotonic()

                async def fired() -> AlertEvent | None:
                    return next(
                        (
                            e
                            for e, _, _ in _service_events(hook)
                            if e.status == "firing" and e.signal == "negative_share"
                        ),
                        None,
                    )

                event = await _until("service alert", SERVICE_DEADLINE_S, fired, service)
                service_delay = time.monotonic() - spiked

                async def am_fired() -> bool:
                    return any(
                        s == "firing"
                        and labels.get("alertname") in SENTIMENT_ALERTS
                        and labels.get("brand") == TARGET
                        for s, labels in _am_alerts(am_hook)
                    )

                try:
                    await _until("Alertmanager notification", PROMETHEUS_DEADLINE_S, am_fired)
                except pytest.fail.Exception:
                    alerts = prom.query("ALERTS")
                    ratio = prom.query(
                        f'{{__name__=~"brand_window:socialpulse_negative_share:.*",brand="{TARGET}"}}'
                    )
                    pytest.fail(
                        f"no notification; Prometheus: {alerts}; {ratio}; "
                        f"Alertmanager sent {_am_alerts(am_hook)}",
                        pytrace=False,
                    )
                prometheus_delay = time.monotonic() - spiked
                log.info(
                    "service path %.0f s, Prometheus path %.0f s", service_delay, prometheus_delay
                )

                _check_evidence(event)
                before = _service_events(hook)
                log.info("service alert event: %s", next(b for e, _, b in before if e == event))
                for e, headers, body in before:
                    expected = (
                        "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                    )
                    assert headers[SIGNATURE_HEADER] == expected
                    assert headers[IDEMPOTENCY_HEADER] == f"{e.alert_id}:{e.status}"

                # Restart mid-incident (the spike goes on): the detector is rebuilt from the
                # minutes topic, finds the incident again and sends nothing twice.
                await service.close()
                restarted = time.time()
                service = Service(settings)

                async def skipped_and_live() -> bool:
                    m = await _metrics(port)
                    done = m.get("socialpulse_anomaly_evaluated_timestamp_seconds", 0)
                    return m.get("socialpulse_alerts_skipped_total", 0) >= 1 and done > restarted

                await _until("a live minute after the restart", 100, skipped_and_live, service)
                after = _service_events(hook)
                records = await _topic_records(opts, alerts_topic)
                am_alerts = _am_alerts(am_hook)
        finally:
            stop_traffic.set()
            if live is not None:
                await live
            if service is not None:
                with contextlib.suppress(Exception):
                    await service.close()
            await producer.stop()

    # Exactly the target's alerts, each sent once, through both paths.
    assert {e.brand for e, _, _ in after} == {TARGET}
    assert len(after) == len(before), "the restart sent an event again"
    keys = Counter(f"{e.alert_id}:{e.status}" for e, _, _ in after)
    assert max(keys.values()) == 1
    assert Counter(k for k, _ in records) == keys  # the topic holds each event once, and no other
    assert {e.signal for e, _, _ in after} <= {"negative_share", "net_sentiment"}
    social = [(s, labels) for s, labels in am_alerts if labels.get("team") == "social"]
    assert {labels["brand"] for _, labels in social} == {TARGET}
    firing = Counter(labels["alertname"] for s, labels in social if s == "firing")
    assert set(firing) & SENTIMENT_ALERTS and set(firing) <= SENTIMENT_ALERTS, social
    assert max(firing.values()) == 1, f"Alertmanager notified an alert twice: {social}"


def _check_evidence(e: AlertEvent) -> None:
    """The firing event explains itself: values, band, mix, shift, samples, links."""
    assert e.brand == TARGET and e.status == "firing" and e.ends_at is None
    assert e.expected == pytest.approx(0.1, abs=0.02)
    assert e.observed > e.band.upper >= e.expected >= e.band.lower
    assert e.score >= ANOMALY["threshold"]
    neg = next(s for s in e.evidence.sentiment if s.name == "negative")
    assert neg.share is not None and neg.baseline_share is not None
    assert neg.share > neg.baseline_share + 0.2
    assert [p.name for p in e.evidence.platform_mix] == ["x"]
    assert len(e.evidence.samples) == 3
    assert all(s.sentiment == "negative" for s in e.evidence.samples)
    assert all("terrible" in s.text and s.url for s in e.evidence.samples)
    assert e.evidence.top_authors
    assert f"var-brand={TARGET}" in e.links.dashboard
    assert e.links.runbook.endswith("#detector-negative-share")
