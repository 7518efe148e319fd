"""``socialpulse config``: the effective settings as JSON, secrets masked, no Kafka client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from socialpulse.cli.main import main
from socialpulse.demo.brands import DEMO_BRANDS

pytestmark = pytest.mark.usefixtures("clean_environment")

MASK = "*" * 10  # how pydantic shows a SecretStr

CONFIG = """
kafka:
  bootstrap_servers: broker:9092
  security_protocol: SASL_SSL
  sasl_mechanism: SCRAM-SHA-512
  sasl_username: svc
  sasl_password: hunter2
brands:
  - id: acme
    name: Acme
    terms: [acme]
top_k: 7
"""


def test_prints_the_effective_settings_as_json_with_secrets_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(CONFIG)
    monkeypatch.setenv("SOCIALPULSE_METRICS_PORT", "9999")
    assert main(["--config", str(f), "config"]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    shown = json.loads(out)
    assert shown["kafka"]["sasl_password"] == MASK
    assert shown["kafka"]["sasl_username"] == "svc"
    assert shown["kafka"]["bootstrap_servers"] == "broker:9092"
    assert [b["id"] for b in shown["brands"]] == ["acme"]
    assert (shown["top_k"], shown["metrics_port"]) == (7, 9999)  # file, then environment


def test_without_kafka_shows_the_demo_brands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["kafka"]["bootstrap_servers"] is None
    assert [b["id"] for b in shown["brands"]] == [b.id for b in DEMO_BRANDS]


def _python(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """This interpreter with ``args``, no SOCIALPULSE_* settings and no config file."""
    return subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, *args],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_config_never_imports_the_kafka_client(tmp_path: Path) -> None:
    """Subcommands are imported late, so showing the settings needs no aiokafka."""
    done = _python(
        "-c",
        "import sys\n"
        "from socialpulse.cli.main import main\n"
        "status = main(['config'])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('aiokafka', 'aiohttp'))\n"
        "print(status, loaded, file=sys.stderr)\n",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "0 []"
    assert json.loads(done.stdout)["brands"]


def test_python_dash_m_runs_the_same_command(tmp_path: Path) -> None:
    done = _python("-m", "socialpulse.cli", "config", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [b["id"] for b in json.loads(done.stdout)["brands"]] == [b.id for b in DEMO_BRANDS]
