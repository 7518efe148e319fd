"""socialpulse's brand KPIs written the way faust-streaming documents it, as a reference peer.

Run as a process: ``python -m tests.peer.faust_app worker -l warning``. Configured by
environment variables (all required except where a default is given):

* ``PEER_BROKER``: ``host:port`` of the Kafka cluster;
* ``PEER_APP_ID``: the faust app id (consumer group, prefix of its internal topics);
* ``PEER_MENTIONS_TOPIC``, ``PEER_INTERACTIONS_TOPIC``: the input topics;
* ``PEER_METRICS_PORT``: port of the Prometheus endpoint on 127.0.0.1;
* ``PEER_DATA_DIR``: faust's data directory (a temporary directory);
* ``PEER_GUARANTEE``: ``exactly_once`` (default: what the docs prescribe for exact counts, the
  broker runs transactions) or ``at_least_once`` (faust's default);
* ``PEER_PARTITIONS``: partitions of the internal topics (default 4);
* ``PEER_BRANDS_FILE``: a JSON list of brand settings to track (default: the demo brands).

The pipeline: one agent per input topic decodes the JSON, matches brands with
``socialpulse.core.brands.BrandMatcher`` and scores mentions with ``vaderSentiment``, then forwards
one small record per (event, brand) to an internal topic keyed by brand. That is faust's
documented way to co-partition a table with its stream (``group_by`` / forwarding to a topic
keyed by the table key). A third agent folds those records into a windowed table,
``Table(...).tumbling(60, expires=...).relative_to_field(BrandEvent.ts)``: one-minute
event-time buckets per brand and KPI, backed by faust's changelog topic. A timer turns the
table's live buckets of the last hour into the same Prometheus metrics socialpulse exports.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import faust
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from py3langid.langid import MODEL_FILE, LanguageIdentifier
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from socialpulse.core.brands import BrandMatcher
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.settings import BrandSettings

WINDOW = "1h"
WINDOW_MINUTES = 60
ENGAGEMENTS = frozenset({"like", "comment", "share", "save", "link_click"})


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        sys.exit(f"faust peer: set {name}")
    return value


def _brands() -> tuple[BrandSettings, ...]:
    path = os.environ.get("PEER_BRANDS_FILE")
    if not path:
        return DEMO_BRANDS
    with open(path, encoding="utf-8") as f:
        return tuple(BrandSettings.model_validate(b) for b in json.load(f))


TRACKED = _brands()
BRANDS = {b.id for b in TRACKED}

MENTIONS_TOPIC = _env("PEER_MENTIONS_TOPIC", "socialpulse.mentions")
INTERACTIONS_TOPIC = _env("PEER_INTERACTIONS_TOPIC", "socialpulse.interactions")
PARTITIONS = int(_env("PEER_PARTITIONS", "4"))

app = faust.App(
    _env("PEER_APP_ID", "socialpulse-faust-peer"),
    broker=f"kafka://{_env('PEER_BROKER', '127.0.0.1:19092')}",
    store="memory://",
    datadir=_env("PEER_DATA_DIR", "/tmp/socialpulse-faust-peer"),  # noqa: S108 - dev default
    processing_guarantee=_env("PEER_GUARANTEE", "exactly_once"),
    topic_partitions=PARTITIONS,
    topic_replication_factor=1,
    topic_allow_declare=True,
    table_standby_replicas=0,
    consumer_auto_offset_reset="earliest",
    web_enabled=False,
    broker_commit_interval=1.0,
    # aiokafka's defaults, as socialpulse uses: faust's own 60 s session timeout would make every
    # restart after a kill -9 wait a minute for the dead member to be evicted.
    broker_session_timeout=10.0,
    broker_heartbeat_interval=3.0,
)


class BrandEvent(faust.Record, serializer="json"):
    """One event's contribution to one brand's KPIs."""

    brand: str
    ts: float  # event time, seconds since the epoch
    kind: str  # mention | impression | engagement
    platform: str = ""
    sentiment: str = ""


mentions_topic = app.topic(MENTIONS_TOPIC, key_type=bytes, value_serializer="raw")
interactions_topic = app.topic(INTERACTIONS_TOPIC, key_type=bytes, value_serializer="raw")
brand_topic = app.topic(
    f"{app.conf.id}-brand-events",
    key_type=str,
    value_type=BrandEvent,
    partitions=PARTITIONS,
    internal=True,
)

kpis = (
    app.Table("kpis", default=int, partitions=PARTITIONS)
    .tumbling(60, expires=timedelta(minutes=WINDOW_MINUTES + 5))
    .relative_to_field(BrandEvent.ts)  # type: ignore[arg-type] # a FieldDescriptor at runtime
)

matcher = BrandMatcher(TRACKED)
vader = SentimentIntensityAnalyzer()


# The service's default languages and detection threshold: a mention's language is its field's
# primary subtag, else py3langid's over these, `unknown` below the threshold.
LANGUAGES = ["en", "es", "pt", "fr", "de", "it", "ja"]
langid = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
langid.set_languages(LANGUAGES)


def language(m: dict[str, Any]) -> str:
    """The mention's language: only English is scored."""
    tag = m.get("language")
    if tag is not None:
        subtag = str(tag).strip().replace("_", "-").split("-")[0].lower()
        return "unknown" if subtag in ("", "und") else subtag
    found, probability = langid.classify(m["text"])
    return str(found) if probability >= 0.5 else "unknown"


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _label(compound: float) -> str:
    return "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"


