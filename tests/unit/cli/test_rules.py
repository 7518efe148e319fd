"""``socialpulse rules``: the brand alert rules for the configuration's thresholds."""

from __future__ import annotations

from pathlib import Path

import pytest

from socialpulse.app.rules import default_rules
from socialpulse.cli.main import main

pytestmark = pytest.mark.usefixtures("clean_environment")


def test_without_a_config_it_prints_the_committed_defaults(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["rules"]) == 0
    assert capsys.readouterr().out == default_rules()


def test_the_config_file_thresholds_and_the_runbook_address_are_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("anomaly:\n  min_volume: 500\n  persistence_minutes: 9\n")
    assert main(["--config", str(f), "rules", "--runbook-url", "https://ops.example/rb"]) == 0
    out = capsys.readouterr().out
    assert 'mentions:sum{window="5m"} >= 500' in out
    assert "for: 9m" in out and "for: 3m" not in out
    assert "runbook_url: https://ops.example/rb#socialpulsementionvolumespike" in out


def test_a_window_the_service_does_not_export_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("anomaly:\n  window_minutes: 10\n")
    assert main(["--config", str(f), "rules"]) == 2
    assert "window_minutes (10)" in capsys.readouterr().err
