"""``socialpulse`` arguments and exit statuses: --version, usage errors, configuration errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from socialpulse import __version__
from socialpulse.cli.main import COMMANDS, main
from socialpulse.settings import Settings

pytestmark = pytest.mark.usefixtures("clean_environment")


@pytest.fixture(autouse=True)
def no_service(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command that should stop at its arguments or settings never starts the service."""

    def run(settings: Settings) -> int:
        pytest.fail("socialpulse run started the service")

    monkeypatch.setattr("socialpulse.cli.run.run", run)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"socialpulse {__version__}\n"


@pytest.mark.parametrize("argv", [[], ["start"]])
def test_a_missing_or_unknown_command_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "usage: socialpulse" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("metrics_port: 70000\n", "metrics_port"),
        ("kafka:\n  max_batch_records: 0\n", "kafka.max_batch_records"),
        ("windows: [5x]\n", "windows"),
        ("brands: [{id: a, name: A, terms: [a], handles: [a]}]\n", "brands.0.handles"),
    ],
)
@pytest.mark.parametrize("command", ["config", "run", "check-config"])
def test_an_invalid_config_file_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, field: str, command: str
) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(content)
    assert main(["--config", str(f), command]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.startswith("socialpulse: invalid configuration:\n")
    assert field in out.err


def test_an_unreadable_config_file_exits_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.yaml"
    assert main(["--config", str(missing), "config"]) == 2
    assert f"cannot read config file {missing}" in capsys.readouterr().err


def test_the_config_file_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("metrics_port: -1\n")
    monkeypatch.setenv("SOCIALPULSE_CONFIG", str(f))
    assert main(["config"]) == 2
    assert "metrics_port" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["config", "run"])
def test_kafka_without_brands_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    monkeypatch.setenv("SOCIALPULSE_KAFKA__BOOTSTRAP_SERVERS", "broker:9092")
    assert main([command]) == 2
    err = capsys.readouterr().err
    assert err.startswith("socialpulse: invalid configuration:\nno brands configured")


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    listed = capsys.readouterr().out
    for name in COMMANDS:
        assert f"\n    {name} " in listed, name


@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: socialpulse {command} ")


def test_the_readme_shows_the_help_as_it_is(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # argparse wraps to the terminal; the README at 80
    with pytest.raises(SystemExit):
        main(["--help"])
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    shown = readme.split("`socialpulse --help`", 1)[1].split("```\n", 2)[1]
    assert shown == capsys.readouterr().out
