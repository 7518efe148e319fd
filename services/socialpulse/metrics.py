"""export: Prometheus metrics read from the window store and counters at scrape time.

Nothing here runs per event: a custom collector turns the current state into metric families when
Prometheus scrapes, so the hot path never touches prometheus-client. Labels come only from bounded
sets: configured brands and windows, platforms, sentiment classes, reject reasons, topics and
partitions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from socialpulse import __version__
from socialpulse.pipeline import Pipeline

Clock = Callable[[], float]


@dataclass(slots=True)
class ConsumerStats:
    """What the Kafka worker reports about itself; plain fields the collector reads."""

    # (topic, partition) -> records behind the partition's high watermark.
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    batches: int = 0
    batch_seconds: float = 0.0
    commits: int = 0
    dead_lettered: int = 0


_GAUGES: Mapping[str, tuple[str, str]] = {
    # field of WindowKpis -> (metric name, help)
    "potential_reach": (
        "socialpulse_potential_reach",
        "Sum of follower counts of distinct mention authors in the window",
    ),
    "unique_authors": ("socialpulse_unique_authors", "Distinct mention authors in the window"),
    "tagged": ("socialpulse_mentions_tagged", "Mentions in the window that tagged the brand"),
    "impressions": ("socialpulse_impressions", "Impressions of owned content in the window"),
    "engagements": (
        "socialpulse_engagements",
        "Likes, comments, shares, saves and link clicks on owned content in the window",
    ),
    "compound_sum": (
        "socialpulse_sentiment_compound_sum",
        "Sum of VADER compound scores of the window's mentions (divide by mentions for the mean)",
    ),
}


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
        snapshot = self._pipeline.store.snapshot(self._clock())
        bw = ["brand", "window"]
        mentions = GaugeMetricFamily(
            "socialpulse_mentions",
            "Mentions of the brand in the window, by platform",
            labels=[*bw, "platform"],
        )
        by_sentiment = GaugeMetricFamily(
            "socialpulse_mentions_by_sentiment",
            "Mentions of the brand in the window, by VADER sentiment class",
            labels=[*bw, "sentiment"],
        )
        mean = GaugeMetricFamily(
            "socialpulse_sentiment_compound_mean",
            "Mean VADER compound score of the window's mentions (absent without mentions)",
            labels=bw,
        )
        sov = GaugeMetricFamily(
            "socialpulse_share_of_voice_ratio",
            "Brand mentions over mentions of its whole competitive set, 0..1 "
            "(absent when the set has none)",
            labels=bw,
        )
        gauges = {f: GaugeMetricFamily(name, doc, labels=bw) for f, (name, doc) in _GAUGES.items()}
        for brand, per_window in snapshot.items():
            for window, k in per_window.items():
                for platform, n in sorted(k.mentions_by_platform.items()):
                    mentions.add_metric([brand, window, platform], n)
                by_sentiment.add_metric([brand, window, "positive"], k.positive)
                by_sentiment.add_metric([brand, window, "neutral"], k.neutral)
                by_sentiment.add_metric([brand, window, "negative"], k.negative)
                if k.compound_mean is not None:
                    mean.add_metric([brand, window], k.compound_mean)
                if k.share_of_voice is not None:
                    sov.add_metric([brand, window], k.share_of_voice)
                for f, g in gauges.items():
                    g.add_metric([brand, window], getattr(k, f))
        yield mentions
        yield by_sentiment
        yield mean
        yield sov
        yield from gauges.values()
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
        info = GaugeMetricFamily("socialpulse_build_info", "Build information", labels=["version"])
        info.add_metric([__version__], 1)
        yield from (processed, rejected, untracked, unmatched, matches, info)

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
        dlq = CounterMetricFamily(
            "socialpulse_dead_letters_produced", "Records acknowledged by the dead-letter topic"
        )
        dlq.add_metric([], c.dead_lettered)
        yield from (lag, batches, busy, commits, dlq)


def register_metrics(
    registry: CollectorRegistry,
    pipeline: Pipeline,
    clock: Clock,
    consumer: ConsumerStats | None = None,
) -> KpiCollector:
    """Attach socialpulse's collector to ``registry`` (a fresh one per test)."""
    collector = KpiCollector(pipeline, clock, consumer)
    registry.register(collector)
    return collector
