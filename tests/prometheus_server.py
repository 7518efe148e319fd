"""Prometheus, Alertmanager and Grafana files under deploy/, and a real Prometheus for the tests.

Shared by ``tests/deploy/test_prometheus_rules.py`` (promtool, amtool, the files' structure) and
``tests/integration/test_prometheus_e2e.py`` (a real Prometheus scraping the real service). The
tools come from Debian's ``prometheus`` and ``prometheus-alertmanager`` packages; ``.ci/run``
installs them, and a test that needs one fails (never skips) without it.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ports import free_port

REPO = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"
ALERTMANAGER_CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
GRAFANA_DIR = REPO / "deploy" / "grafana"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
# Board name -> its provisioned file. The brand board keeps uid "socialpulse" (the one board
# there was before), so links and bookmarks to /d/socialpulse still open it.
BOARDS = {
    "overview": DASHBOARDS_DIR / "socialpulse-overview.json",
    "brand": DASHBOARDS_DIR / "socialpulse-brand.json",
    "operations": DASHBOARDS_DIR / "socialpulse-operations.json",
}

# The service's metric names (the contract between the exporter and these files). Rules and
# panels may use these, `up`, and the names the recording rules define; nothing else.
CONTRACT_METRICS = frozenset(
    {
        "socialpulse_mentions",
        "socialpulse_mentions_by_kind",
        "socialpulse_mentions_tagged",
        "socialpulse_mentions_untagged",
        "socialpulse_mentions_by_sentiment",
        "socialpulse_mentions_by_language",
        "socialpulse_sentiment_compound_sum",
        "socialpulse_potential_reach",
        "socialpulse_unique_authors",
        "socialpulse_reach",
        "socialpulse_owned_posts",
        "socialpulse_impressions",
        "socialpulse_engagements",
        "socialpulse_interactions",
        "socialpulse_sessions",
        "socialpulse_sessions_bounced",
        "socialpulse_session_seconds_sum",
        "socialpulse_video_views_completed",
        "socialpulse_video_watch_seconds_sum",
        "socialpulse_followers_at_window_start",
        "socialpulse_survey_responses_satisfied",
        "socialpulse_purchase_value_sum",
        "socialpulse_purchasing_customers",
        "socialpulse_ugc_mentions",
        "socialpulse_ugc_engagements",
        "socialpulse_share_of_voice_base",
        "socialpulse_share_of_voice_set_base",
        "socialpulse_customer_lifetime_value",
        "socialpulse_dm_first_response_seconds_median",
        "socialpulse_events_processed_total",
        "socialpulse_events_rejected_total",
        "socialpulse_consumer_lag_records",
        "socialpulse_mentions_unmatched_total",
        "socialpulse_build_info",
        "socialpulse_seconds_since_last_commit",
        "socialpulse_state_partitions_unrestored",
        "socialpulse_consumer_failing_seconds",
        "socialpulse_dead_letter_held_partitions",
        "socialpulse_consumer_errors_total",
        "socialpulse_ready",
        "socialpulse_state_restores_total",
        "socialpulse_state_restore_failures_total",
        "socialpulse_state_records_restored_total",
        "socialpulse_state_flush_failures_total",
        "socialpulse_state_written_bytes_total",
        "socialpulse_offset_commits_refused_total",
        "socialpulse_dead_letters_produced_total",
        "socialpulse_dead_letter_refusals_total",
        "socialpulse_batch_processing_seconds_total",
        "socialpulse_window_buckets",
        "socialpulse_dedup_ids",
        "socialpulse_dedup_ids_spilled",
        "socialpulse_dedup_spill_failures_total",
        "socialpulse_anomaly_evaluator",
        "socialpulse_anomaly_evaluated_timestamp_seconds",
        "socialpulse_anomaly_minutes_incomplete_total",
        "socialpulse_minutes_publish_failures_total",
        "socialpulse_minutes_rejected_total",
        # prometheus-client's process collector, registered with the service's own.
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    }
)

_NAME = re.compile(
    r"(?<![\w:.\"])"
    r"([a-z_]+:socialpulse_[a-z0-9_]+:[a-z0-9_]+|socialpulse_[a-z0-9_]+|process_[a-z_]+|up)"
    r"(?![\w:])"
)


def metric_names(expr: str) -> set[str]:
    """Metric and recorded-series names a PromQL expression selects (ours, process_*, ``up``)."""
    return set(_NAME.findall(expr))


def tool(name: str) -> str:
    """Path of a Prometheus tool; fails the test, with the fix, when it is not installed."""
    path = shutil.which(name)
    if path is None:
        package = (
            "prometheus-alertmanager"
            if name in ("amtool", "prometheus-alertmanager")
            else "prometheus"
        )
        pytest.fail(
            f"{name} is not on PATH: install Debian's {package} package "
            f"(apt-get install {package}; .ci/run does)",
            pytrace=False,
        )
    return path


def run_tool(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run promtool or amtool from the repository root; never raises on a non-zero exit."""
    return subprocess.run(  # noqa: S603 - fixed tool, arguments from this repository
        [tool(args[0]), *args[1:]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _yaml(path: Path) -> dict[str, Any]:
    return cast(dict[str, Any], yaml.safe_load(path.read_text()))


def rule_groups() -> list[dict[str, Any]]:
    """Every rule group of deploy/prometheus/rules/*.yml, in file order."""
    return [g for p in sorted(RULES_DIR.glob("*.yml")) for g in _yaml(p)["groups"]]


def recording_rules() -> dict[str, str]:
    """Recorded series name -> its expression."""
    return {r["record"]: r["expr"] for g in rule_groups() for r in g["rules"] if "record" in r}


def alert_rules() -> dict[str, dict[str, Any]]:
    """Alert name -> its rule."""
    return {r["alert"]: r for g in rule_groups() for r in g["rules"] if "alert" in r}


def raw_inputs(expr: str, recorded: dict[str, str]) -> set[str]:
    """Exported metric names behind ``expr``, following recorded series to their expressions."""
    out: set[str] = set()
    todo = list(metric_names(expr))
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in recorded:
            todo.extend(metric_names(recorded[name]))
        else:
            out.add(name)
    return out


@dataclass(frozen=True)
class PanelTarget:
    """One query of one panel of one board."""

    board: str
    panel: str
    ref_id: str
    expr: str


def dashboard(board: str) -> dict[str, Any]:
    """One provisioned Grafana board (a key of ``BOARDS``)."""
    return cast(dict[str, Any], json.loads(BOARDS[board].read_text()))


def panels(board: str) -> list[dict[str, Any]]:
    """The board's panels, rows excluded."""
    return [p for p in dashboard(board)["panels"] if p["type"] != "row"]


def panel_targets() -> list[PanelTarget]:
    """Every query of every panel of every board."""
    return [
        PanelTarget(board, p["title"], t["refId"], t["expr"])
        for board in BOARDS
        for p in panels(board)
        for t in p["targets"]
    ]


def annotation_targets() -> list[PanelTarget]:
    """Every Prometheus annotation query of every board (Grafana's built-in one excluded)."""
    return [
        PanelTarget(board, a["name"], "annotation", a["expr"])
        for board in BOARDS
        for a in dashboard(board)["annotations"]["list"]
        if not a.get("builtIn")
    ]


def substitute(expr: str, variables: dict[str, str]) -> str:
    """Replace Grafana ``$var`` / ``${var}`` references the way Grafana would."""
    for name, value in variables.items():
        expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
    if "$" in expr:
        raise ValueError(f"unsubstituted variable in {expr!r}")
    return expr


def scraped_mentions(port: int, window: str = "5m") -> float:
    """Brand mentions the service at 127.0.0.1:``port`` serves for ``window``; 0 if it is not up."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:  # noqa: S310 - our local server
            text = r.read().decode()
    except OSError:
        return 0.0
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        if f.name == "socialpulse_mentions"
        for s in f.samples
        if s.labels.get("window") == window
    )


class PrometheusServer:
    """HTTP API client of a running Prometheus."""

    def __init__(self, url: str) -> None:
        self.url = url

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>`` and return its ``data``; raises on an API error."""
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as r:  # noqa: S310 - our local server
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:  # a bad query: Prometheus says why in the body
            raise RuntimeError(f"{path} {params}: {e.code} {e.read().decode()}") from e
        if body.get("status") != "success":
            raise RuntimeError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query (now, or at Unix time ``at``); the result vector."""
        params = {"query": expr} if at is None else {"query": expr, "time": repr(at)}
        data = self.api("query", **params)
        if data["resultType"] != "vector":
            raise RuntimeError(f"{expr}: {data['resultType']} result")
        return cast(list[dict[str, Any]], data["result"])

    def ready(self) -> bool:
        """Whether ``/-/ready`` answers 200."""
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:  # noqa: S310
                return bool(r.status == 200)
        except OSError:
            return False


@contextmanager
def run_prometheus(
    workdir: Path,
    targets: list[str],
    *,
    interval: str = "1s",
    extra_rules: dict[str, Any] | None = None,
    scrape: dict[str, Any] | None = None,
    more_jobs: Sequence[dict[str, Any]] = (),
    rules: Sequence[Path] | None = None,
    alertmanager: str | None = None,
) -> Iterator[PrometheusServer]:
    """Start ``prometheus`` scraping ``targets`` as job socialpulse with the repository's rules.

    ``extra_rules`` is one more rule file's content (a test's own alerts), loaded beside them.
    ``scrape`` adds keys to that job (``scheme``, ``tls_config``, ``basic_auth``); ``more_jobs``
    are further scrape configs, given whole. ``rules`` replaces the repository's rule files
    (e.g. brand alerts generated from a test's thresholds); ``alertmanager`` (``host:port``)
    is where firing alerts are sent.
    """
    binary = tool("prometheus")
    port = free_port()
    rule_files = [str(RULES_DIR / "*.yml")] if rules is None else [str(r) for r in rules]
    if extra_rules is not None:
        extra = workdir / "extra-rules.yml"
        extra.write_text(yaml.safe_dump(extra_rules))
        rule_files.append(str(extra))
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": rule_files,
        "scrape_configs": [
            {
                "job_name": "socialpulse",
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "static_configs": [{"targets": targets}],
                **(scrape or {}),
            },
            *more_jobs,
        ],
    }
    if alertmanager is not None:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    config_file = workdir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    log = (workdir / "prometheus.log").open("w")
    proc = subprocess.Popen(  # noqa: S603 - the installed binary, arguments built here
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    server = PrometheusServer(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while not server.ready():
            if proc.poll() is not None:
                pytest.fail(
                    f"prometheus exited with {proc.returncode}:\n"
                    f"{(workdir / 'prometheus.log').read_text()}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail("prometheus was not ready after 60 s", pytrace=False)
            time.sleep(0.2)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def alertmanager_test_config(webhook_url: str) -> dict[str, Any]:
    """deploy/'s Alertmanager config with every receiver posting to ``webhook_url``.

    The routes, grouping and inhibit rules stay as deployed; only the waits shrink to a second,
    so a test sees a notification within seconds of the alert firing.
    """
    config = _yaml(ALERTMANAGER_CONFIG)
    for r in config["receivers"]:
        for hook in r.get("webhook_configs", ()):
            hook["url"] = webhook_url
    routes = [config["route"], *config["route"].get("routes", ())]
    for route in routes:
        route["group_wait"] = "1s"
        route["group_interval"] = "1s"
    return config


@contextmanager
def run_alertmanager(workdir: Path, config: dict[str, Any]) -> Iterator[str]:
    """Start Debian's ``prometheus-alertmanager`` with ``config``; yields its ``host:port``."""
    binary = tool("prometheus-alertmanager")
    port = free_port()
    config_file = workdir / "alertmanager.yml"
    config_file.write_text(yaml.safe_dump(config))
    log_path = workdir / "alertmanager.log"
    log = log_path.open("w")
    proc = subprocess.Popen(  # noqa: S603 - the installed binary, arguments built here
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.path={workdir / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # one instance: no gossip port
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://{address}/-/ready", timeout=2) as r:  # noqa: S310 - our local server
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None:
                pytest.fail(
                    f"alertmanager exited with {proc.returncode}:\n{log_path.read_text()}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail("alertmanager was not ready after 60 s", pytrace=False)
            time.sleep(0.2)
        yield address
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
