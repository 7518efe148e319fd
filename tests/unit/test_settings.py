"""Settings: file and environment sources, validation that names the problem, frozen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from socialpulse.settings import Settings, load_settings, window_seconds

YAML = """
kafka:
  bootstrap_servers: broker:9092
  group_id: from-file
  sasl_password: hunter2
brands:
  - id: acme
    name: Acme
    terms: [acme]
windows: [1h, 5m]
"""


def test_yaml_file_then_environment_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(YAML)
    monkeypatch.setenv("SOCIALPULSE_KAFKA__GROUP_ID", "from-env")
    s = load_settings(f)
    assert s.kafka.bootstrap_servers == "broker:9092"
    assert s.kafka.group_id == "from-env"
    assert s.windows == ("5m", "1h")
    assert not s.embedded and not s.demo_enabled
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump(mode="json"))
    with pytest.raises(ValidationError):
        s.metrics_port = 1  # type: ignore[misc]


def test_toml_file_via_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "c.toml"
    f.write_text('windows = ["7d"]\n[[brands]]\nid = "acme"\nname = "Acme"\nterms = ["acme"]\n')
    monkeypatch.setenv("SOCIALPULSE_CONFIG", str(f))
    s = load_settings()
    assert s.longest_window_seconds == 7 * 86400
    assert s.embedded and s.demo_enabled


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"windows": ["5x"]}, "whole number"),
        ({"windows": []}, "at least one"),
        ({"brands": [{"id": "Bad Id", "name": "x", "terms": ["x"]}]}, "pattern"),
        ({"brands": [{"id": "a", "name": "A", "terms": ["a"], "competitors": ["zz"]}]}, "zz"),
        ({"brands": [{"id": "a", "name": "A", "terms": ["a"]}] * 2}, "unique"),
        (
            {"brands": [{"id": "a", "name": "A", "terms": ["a"], "handles": ["a"]}]},
            "must start with '@'",
        ),
        ({"metrics_port": 70000}, "metrics_port"),
        ({"unknown_setting": 1}, "unknown_setting"),
        ({"dedup_horizon_seconds": 59}, "greater than or equal to 60"),
        ({"windows": ["5m", "1h"], "dedup_horizon_seconds": 3660}, "longer than the longest"),
    ],
)
def test_invalid_settings_say_what_is_wrong(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        load_settings(**overrides)


def test_unreadable_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read config file"):
        load_settings(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("brands: [")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_settings(bad)


def test_window_seconds() -> None:
    assert [window_seconds(w) for w in ("5m", "1h", "24h", "7d")] == [300, 3600, 86400, 604800]


def test_window_labels_accept_days() -> None:
    assert window_seconds("7d") == 604_800
    assert Settings().windows == ("5m", "1h", "24h", "7d")


def test_the_dedup_horizon_defaults_to_the_longest_window() -> None:
    assert load_settings(windows=["5m", "1h"]).dedup_horizon == 3600
    assert load_settings(windows=["5m", "24h"]).dedup_horizon == 86400
    assert load_settings(windows=["5m", "1h", "24h", "7d"]).dedup_horizon == 604800
    assert load_settings(windows=["7d"], dedup_horizon_seconds=86400).dedup_horizon == 86400
    assert load_settings(windows=["7d"], dedup_horizon_seconds=604800).dedup_horizon == 604800
    assert load_settings(windows=["5m", "1h"], dedup_horizon_seconds=600).dedup_horizon == 600
