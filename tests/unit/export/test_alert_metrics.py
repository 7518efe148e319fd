"""socialpulse_anomaly_score and the delivery counters, read from a registry as a scrape does."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from socialpulse.core.anomaly.counts import MinuteCounts
from socialpulse.core.anomaly.detector import Detector
from socialpulse.core.anomaly.fleet import MINUTE_REJECTS, MinuteReject
from socialpulse.export.alert_metrics import AlertCollector, DetectorReading
from socialpulse.export.webhooks import WebhookStats
from socialpulse.kafka.alerts import AlertLogStats
from socialpulse.settings import AnomalySettings

T0 = 20_000 * 1440
QUICK = AnomalySettings(slot_minutes=60, baseline_days=1, baseline_weeks=0, warmup_days=1)


def _scores() -> dict[str, dict[str, float]]:
    """A real evaluation's scores: a steady day, then one minute."""
    d = Detector(QUICK, ["a"])
    c = [
        MinuteCounts(brand="a", minute=m, positive=5, neutral=3, negative=2, by_platform={"x": 10})
        for m in range(T0, T0 + 1440)
    ]
    d.warm(c, T0, T0 + 1440)
    m = T0 + 1440
    ev = d.step(
        m,
        [
            MinuteCounts(
                brand="a", minute=m, positive=5, neutral=3, negative=2, by_platform={"x": 10}
            )
        ],
    )
    return ev.scores


def test_scores_are_exported_for_configured_brands_and_known_signals_only() -> None:
    scores = _scores()
    assert scores["a"]
    polluted = {**scores, "ghost": {"mention_volume": 9.0}}
    polluted["a"] = {**scores["a"], "made_up": 1.0}
    registry = CollectorRegistry()
    registry.register(AlertCollector(["a", "b"], lambda: polluted))
    for signal, score in scores["a"].items():
        got = registry.get_sample_value(
            "socialpulse_anomaly_score", {"brand": "a", "signal": signal}
        )
        assert got == score
    assert (
        registry.get_sample_value("socialpulse_anomaly_score", {"brand": "a", "signal": "made_up"})
        is None
    )
    assert (
        registry.get_sample_value(
            "socialpulse_anomaly_score", {"brand": "ghost", "signal": "mention_volume"}
        )
        is None
    )


def test_delivery_counters_follow_the_stats() -> None:
    log, hooks = AlertLogStats(), WebhookStats()
    registry = CollectorRegistry()
    registry.register(AlertCollector(["a"], dict, log, hooks))
    log.published, hooks.requests, hooks.retries, hooks.delivered, hooks.failed = 3, 7, 4, 2, 1
    value = registry.get_sample_value
    assert value("socialpulse_alerts_published_total") == 3
    assert value("socialpulse_alert_webhook_requests_total") == 7
    assert value("socialpulse_alert_webhook_retries_total") == 4
    assert value("socialpulse_alert_webhook_delivered_total") == 2
    assert value("socialpulse_alert_webhook_failed_total") == 1


def test_skipped_minute_records_are_counted_per_reason_every_reason_present() -> None:
    rejected: dict[MinuteReject, int] = dict.fromkeys(MINUTE_REJECTS, 0)
    registry = CollectorRegistry()
    reading = lambda: DetectorReading(  # noqa: E731 - read at each scrape
        True, 0, 0, None, 0, 0, 0, 0, minutes_rejected=rejected
    )
    registry.register(AlertCollector(["a"], dict, detector=reading))
    rejected["invalid"] = 2
    value = registry.get_sample_value
    assert value("socialpulse_minutes_rejected_total", {"reason": "invalid"}) == 2
    assert value("socialpulse_minutes_rejected_total", {"reason": "undecodable"}) == 0
    assert value("socialpulse_minutes_rejected_total", {"reason": "unknown_partition"}) == 0
