"""The Prometheus brand alerts are generated from the detector's settings and committed current."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from socialpulse.app.rules import DEFAULT_RUNBOOK_URL, brand_rules, default_rules, main
from socialpulse.settings import AnomalySettings

COMMITTED = Path(__file__).resolve().parents[3] / "deploy/prometheus/rules/brand_alerts.yml"
WINDOWS = ("5m", "1h", "24h", "7d")


def _alerts(text: str) -> dict[str, dict[str, Any]]:
    groups = cast(dict[str, Any], yaml.safe_load(text))["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def test_the_committed_rule_file_is_what_the_defaults_generate() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == default_rules(), (
        "deploy/prometheus/rules/brand_alerts.yml drifted from the settings: run `make rules`"
    )


def test_main_prints_the_default_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert capsys.readouterr().out == default_rules()


def test_every_threshold_comes_from_the_settings() -> None:
    s = AnomalySettings(
        persistence_minutes=7,
        resolve_minutes=25,
        threshold=4.5,
        min_volume=123,
        min_volume_lift=2.0,
        min_sentiment_mentions=45,
        min_share_lift=0.75,
        min_share_delta=0.125,
        min_net_sentiment_drop=0.35,
        min_ratio_spread=0.03,
        min_relative_spread=0.2,
        positive_surge_margin=0.25,
    )
    alerts = _alerts(brand_rules(s, WINDOWS))
    assert {a["for"] for a in alerts.values()} == {"7m"}
    assert {a["keep_firing_for"] for a in alerts.values()} == {"25m"}
    neg = alerts["SocialpulseNegativeSentimentSpike"]["expr"]
    assert ">= 1.75 * brand_window:socialpulse_negative_share:ratio_baseline" in neg
    assert "ratio_baseline + 0.125" in neg
    assert "4.5 * sqrt(" in neg and "+ 0.0009)" in neg
    # The negative share's volume gate counts scored mentions only (unscored ones have no class).
    assert 'sentiment=~"positive|neutral|negative"}) >= 45' in neg
    net = alerts["SocialpulseNetSentimentDrop"]["expr"]
    assert "ratio_baseline - 0.35" in net and ") >= 45" in net
    vol = alerts["SocialpulseMentionVolumeSpike"]["expr"]
    assert ">= 3 * brand_window:socialpulse_mentions:baseline" in vol
    assert "(0.2 * brand_window:socialpulse_mentions:baseline) ^ 2" in vol
    assert 'mentions:sum{window="5m"} >= 123' in vol
    assert "positive_share:ratio_baseline + 0.25" in vol


def test_a_positive_surge_alerts_only_when_configured() -> None:
    quiet = _alerts(brand_rules(AnomalySettings(), WINDOWS))["SocialpulseMentionVolumeSpike"]
    loud = _alerts(brand_rules(AnomalySettings(alert_on_positive_surge=True), WINDOWS))
    assert "unless on (brand, window)" in quiet["expr"]
    assert "positive_share" not in loud["SocialpulseMentionVolumeSpike"]["expr"]


def test_the_window_follows_window_minutes_and_must_be_exported() -> None:
    text = brand_rules(AnomalySettings(window_minutes=60), WINDOWS)
    assert 'window="1h"' in text and 'window="5m"' not in text
    with pytest.raises(ValueError, match="matches none of the exported windows"):
        brand_rules(AnomalySettings(window_minutes=10), WINDOWS)


def test_runbook_urls_point_at_each_alerts_section_under_the_given_address() -> None:
    default = _alerts(default_rules())
    assert {a["annotations"]["runbook_url"] for a in default.values()} == {
        f"{DEFAULT_RUNBOOK_URL}#{name.lower()}" for name in default
    }
    mine = _alerts(brand_rules(AnomalySettings(), WINDOWS, "https://wiki.example/sp"))
    link = mine["SocialpulseNetSentimentDrop"]["annotations"]["runbook_url"]
    assert link == "https://wiki.example/sp#socialpulsenetsentimentdrop"
