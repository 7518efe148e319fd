"""Service settings: the demo brands on the embedded broker, a clear error with Kafka and none."""

from __future__ import annotations

from pathlib import Path

import pytest

from socialpulse.app.settings import service_settings
from socialpulse.demo.brands import DEMO_BRANDS

pytestmark = pytest.mark.usefixtures("clean_environment")

ACME = "brands:\n  - id: acme\n    name: Acme\n    terms: [acme]\n"


def test_embedded_without_brands_runs_the_demo_brands() -> None:
    s = service_settings(None)
    assert s.embedded
    assert s.brands == DEMO_BRANDS
    assert [b.id for b in s.brands] == ["aurora", "lumen", "ember"]


def test_embedded_with_brands_keeps_them(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(ACME)
    s = service_settings(f)
    assert s.embedded and [b.id for b in s.brands] == ["acme"]


def test_the_rest_of_the_config_file_survives_the_demo_brands(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("windows: [1h]\ntop_k: 3\n")
    s = service_settings(f)
    assert s.brands == DEMO_BRANDS and s.windows == ("1h",) and s.top_k == 3


def test_kafka_without_brands_is_an_error_that_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOCIALPULSE_KAFKA__BOOTSTRAP_SERVERS", "broker:9092")
    with pytest.raises(ValueError, match="no brands configured: list them under `brands:`"):
        service_settings(None)


def test_kafka_with_brands_is_taken_as_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(ACME)
    monkeypatch.setenv("SOCIALPULSE_KAFKA__BOOTSTRAP_SERVERS", "broker:9092")
    s = service_settings(f)
    assert not s.embedded and not s.demo_enabled
    assert [b.id for b in s.brands] == ["acme"]
