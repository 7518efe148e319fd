"""The README's configuration reference is the one generated from the settings object."""

from __future__ import annotations

from pathlib import Path

from socialpulse.app.reference import BEGIN, END, rewrite, settings_reference
from socialpulse.settings import (
    AnomalySettings,
    BrandSettings,
    KafkaSettings,
    SentimentSettings,
    Settings,
    SpamSettings,
    TrendSettings,
)

README = Path(__file__).resolve().parents[3] / "README.md"


def test_the_readme_reference_is_current() -> None:
    text = README.read_text(encoding="utf-8")
    assert BEGIN in text and END in text
    assert rewrite(text) == text, "README's settings reference drifted: run `make docs`"


def test_every_setting_is_described_and_listed() -> None:
    table = settings_reference()
    models = (
        (Settings, ""),
        (KafkaSettings, "kafka."),
        (AnomalySettings, "anomaly."),
        (TrendSettings, "trends."),
        (SpamSettings, "spam."),
        (SentimentSettings, "sentiment."),
        (BrandSettings, ""),
    )
    for model, prefix in models:
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no docstring"
            if name not in ("kafka", "anomaly", "trends", "spam", "sentiment"):
                assert f"`{prefix}{name}`" in table


def test_ranges_and_choices_come_from_the_constraints() -> None:
    rows = {line.split(" | ")[0]: line for line in settings_reference().splitlines()}
    assert "≥ 1,000, ≤ 3,600,000" in rows["| `kafka.session_timeout_ms`"]
    assert "`text`, `json`, `logfmt`" in rows["| `log_format`"]
    assert "| required |" in rows["| `id`"]
    assert "`SOCIALPULSE_KAFKA__GROUP_ID`" in rows["| `kafka.group_id`"]
