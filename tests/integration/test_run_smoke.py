"""`socialpulse run` on its embedded default, the README's first command, run as a user would."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from ports import free_port
from prometheus_server import scraped_mentions
from socialpulse.core.signals import FILTER_REASONS

pytestmark = pytest.mark.integration


def test_run_serves_live_kpis_and_stops_cleanly_on_ctrl_c() -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALPULSE_")}
    env |= {"SOCIALPULSE_METRICS_PORT": str(port), "SOCIALPULSE_SUMMARY_INTERVAL_SECONDS": "1"}
    proc = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "socialpulse.cli", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while (mentions := scraped_mentions(port)) < 50:
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, f"only {mentions} mentions after 90 s"
            time.sleep(0.5)
        time.sleep(2)  # at least one summary line with traffic in it
        url = f"http://127.0.0.1:{port}/api/v1/trends?brand=aurora&window=5m"
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - our own server
            trends = json.loads(resp.read())
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    # The service serves its trends and the filtered counts of every reason.
    assert set(trends["filtered"]) == set(FILTER_REASONS), trends
    assert trends["brand"] == "aurora" and isinstance(trends["trends"], list), trends
    assert "Traceback" not in out and "Unclosed" not in out, out
    assert out.rstrip().endswith("socialpulse stopped"), out
    summaries = re.findall(
        r"^(\d+) ev/s \| 5m: (\d+) brand mentions .*SoV aurora (\d+)%", out, re.M
    )
    assert any(int(rate) > 0 and int(n) > 0 for rate, n, _ in summaries), out
    assert f"metrics http://127.0.0.1:{port}/metrics" in out, out  # the address actually bound
    broker = re.search(r"kafka 127\.0\.0\.1:(\d+) \(embedded\)", out)
    assert broker is not None, out
    with socket.socket() as s:  # the embedded broker went with the service
        assert s.connect_ex(("127.0.0.1", int(broker.group(1)))) != 0
