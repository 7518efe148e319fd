"""``socialpulse run``: resolved settings reach the service, signals stop it, failures exit 1."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from socialpulse.cli.main import main
from socialpulse.cli.run import run
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.settings import Settings

pytestmark = pytest.mark.usefixtures("clean_environment")

Service = Callable[[Settings, asyncio.Event, Callable[[str], None]], object]


def test_main_hands_the_resolved_settings_to_run_and_returns_its_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Settings] = []

    def fake_run(settings: Settings) -> int:
        seen.append(settings)
        return 7

    monkeypatch.setattr("socialpulse.cli.run.run", fake_run)
    assert main(["run"]) == 7
    f = tmp_path / "c.yaml"
    f.write_text("brands: [{id: acme, name: Acme, terms: [acme]}]\nlog_level: DEBUG\n")
    assert main(["--config", str(f), "run"]) == 7
    demo, configured = seen
    assert demo.embedded and demo.brands == DEMO_BRANDS
    assert [b.id for b in configured.brands] == ["acme"] and configured.log_level == "DEBUG"


def _serve(monkeypatch: pytest.MonkeyPatch, service: Service) -> None:
    monkeypatch.setattr("socialpulse.app.service.run_service", service)


def test_the_service_gets_a_stop_event_that_sigterm_sets_and_prints_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(brands=DEMO_BRANDS)
    got: list[Settings] = []
    default = signal.getsignal(signal.SIGTERM)

    async def service(s: Settings, stop: asyncio.Event, emit: Callable[[str], None]) -> None:
        got.append(s)
        emit("412 ev/s | 5m: 380 brand mentions")
        # Without a handler of run's own, SIGTERM would end the test process itself.
        assert signal.getsignal(signal.SIGTERM) is not default
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(stop.wait(), timeout=5)
        emit("stopped")

    _serve(monkeypatch, service)
    assert run(settings) == 0
    assert got == [settings]
    assert signal.getsignal(signal.SIGTERM) == default  # handed back when the loop closed
    assert capsys.readouterr().out == "412 ev/s | 5m: 380 brand mentions\nstopped\n"


def test_a_service_that_cannot_start_exits_1_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def service(s: Settings, stop: asyncio.Event, emit: Callable[[str], None]) -> None:
        raise RuntimeError("metrics port 9464 is in use")

    _serve(monkeypatch, service)
    assert run(Settings(brands=DEMO_BRANDS)) == 1
    assert capsys.readouterr().err == "socialpulse: metrics port 9464 is in use\n"


def test_a_scorer_that_cannot_be_imported_exits_1_naming_the_setting_before_any_broker(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings(
        brands=[b.model_dump() for b in DEMO_BRANDS],
        metrics_port=0,
        sentiment={"scorers": {"es": "lexicons.spanish:Scorer"}},
    )
    assert run(settings) == 1
    captured = capsys.readouterr()
    assert "sentiment.scorers.es: cannot import module 'lexicons.spanish'" in captured.err
    assert "starting the embedded" not in captured.out
