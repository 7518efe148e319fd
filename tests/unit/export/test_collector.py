"""The Prometheus collector: window state read at scrape time, counters, bounded labels."""

from __future__ import annotations

import os

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from builders import ALPHA_BETA, encoded, interaction, mention, off
from socialpulse.core.pipeline import Pipeline
from socialpulse.export.collector import register_metrics
from socialpulse.kafka.worker import ConsumerStats
from socialpulse.settings import Settings

NOW = 1_800_000_030.0
SRC = ("m", 0)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(brands=ALPHA_BETA, max_text_chars=100)


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
    assert before[("socialpulse_sentiment_compound_sum", (("brand", "a"), ("window", "5m")))] == 0
    sov = (("basis", "mentions"), ("brand", "a"), ("window", "5m"))
    assert before[("socialpulse_share_of_voice_set_base", sov)] == 0
    assert before[("socialpulse_events_rejected_total", (("reason", "late"),))] == 0
    assert before[("socialpulse_consumer_lag_records", (("partition", "0"), ("topic", "m")))] == 7

    p.process(
        "mentions", encoded(mention(NOW - 10, "u1", 10, text="alpha is awful")), SRC, NOW, off()
    )
    p.process("mentions", encoded(mention(NOW - 4000, "u2", 3, text="alpha")), SRC, NOW, off())
    p.process("interactions", encoded(interaction(NOW - 10, "impression")), SRC, NOW, off())
    p.process("interactions", encoded(interaction(NOW - 10, "like")), SRC, NOW, off())
    p.process("mentions", b"{", SRC, NOW, off())
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
    assert after[("socialpulse_share_of_voice_base", mentions_basis)] == 1
    assert after[("socialpulse_share_of_voice_set_base", mentions_basis)] == 1
    assert after[("socialpulse_sentiment_compound_sum", bw)] < 0
    # Ratios of exported parts are the recording rules' to compute, not exported per worker.
    assert not any(name.endswith(("_ratio", "_mean", "_per_post")) for name, _ in after)
    assert after[("socialpulse_events_rejected_total", (("reason", "invalid_json"),))] == 1
    assert after[("socialpulse_events_processed_total", (("stream", "mentions"),))] == 3
    labels = {k for name, labels in after for k, _ in labels}
    assert labels <= {
        "brand",
        "window",
        "platform",
        "sentiment",
        "language",
        "reason",
        "stream",
        "topic",
        "partition",
        "version",
        "kind",
        "type",
        "basis",
    }


def test_process_metrics_come_with_the_collector(settings: Settings) -> None:
    registry = CollectorRegistry()
    register_metrics(registry, Pipeline(settings), lambda: NOW)
    samples = _samples(registry)
    # Read from /proc/self: the resident set of this very process, in bytes.
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    rss = samples[("process_resident_memory_bytes", ())]
    assert rss > 10 * 2**20
    assert abs(rss - pages * os.sysconf("SC_PAGE_SIZE")) < 64 * 2**20
    assert samples[("process_start_time_seconds", ())] > 0


def test_operations_series_exist_at_zero_before_anything_happens(settings: Settings) -> None:
    # An operations panel is empty (not 0) when its series is missing: every one is exported
    # from the first scrape on.
    registry = CollectorRegistry()
    consumer = ConsumerStats(last_commit={SRC: 0.0})
    register_metrics(registry, Pipeline(settings), lambda: NOW, consumer)
    samples = _samples(registry)
    for name in (
        "socialpulse_state_restores_total",
        "socialpulse_state_restore_failures_total",
        "socialpulse_state_partitions_unrestored",
        "socialpulse_state_flush_failures_total",
        "socialpulse_offset_commits_refused_total",
        "socialpulse_dead_letters_produced_total",
        "socialpulse_dead_letter_held_partitions",
        "socialpulse_consumer_failing_seconds",
        "socialpulse_ready",
        "socialpulse_window_buckets",
        "socialpulse_dedup_ids",
        "socialpulse_dedup_ids_spilled",
        "socialpulse_dedup_spill_failures_total",
    ):
        assert samples[(name, ())] == 0, name
    errors = {
        dict(labels)["kind"]
        for name, labels in samples
        if name == "socialpulse_consumer_errors_total"
    }
    assert {"connection", "timeout", "other"} <= errors
    assert (
        samples[("socialpulse_seconds_since_last_commit", (("partition", "0"), ("topic", "m")))]
        == 0
    )
    reasons = {
        dict(labels)["reason"]
        for name, labels in samples
        if name == "socialpulse_events_rejected_total"
    }
    assert {"late", "future", "schema"} <= reasons
    refusals = {
        dict(labels)["kind"]
        for name, labels in samples
        if name == "socialpulse_dead_letter_refusals_total"
    }
    assert {"too_large", "authorization"} <= refusals
