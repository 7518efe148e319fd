"""export: Prometheus metrics read from the window store and counters at scrape time.

Nothing here runs per event: a custom collector turns the current state into metric families when
Prometheus scrapes, so the hot path never touches prometheus-client. Labels come only from bounded
sets: configured brands and windows, platforms, mention kinds, sentiment classes, interaction
types, share-of-voice bases, reject reasons, topics and partitions. A ratio whose denominator is
zero is left out, never exported as NaN or 0.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from socialpulse import __version__
from socialpulse.core.catalogue import KPIS
from socialpulse.core.clock import Clock
from socialpulse.core.kpis import kpi_value
from socialpulse.core.pipeline import Pipeline
from socialpulse.kafka.changelog import StateStats
from socialpulse.kafka.worker import ConsumerStats


class KpiCollector(Collector):
    """Exports every brand's window KPIs and the pipeline's counters when scraped."""

    def __init__(self, pipeline: Pipeline, clock: Clock, consumer: ConsumerStats | None = None):
        self._pipeline = pipeline
        self._clock = clock
        self._consumer = consumer

    def collect(self) -> Iterator[Metric]:
        """Build metric families from the state as it is now."""
        yield from self._window_metrics()
        yield from self._counters()
        if self._consumer is not None:
            yield from self._consumer_metrics(self._consumer)

    def _window_metrics(self) -> Iterator[Metric]:
        """One gauge family per catalogue KPI, labelled brand and window (and its own label)."""
        snapshot = self._pipeline.store.snapshot(self._clock())
        families = [
            GaugeMetricFamily(
                kpi.metric,
                kpi.help,
                labels=["brand", "window", kpi.label] if kpi.label else ["brand", "window"],
            )
            for kpi in KPIS
        ]
        for brand, per_window in snapshot.items():
            for window, k in per_window.items():
                key = [brand, window]
                for kpi, family in zip(KPIS, families, strict=True):
                    value = kpi_value(k, kpi)
                    if kpi.label is None:
                        if value is not None:
                            family.add_metric(key, value)
                        continue
                    for label, v in value.items():
                        if v is not None:
                            family.add_metric([*key, label], v)
        yield from families
        state = GaugeMetricFamily(
            "socialpulse_window_buckets", "Live one-minute buckets held in window state"
        )
        state.add_metric([], self._pipeline.store.bucket_count())
        yield state

    def _counters(self) -> Iterator[Metric]:
        stats = self._pipeline.stats
        processed = CounterMetricFamily(
            "socialpulse_events_processed",
            "Records read from the input topics (rate() gives throughput)",
            labels=["stream"],
        )
        for stream, n in stats.processed.items():
            processed.add_metric([stream], n)
        rejected = CounterMetricFamily(
            "socialpulse_events_rejected",
            "Records sent to the dead-letter topic, by reason",
            labels=["reason"],
        )
        for reason, n in stats.rejected.items():
            rejected.add_metric([reason], n)
        untracked = CounterMetricFamily(
            "socialpulse_interactions_untracked",
            "Valid interactions about a brand that is not configured (counted, not stored)",
        )
        untracked.add_metric([], stats.untracked_brand)
        unmatched = CounterMetricFamily(
            "socialpulse_mentions_unmatched", "Valid mentions that matched no tracked brand"
        )
        unmatched.add_metric([], stats.unmatched_mentions)
        matches = CounterMetricFamily(
            "socialpulse_brand_matches",
            "Brand matches of valid mentions (one mention may match several)",
        )
        matches.add_metric([], stats.brand_matches)
        duplicates = CounterMetricFamily(
            "socialpulse_events_duplicate",
            "Valid events skipped because their event id was already counted in the partition",
        )
        duplicates.add_metric([], stats.duplicates)
        dedup = GaugeMetricFamily(
            "socialpulse_dedup_ids", "Event ids remembered for duplicate detection"
        )
        dedup.add_metric([], self._pipeline.dedup.ids_held())
        info = GaugeMetricFamily("socialpulse_build_info", "Build information", labels=["version"])
        info.add_metric([__version__], 1)
        yield from (processed, rejected, untracked, unmatched, matches, duplicates, dedup, info)

    def _consumer_metrics(self, c: ConsumerStats) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "socialpulse_consumer_lag_records",
            "Records between the consumer position and the high watermark",
            labels=["topic", "partition"],
        )
        for (topic, partition), n in sorted(c.lag.items()):
            lag.add_metric([topic, str(partition)], n)
        batches = CounterMetricFamily("socialpulse_batches", "Batches processed")
        batches.add_metric([], c.batches)
        busy = CounterMetricFamily(
            "socialpulse_batch_processing_seconds",
            "Time spent processing batches (rate() gives the busy fraction)",
        )
        busy.add_metric([], c.batch_seconds)
        commits = CounterMetricFamily("socialpulse_offset_commits", "Consumer offset commits")
        commits.add_metric([], c.commits)
        refused = CounterMetricFamily(
            "socialpulse_offset_commits_refused",
            "Commits the group refused because its partitions had moved to another member",
        )
        refused.add_metric([], c.commits_refused)
        dlq = CounterMetricFamily(
            "socialpulse_dead_letters_produced", "Records acknowledged by the dead-letter topic"
        )
        dlq.add_metric([], c.dead_lettered)
        dlq_refused = CounterMetricFamily(
            "socialpulse_dead_letter_refusals",
            "Dead letters the dead-letter topic refused for good, by kind: too_large ones were "
            "sent truncated, the others hold their partition back",
            labels=["kind"],
        )
        for kind, n in c.dead_letter_refusals.items():
            dlq_refused.add_metric([kind], n)
        held = GaugeMetricFamily(
            "socialpulse_dead_letter_held_partitions",
            "Partitions paused at a dead letter the dead-letter topic refuses",
        )
        held.add_metric([], c.held_partitions)
        since = GaugeMetricFamily(
            "socialpulse_seconds_since_last_commit",
            "Seconds the partition's handled records have waited for an offset commit "
            "(0 when all are committed)",
            labels=["topic", "partition"],
        )
        for (topic, partition), age in c.seconds_since_commit(time.monotonic()).items():
            since.add_metric([topic, str(partition)], age)
        ready = GaugeMetricFamily(
            "socialpulse_ready",
            "1 when the worker is in its group and every owned partition is restored and read",
        )
        ready.add_metric([], 1 if c.ready else 0)
        errors = CounterMetricFamily(
            "socialpulse_consumer_errors",
            "Kafka client errors of the consume loop, by kind (codec, authentication, "
            "authorization, corrupt_record, connection, timeout, other)",
            labels=["kind"],
        )
        for kind, n in c.errors.items():
            errors.add_metric([kind], n)
        failing = GaugeMetricFamily(
            "socialpulse_consumer_failing_seconds",
            "Seconds every poll has failed for (0 while polls succeed)",
        )
        now = time.monotonic()
        failing.add_metric([], 0.0 if c.failing_since is None else now - c.failing_since)
        yield from (
            lag,
            batches,
            busy,
            commits,
            refused,
            dlq,
            dlq_refused,
            held,
            since,
            ready,
            errors,
            failing,
        )
        yield from _state_metrics(c.state)


def _state_metrics(st: StateStats) -> Iterator[Metric]:
    counters = (
        ("socialpulse_state_flushes", "State flushes acknowledged by the state topic", st.flushes),
        (
            "socialpulse_state_flush_failures",
            "State flushes that failed; their records are retried and offsets wait",
            st.flush_failures,
        ),
        ("socialpulse_state_records_written", "State records written", st.records_written),
        ("socialpulse_state_written_bytes", "Bytes of state records written", st.bytes_written),
        (
            "socialpulse_state_tombstones_written",
            "Tombstones written for expired state",
            st.tombstones_written,
        ),
        ("socialpulse_state_restores", "Restores of gained partitions", st.restores),
        (
            "socialpulse_state_restore_failures",
            "Restores that failed; their partitions stay paused and are retried with backoff",
            st.restore_failures,
        ),
        (
            "socialpulse_state_records_fenced",
            "State records of superseded writers or versions found by restores, then deleted",
            st.records_fenced,
        ),
        (
            "socialpulse_state_records_split",
            "State records too large for one Kafka record, written in parts",
            st.records_split,
        ),
        (
            "socialpulse_state_records_restored",
            "State records loaded by restores",
            st.records_restored,
        ),
        (
            "socialpulse_state_restore_seconds",
            "Time spent restoring gained partitions",
            st.restore_seconds,
        ),
    )
    for name, doc, value in counters:
        c = CounterMetricFamily(name, doc)
        c.add_metric([], value)
        yield c
    unrestored = GaugeMetricFamily(
        "socialpulse_state_partitions_unrestored",
        "Owned partitions whose state has not been restored: not consumed, not exported",
    )
    unrestored.add_metric([], len(st.unrestored))
    yield unrestored


def register_metrics(
    registry: CollectorRegistry,
    pipeline: Pipeline,
    clock: Clock,
    consumer: ConsumerStats | None = None,
) -> KpiCollector:
    """Attach socialpulse's collector to ``registry`` (a fresh one per test).

    prometheus-client's process collector comes along: ``process_resident_memory_bytes``, CPU
    seconds, open file descriptors and start time, read from /proc at scrape time (absent on
    systems without /proc).
    """
    collector = KpiCollector(pipeline, clock, consumer)
    registry.register(collector)
    ProcessCollector(registry=registry)
    return collector
