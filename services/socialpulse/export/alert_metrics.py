"""Prometheus view of the detector and alert delivery: scores and counters, read at scrape time.

``socialpulse_anomaly_score{brand,signal}`` is the last evaluation's score; labels only from
the configured brands and the detector's ``SIGNALS`` (32), so at most brands × 32 series.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from socialpulse.core.anomaly.detector import SIGNALS
from socialpulse.export.webhooks import WebhookStats
from socialpulse.kafka.alerts import AlertLogStats

Scores = Mapping[str, Mapping[str, float]]


class AlertCollector(Collector):
    """Exports the detector's last scores and the alert delivery counters when scraped."""

    def __init__(
        self,
        brands: Iterable[str],
        scores: Callable[[], Scores],
        log_stats: AlertLogStats | None = None,
        webhook_stats: WebhookStats | None = None,
    ) -> None:
        self._brands = frozenset(brands)
        self._signals = frozenset(SIGNALS)
        self._scores = scores
        self._log = log_stats
        self._webhooks = webhook_stats

    def collect(self) -> Iterator[Metric]:
        """Build the families from the state as it is now."""
        g = GaugeMetricFamily(
            "socialpulse_anomaly_score",
            "Spike detector score of the last evaluated minute (robust standard deviations; "
            "positive is the alerting direction; -100..100)",
            labels=["brand", "signal"],
        )
        for brand, per_signal in sorted(self._scores().items()):
            if brand not in self._brands:
                continue
            for signal, score in sorted(per_signal.items()):
                if signal in self._signals:
                    g.add_metric([brand, signal], score)
        yield g
        counters: list[tuple[str, str, int]] = []
        if self._log is not None:
            counters += [
                (
                    "socialpulse_alerts_published",
                    "Alert events published to the alerts topic",
                    self._log.published,
                ),
            ]
        if self._webhooks is not None:
            w = self._webhooks
            counters += [
                ("socialpulse_alert_webhook_requests", "Webhook requests made", w.requests),
                (
                    "socialpulse_alert_webhook_retries",
                    "Webhook requests that were retries",
                    w.retries,
                ),
                (
                    "socialpulse_alert_webhook_delivered",
                    "Alert events a webhook accepted",
                    w.delivered,
                ),
                (
                    "socialpulse_alert_webhook_failed",
                    "Alert events a webhook refused or did not accept within every attempt",
                    w.failed,
                ),
            ]
        for name, doc, value in counters:
            c = CounterMetricFamily(name, doc)
            c.add_metric([], value)
            yield c
