"""Prometheus view of the detector and alert delivery: scores and counters, read at scrape time.

``socialpulse_anomaly_score{brand,signal}`` is the last evaluation's score; labels only from
the configured brands and the detector's ``SIGNALS`` (32), so at most brands × 32 series.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from socialpulse.core.anomaly.detector import SIGNALS
from socialpulse.core.anomaly.fleet import MINUTE_REJECTS, MinuteReject
from socialpulse.export.webhooks import WebhookStats
from socialpulse.kafka.alerts import AlertLogStats

Scores = Mapping[str, Mapping[str, float]]


@dataclass(frozen=True, slots=True)
class DetectorReading:
    """The fleet-wide detector's progress on this worker, as the service reads it at a scrape."""

    evaluating: bool  # this worker runs the detector (it owns mentions partition 0)
    minutes: int  # minutes evaluated since it started
    incomplete: int  # of them, evaluated without every partition's report
    last_minute: int | None  # the last minute evaluated (epoch minutes)
    too_late: int  # transitions not sent: older than alerts.max_delay_minutes
    skipped: int  # events not sent: the alerts topic held them already
    minutes_published: int  # minute records this worker published
    minutes_publish_failures: int  # minute publishes that failed (retried)
    # Minutes-topic records the detector skipped, per reason (``fleet.MINUTE_REJECTS``).
    minutes_rejected: Mapping[MinuteReject, int] = field(default_factory=dict)


class AlertCollector(Collector):
    """Exports the detector's last scores and the alert delivery counters when scraped."""

    def __init__(
        self,
        brands: Iterable[str],
        scores: Callable[[], Scores],
        log_stats: AlertLogStats | None = None,
        webhook_stats: WebhookStats | None = None,
        detector: Callable[[], DetectorReading] | None = None,
    ) -> None:
        self._brands = frozenset(brands)
        self._signals = frozenset(SIGNALS)
        self._scores = scores
        self._log = log_stats
        self._webhooks = webhook_stats
        self._detector = detector

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
        if self._detector is not None:
            d = self._detector()
            yield GaugeMetricFamily(
                "socialpulse_anomaly_evaluator",
                "1 on the worker that runs the fleet-wide spike detector (the owner of mentions "
                "partition 0), else 0",
                value=1 if d.evaluating else 0,
            )
            if d.last_minute is not None:
                yield GaugeMetricFamily(
                    "socialpulse_anomaly_evaluated_timestamp_seconds",
                    "End of the last minute the spike detector evaluated (Unix time)",
                    value=(d.last_minute + 1) * 60,
                )
            counters += [
                (
                    "socialpulse_anomaly_minutes_evaluated",
                    "Fleet-wide minutes the spike detector evaluated since it started here",
                    d.minutes,
                ),
                (
                    "socialpulse_anomaly_minutes_incomplete",
                    "Of them, minutes evaluated without every mentions partition's report",
                    d.incomplete,
                ),
                (
                    "socialpulse_alerts_too_late",
                    "Alert transitions not sent: older than alerts.max_delay_minutes when found",
                    d.too_late,
                ),
                (
                    "socialpulse_alerts_skipped",
                    "Alert events not sent again: the alerts topic held them already",
                    d.skipped,
                ),
                (
                    "socialpulse_minutes_published",
                    "Per-partition minute records published to the minutes topic",
                    d.minutes_published,
                ),
                (
                    "socialpulse_minutes_publish_failures",
                    "Publishes to the minutes topic that failed (retried at the next checkpoint)",
                    d.minutes_publish_failures,
                ),
            ]
            rejected = CounterMetricFamily(
                "socialpulse_minutes_rejected",
                "Minutes-topic records the spike detector skipped: undecodable, invalid (counts "
                "no worker writes) or of a partition the mentions topic lacks",
                labels=["reason"],
            )
            for reason in MINUTE_REJECTS:
                rejected.add_metric([reason], d.minutes_rejected.get(reason, 0))
            yield rejected
        for name, doc, value in counters:
            c = CounterMetricFamily(name, doc)
            c.add_metric([], value)
            yield c
