"""Apache Kafka for the tests, started and stopped with ``deploy/kafka/kafka.sh``.

``apache_kafka(data, *options)`` runs ``kafka.sh start`` with fresh ports and ``options`` (e.g.
the SASL_SSL listener's), yields the PLAINTEXT bootstrap address and stops the broker after,
failing the test (never skipping) when it cannot start or does not stop.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ports import free_ports

REPO = Path(__file__).resolve().parents[1]
KAFKA_SH = REPO / "deploy" / "kafka" / "kafka.sh"
# kafka.sh start: a cold jar fetch (~30 s) plus up to 90 s of start-up.
KAFKA_START_TIMEOUT_S = 240
KAFKA_STOP_TIMEOUT_S = 60


def _kafka_sh(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script, fixed arguments
        ["bash", str(KAFKA_SH), *args],  # noqa: S607 - bash from PATH, like `make kafka`
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, on Linux, does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


@contextmanager
def apache_kafka(data: Path, *options: str) -> Iterator[str]:
    """``kafka.sh start`` on fresh ports with ``options``; the PLAINTEXT bootstrap address."""
    pidfile = data / "kafka.pid"
    port, controller_port = free_ports(2)
    try:
        started = _kafka_sh(
            "start",
            "--port",
            str(port),
            "--controller-port",
            str(controller_port),
            "--data",
            str(data),
            "--pidfile",
            str(pidfile),
            *options,
            timeout=KAFKA_START_TIMEOUT_S,
        )
        if started.returncode != 0:
            pytest.fail(
                f"kafka.sh start failed (exit status {started.returncode}):\n"
                f"{started.stderr}{started.stdout}",
                pytrace=False,
            )
        yield started.stdout.strip().splitlines()[-1]
    finally:
        pid = int(pidfile.read_text()) if pidfile.exists() else None
        stopped = _kafka_sh("stop", "--pidfile", str(pidfile), timeout=KAFKA_STOP_TIMEOUT_S)
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGKILL)
            pytest.fail(f"kafka.sh stop left the broker running; killed it:\n{stopped.stderr}")
        if stopped.returncode != 0:
            pytest.fail(f"kafka.sh stop failed:\n{stopped.stderr}", pytrace=False)