@app.agent(mentions_topic)
async def mentions(stream: Any) -> None:
    """Match and score each mention, forward one record per matched brand."""
    async for value in stream:
        try:
            m = faust.utils.json.loads(value)
            matches = matcher.match(m["text"], bool(m.get("tagged", False)))
            if not matches:
                continue
            # VADER scores English only; the others count as unscored, as in the service.
            sentiment = (
                _label(vader.polarity_scores(m["text"])["compound"])
                if language(m) == "en"
                else "unscored"
            )
            ts = _ts(m["created_at"])
        except (ValueError, KeyError, TypeError):
            continue
        for match in matches:
            await brand_topic.send(
                key=match.brand,
                value=BrandEvent(match.brand, ts, "mention", m["platform"], sentiment),
            )


@app.agent(interactions_topic)
async def interactions(stream: Any) -> None:
    """Forward impressions and engagements on tracked brands' content."""
    async for value in stream:
        try:
            i = faust.utils.json.loads(value)
            brand, kind = i["brand"], i["type"]
            ts = _ts(i["created_at"])
        except (ValueError, KeyError, TypeError):
            continue
        if brand not in BRANDS:
            continue
        if kind == "impression":
            await brand_topic.send(key=brand, value=BrandEvent(brand, ts, "impression"))
        elif kind in ENGAGEMENTS:
            await brand_topic.send(key=brand, value=BrandEvent(brand, ts, "engagement"))


@app.agent(brand_topic)
async def aggregate(stream: Any) -> None:
    """Count each contribution in its brand's one-minute bucket."""
    async for e in stream:
        if e.kind == "mention":
            kpis[f"{e.brand}|mention|{e.platform}"] += 1
            kpis[f"{e.brand}|sentiment|{e.sentiment}"] += 1
        else:
            kpis[f"{e.brand}|{e.kind}"] += 1


class _Snapshot(Collector):
    """Serves the last snapshot the timer took (the table is read on the event loop only)."""

    def __init__(self) -> None:
        self.kpis: dict[tuple[str, ...], int] = {}
        self.lag: dict[tuple[str, int], int] = {}
        self.taken = 0.0

    def collect(self) -> Iterator[Metric]:
        kpis, lag = self.kpis, self.lag
        mentions = GaugeMetricFamily(
            "socialpulse_mentions", "Mentions", labels=["brand", "window", "platform"]
        )
        sentiment = GaugeMetricFamily(
            "socialpulse_mentions_by_sentiment",
            "Mentions by sentiment",
            labels=["brand", "window", "sentiment"],
        )
        impressions = GaugeMetricFamily(
            "socialpulse_impressions", "Impressions", labels=["brand", "window"]
        )
        engagements = GaugeMetricFamily(
            "socialpulse_engagements", "Engagements", labels=["brand", "window"]
        )
        for key, n in sorted(kpis.items()):
            brand, kind = key[0], key[1]
            if kind == "mention":
                mentions.add_metric([brand, WINDOW, key[2]], n)
            elif kind == "sentiment":
                sentiment.add_metric([brand, WINDOW, key[2]], n)
            elif kind == "impression":
                impressions.add_metric([brand, WINDOW], n)
            elif kind == "engagement":
                engagements.add_metric([brand, WINDOW], n)
        lag_family = GaugeMetricFamily(
            "socialpulse_consumer_lag_records",
            "Records between the consumer position and the high watermark",
            labels=["topic", "partition"],
        )
        for (topic, partition), n in sorted(lag.items()):
            lag_family.add_metric([topic, str(partition)], n)
        taken = GaugeMetricFamily(
            "socialpulse_peer_snapshot_timestamp_seconds", "When the timer last read the table"
        )
        taken.add_metric([], self.taken)
        yield from (mentions, sentiment, impressions, engagements, lag_family, taken)


snapshot = _Snapshot()


@app.timer(interval=1.0)  # type: ignore[untyped-decorator]
async def take_snapshot() -> None:
    """Sum each brand's live one-minute buckets of the last hour; read the consumer lag."""
    oldest = (int(time.time() // 60) - WINDOW_MINUTES + 1) * 60
    totals: dict[tuple[str, ...], int] = defaultdict(int)
    for (key, (start, _end)), n in list(kpis.table.data.items()):
        if start >= oldest:
            totals[tuple(key.split("|"))] += n
    snapshot.kpis = dict(totals)
    consumer = app.consumer
    lag: dict[tuple[str, int], int] = {}
    for tp in consumer.assignment():
        if tp.topic not in (MENTIONS_TOPIC, INTERACTIONS_TOPIC, brand_topic.get_topic_name()):
            continue
        try:
            high = consumer.highwater(tp)
            position = await consumer.position(tp)
        except Exception:  # noqa: S112 - revoked by a rebalance meanwhile: not ours
            continue
        if high is None or position is None:
            continue
        lag[(tp.topic, tp.partition)] = max(0, high - position)
    snapshot.lag = lag
    snapshot.taken = time.time()


@app.task  # type: ignore[untyped-decorator]
async def serve_metrics() -> None:
    """Start the Prometheus endpoint when the worker starts."""
    registry = CollectorRegistry()
    registry.register(snapshot)
    start_http_server(int(_env("PEER_METRICS_PORT", "9465")), addr="127.0.0.1", registry=registry)


if __name__ == "__main__":
    app.main()
