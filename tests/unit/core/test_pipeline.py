"""The pure pipeline: one record in, state or a rejection out; counters; exported metrics."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from socialpulse.core.pipeline import Pipeline
from socialpulse.export.collector import register_metrics
from socialpulse.kafka.worker import ConsumerStats
from socialpulse.settings import Settings

NOW = 1_800_000_030.0
SRC = ("m", 0)
_OFFSETS = itertools.count()


def _next_offset() -> int:
    """Every record of these tests comes from a fresh offset."""
    return next(_OFFSETS)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(
        brands=[
            {
                "id": "a",
                "name": "A",
                "terms": ["alpha"],
                "handles": ["@alpha"],
                "competitors": ["b"],
            },
            {"id": "b", "name": "B", "terms": ["beta"]},
        ],
        max_text_chars=100,
    )


def _mention(text: str, ago: float = 10, author: str = "u", followers: int = 5) -> bytes:
    ts = datetime.fromtimestamp(NOW - ago, tz=UTC).isoformat()
    body: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "platform": "x",
        "created_at": ts,
        "author": {"id": author, "handle": author, "followers": followers},
        "text": text,
        "kind": "post",
    }
    return json.dumps(body).encode()


def _interaction(kind: str, brand: str = "a", ago: float = 10) -> bytes:
    ts = datetime.fromtimestamp(NOW - ago, tz=UTC).isoformat()
    body = {
        "event_id": str(uuid.uuid4()),
        "platform": "x",
        "created_at": ts,
        "type": kind,
        "brand": brand,
        "user_id": "v",
    }
    return json.dumps(body).encode()


def test_valid_mention_is_scored_and_counted(settings: Settings) -> None:
    p = Pipeline(settings)
    assert (
        p.process("mentions", _mention("I love alpha and beta!"), SRC, NOW, _next_offset()) is None
    )
    k = p.store.snapshot(NOW)
    assert k["a"]["5m"].positive == 1 and k["b"]["5m"].positive == 1
    assert k["a"]["5m"].share_of_voice == 0.5
    assert p.stats.brand_matches == 2
    assert p.stats.processed == {"mentions": 1, "interactions": 0}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe", "undecodable"),
        (b"{", "invalid_json"),
        (None, "invalid_json"),
        (b'{"event_id": 1}', "schema"),
        (_mention("alpha " * 30), "oversized"),
        (_mention("alpha", ago=7 * 86400 + 60), "late"),
        (_mention("alpha", ago=-301), "future"),
    ],
)
def test_bad_input_is_rejected_with_reason(
    settings: Settings, raw: bytes | None, reason: str
) -> None:
    p = Pipeline(settings)
    rejection = p.process("mentions", raw, SRC, NOW, _next_offset())
    assert rejection is not None and rejection.reason == reason and rejection.detail
    assert p.stats.rejected[reason] == 1
    assert sum(p.stats.rejected.values()) == 1
    assert p.store.bucket_count() == 0


def test_future_limit_is_inclusive(settings: Settings) -> None:
    assert (
        Pipeline(settings).process(
            "mentions", _mention("alpha", ago=-300), SRC, NOW, _next_offset()
        )
        is None
    )


def test_unmatched_mentions_and_untracked_interactions_are_counted_not_stored(
    settings: Settings,
) -> None:
    p = Pipeline(settings)
    assert p.process("mentions", _mention("nothing here"), SRC, NOW, _next_offset()) is None
    assert (
        p.process("interactions", _interaction("like", brand="zeta"), SRC, NOW, _next_offset())
        is None
    )
    assert p.stats.unmatched_mentions == 1 and p.stats.untracked_brand == 1
    assert p.store.bucket_count() == 0


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def test_metrics_read_state_at_scrape_time(settings: Settings) -> None:
    p = Pipeline(settings)
    registry = CollectorRegistry()
    consumer = ConsumerStats(lag={("m", 0): 7})
    register_metrics(registry, p, lambda: NOW, consumer)
    before = _samples(registry)
    assert ("socialpulse_sentiment_compound_mean", (("brand", "a"), ("window", "5m"))) not in before
    assert not any(name == "socialpulse_share_of_voice_ratio" for name, _ in before)
    assert before[("socialpulse_events_rejected_total", (("reason", "late"),))] == 0
    assert before[("socialpulse_consumer_lag_records", (("partition", "0"), ("topic", "m")))] == 7

    p.process(
        "mentions", _mention("alpha is awful", author="u1", followers=10), SRC, NOW, _next_offset()
    )
    p.process(
        "mentions", _mention("alpha", author="u2", followers=3, ago=4000), SRC, NOW, _next_offset()
    )
    p.process("interactions", _interaction("impression"), SRC, NOW, _next_offset())
    p.process("interactions", _interaction("like"), SRC, NOW, _next_offset())
    p.process("mentions", b"{", SRC, NOW, _next_offset())
    after = _samples(registry)
    bw = (("brand", "a"), ("window", "5m"))
    assert (
        after[("socialpulse_mentions", (("brand", "a"), ("platform", "x"), ("window", "5m")))] == 1
    )
    assert (
        after[("socialpulse_mentions", (("brand", "a"), ("platform", "x"), ("window", "24h")))] == 2
    )
    assert (
        after[("socialpulse_mentions_by_sentiment", (*bw[:1], ("sentiment", "negative"), bw[1]))]
        == 1
    )
    assert after[("socialpulse_potential_reach", bw)] == 10
    assert after[("socialpulse_potential_reach", (("brand", "a"), ("window", "24h")))] == 13
    assert after[("socialpulse_impressions", bw)] == 1
    assert after[("socialpulse_engagements", bw)] == 1
    mentions_basis = (("basis", "mentions"), *bw)
    assert after[("socialpulse_share_of_voice_ratio", mentions_basis)] == 1.0
    assert after[("socialpulse_sentiment_compound_mean", bw)] < 0
    assert after[("socialpulse_events_rejected_total", (("reason", "invalid_json"),))] == 1
    assert after[("socialpulse_events_processed_total", (("stream", "mentions"),))] == 3
    labels = {k for name, labels in after for k, _ in labels}
    assert labels <= {
        "brand",
        "window",
        "platform",
        "sentiment",
        "reason",
        "stream",
        "topic",
        "partition",
        "version",
        "kind",
        "type",
        "basis",
    }
