"""A real Prometheus scrapes `socialpulse run`, evaluates deploy/'s rules and feeds every panel.

The service runs as a user would start it (embedded broker, demo traffic); Prometheus (Debian's
binary) scrapes it every second and evaluates the repository's recording and alert rules every
second. The tests then ask Prometheus' HTTP API what Grafana would ask.

Each panel of each board is its own test case, so a panel without data fails by name, with the
metric names it needs that the service does not export yet. Two alerts of the test's own fire at
once, so the boards' alert annotations are seen to pick firing alerts up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ports import free_port
from prometheus_server import (
    BOARDS,
    CONTRACT_METRICS,
    PanelTarget,
    PrometheusServer,
    annotation_targets,
    panel_targets,
    raw_inputs,
    recording_rules,
    rule_groups,
    run_prometheus,
    substitute,
)
from socialpulse.core.catalogue import KPIS, Kpi, Term

pytestmark = pytest.mark.integration

# What a Grafana user would pick: one demo brand, the shortest window, every worker; the overview
# with its default of every brand. Grafana's $__rate_interval is at least 4 scrape intervals: 1m
# with the production 15 s scrape; $__interval is the step.
VARIABLES = {
    "brand": "aurora",
    "window": "5m",
    "instance": ".*",
    "__rate_interval": "1m",
    "__interval": "15s",
}
BOARD_VARIABLES = {board: VARIABLES for board in BOARDS} | {"overview": VARIABLES | {"brand": ".*"}}
# Alerts that fire at once (no `for:`), one per team, for the annotation queries to find.
TEST_ALERT_RULES: list[dict[str, Any]] = [
    {
        "alert": "SocialpulseE2eBrandAlert",
        "expr": "max by (brand) (brand_window:socialpulse_mentions:sum) > 0",
        "labels": {"severity": "warning", "team": "social"},
    },
    {
        "alert": "SocialpulseE2ePipelineAlert",
        "expr": 'socialpulse_build_info{job="socialpulse"} > 0',
        "labels": {"severity": "warning", "team": "platform"},
    },
]
TEST_ALERTS = {"groups": [{"name": "e2e_annotations", "rules": TEST_ALERT_RULES}]}
TEST_ALERT_NAMES = {r["alert"] for r in TEST_ALERT_RULES}
START_TIMEOUT_S = 120
# After the first KPIs arrive, how long panels still empty get to fill (rates need two scrapes,
# ratios need events of every type in the window).
SETTLE_S = 20

# Recorded cross-worker ratio -> the service's own per-worker value. With one worker they agree.
SAME_AS_SERVICE = {
    "brand_window:socialpulse_customer_lifetime_value:estimate": (
        "socialpulse_customer_lifetime_value"
    ),
}
# Recorded ratios of exported parts (not exported per worker): each is held to the catalogue's
# numerator and denominator, read from the scraped parts at the rule's evaluation time.
KPI_BY_METRIC = {k.metric: k for k in KPIS}
FROM_PARTS = {k.recorded: k for k in KPIS if not k.exported and k.recorded is not None}


@dataclass
class Stack:
    """The running service and the Prometheus scraping it."""

    prometheus: PrometheusServer
    metrics_port: int
    exported: set[str]
    panel_results: dict[PanelTarget, list[dict[str, Any]]] = field(default_factory=dict)


def _exported(prom: PrometheusServer) -> set[str]:
    names = prom.api("label/__name__/values", **{"match[]": '{job="socialpulse"}'})
    return {n for n in names if n.startswith(("socialpulse_", "process_"))}


def _expr(target: PanelTarget) -> str:
    """The query as Grafana sends it for the target's board."""
    return substitute(target.expr, BOARD_VARIABLES[target.board])


def _query_panels(prom: PrometheusServer, stack: Stack) -> None:
    for target in [*panel_targets(), *annotation_targets()]:
        if not stack.panel_results.get(target):
            stack.panel_results[target] = prom.query(_expr(target))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`socialpulse run` on its embedded broker, scraped by a real Prometheus every second."""
    workdir = tmp_path_factory.mktemp("prometheus-e2e")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALPULSE_")}
    env |= {"SOCIALPULSE_METRICS_PORT": str(port), "SOCIALPULSE_SUMMARY_INTERVAL_SECONDS": "30"}
    service_log = workdir / "socialpulse.log"
    with service_log.open("w") as log:
        service = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "socialpulse.cli", "run"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        with run_prometheus(workdir, [f"127.0.0.1:{port}"], extra_rules=TEST_ALERTS) as prom:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not (
                prom.query('up{job="socialpulse"} == 1')
                and prom.query("brand_window:socialpulse_mentions:sum > 0")
                and prom.query("job:socialpulse_events_processed:rate1m > 0")
            ):
                assert service.poll() is None, service_log.read_text()
                assert time.monotonic() < deadline, (
                    f"no KPIs in Prometheus after {START_TIMEOUT_S} s:\n{service_log.read_text()}"
                )
                time.sleep(0.5)
            stack = Stack(prom, port, _exported(prom))
            settle = time.monotonic() + SETTLE_S
            while True:
                _query_panels(prom, stack)
                if all(stack.panel_results.values()) or time.monotonic() > settle:
                    break
                time.sleep(1)
            stack.exported = _exported(prom)
            yield stack
    finally:
        if service.poll() is None:
            service.send_signal(signal.SIGINT)
            try:
                service.wait(timeout=60)
            except subprocess.TimeoutExpired:
                service.kill()
                service.wait()


def test_prometheus_scrapes_the_service(stack: Stack) -> None:
    up = stack.prometheus.query('up{job="socialpulse"}')
    assert [(s["metric"]["instance"], s["value"][1]) for s in up] == [
        (f"127.0.0.1:{stack.metrics_port}", "1")
    ]


def test_every_rule_loads_and_evaluates_without_error(stack: Stack) -> None:
    groups = stack.prometheus.api("rules")["groups"]
    loaded = {r["name"]: r for g in groups for r in g["rules"]}
    expected = {r.get("record") or r["alert"] for g in rule_groups() for r in g["rules"]}
    assert set(loaded) == expected | TEST_ALERT_NAMES
    errors = {n: r.get("lastError") for n, r in loaded.items() if r["health"] != "ok"}
    assert not errors, errors


def test_recording_rules_produce_samples_whenever_the_service_exports_their_inputs(
    stack: Stack,
) -> None:
    recorded = recording_rules()
    checked, empty = [], []
    for name, expr in recorded.items():
        if raw_inputs(expr, recorded) <= stack.exported:
            checked.append(name)
            if not stack.prometheus.query(name):
                empty.append(name)
    assert not empty, f"recording rules without samples although their inputs exist: {empty}"
    # What today's service already exports must be covered (the test cannot pass vacuously).
    for name in (
        "brand_window:socialpulse_mentions:sum",
        "brand_window_platform:socialpulse_mentions:sum",
        "brand_window:socialpulse_mentions_by_sentiment:sum",
        "brand_window:socialpulse_sentiment_compound:mean",
        "brand_window:socialpulse_net_sentiment:ratio",
        "brand_window:socialpulse_negative_share:ratio",
        "brand_window:socialpulse_engagements:sum",
        "brand_window:socialpulse_impressions:sum",
        "job_stream:socialpulse_events_processed:rate1m",
        "job:socialpulse_consumer_lag_records:sum",
        "brand_window:socialpulse_mentions:avg_1d",
    ):
        assert name in checked, (name, sorted(stack.exported))


def test_the_service_exports_every_metric_the_rules_use(stack: Stack) -> None:
    recorded = recording_rules()
    needed = set().union(*(raw_inputs(e, recorded) for e in recorded.values())) - {"up"}
    assert needed <= CONTRACT_METRICS
    missing = sorted(needed - stack.exported)
    assert not missing, f"the service does not export (yet): {missing}"


def test_recorded_ratios_match_the_service_own_ratios_for_one_worker(stack: Stack) -> None:
    # Compare at the rules' own evaluation timestamps: there, what Prometheus returns for the
    # service's series comes from the same scrape as the parts the rule summed. (A scrape
    # committed while the rule ran can make one evaluation differ; one exact match in the last
    # few is required.)
    prom = stack.prometheus
    compared: set[str] = set()
    mismatches = []
    for rule in [*SAME_AS_SERVICE, *FROM_PARTS]:
        history: dict[float, dict[tuple[tuple[str, str], ...], float]] = {}
        for series in prom.api("query", query=f"{rule}[8s]")["result"]:
            for ts, value in series["values"]:
                history.setdefault(float(ts), {})[_key(series)] = float(value)
        if not history:
            continue
        if rule in SAME_AS_SERVICE:
            own = SAME_AS_SERVICE[rule]
            theirs_at = {
                ts: {_key(s): float(s["value"][1]) for s in prom.query(own, at=ts)}
                for ts in history
            }
        else:
            theirs_at = {ts: _from_parts(prom, FROM_PARTS[rule], ts) for ts in history}
        keys = set().union(*(h.keys() for h in history.values()))
        for key in keys:
            pairs = [
                (ours[key], theirs_at[ts][key])
                for ts, ours in history.items()
                if key in ours and key in theirs_at[ts]
            ]
            if not pairs:
                continue
            compared.add(rule)
            if not any(abs(a - b) <= 1e-9 * max(1.0, abs(b)) for a, b in pairs):
                mismatches.append((rule, dict(key), pairs[-3:]))
    assert set(SAME_AS_SERVICE) <= compared, "no recorded ratio to compare with the service's own"
    for rule in (
        "brand_window:socialpulse_net_sentiment:ratio",
        "brand_window:socialpulse_share_of_voice:ratio",
    ):
        assert rule in compared, rule
    assert not mismatches, mismatches


def _from_parts(
    prom: PrometheusServer, kpi: Kpi, ts: float
) -> dict[tuple[tuple[str, str], ...], float]:
    """The KPI's numerator over its denominator (when above 0), from the parts at ``ts``."""
    by = "brand, window" + (f", {kpi.label}" if kpi.label else "")

    def side(terms: tuple[Term, ...]) -> dict[tuple[tuple[str, str], ...], float]:
        total: dict[tuple[tuple[str, str], ...], float] = {}
        for term in terms:
            source = KPI_BY_METRIC[term.metric]
            at = f'{{{source.label}="{term.at}"}}' if term.at is not None else ""
            merge = "max" if source.merge == "max" else "sum"
            for sample in prom.query(f"{merge} by ({by}) ({term.metric}{at})", at=ts):
                key = _key(sample)
                total[key] = total.get(key, 0.0) + term.sign * float(sample["value"][1])
        return total

    numerator, denominator = side(kpi.numerator), side(kpi.denominator)
    return {k: numerator.get(k, 0.0) / d for k, d in denominator.items() if d > 0}


def _key(sample: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    labels = sample["metric"]
    return tuple(sorted((k, v) for k, v in labels.items() if k in ("brand", "window", "basis")))


def test_board_variables_have_values(stack: Stack) -> None:
    match = {"match[]": "brand_window:socialpulse_mentions:sum"}
    brands = stack.prometheus.api("label/brand/values", **match)
    windows = stack.prometheus.api("label/window/values", **match)
    assert VARIABLES["brand"] in brands
    assert VARIABLES["window"] in windows
    workers = stack.prometheus.api("label/instance/values", **{"match[]": 'up{job="socialpulse"}'})
    assert workers == [f"127.0.0.1:{stack.metrics_port}"]


def _id(target: PanelTarget) -> str:
    return f"{target.board}: {target.panel} [{target.ref_id}]"


@pytest.mark.parametrize("target", panel_targets(), ids=_id)
def test_panel_query_returns_data(stack: Stack, target: PanelTarget) -> None:
    if stack.panel_results.get(target):
        return
    missing = sorted(raw_inputs(target.expr, recording_rules()) - stack.exported - {"up"})
    expr = _expr(target)
    assert missing == [], (
        f"{target.board} panel {target.panel!r} query {target.ref_id} returned no data; "
        f"Prometheus has no series of {missing} (not exported, or exported without samples): "
        f"{expr}"
    )
    pytest.fail(f"{target.board} panel {target.panel!r} query {target.ref_id} no data: {expr}")


def test_overview_shows_every_brand(stack: Stack) -> None:
    # The overview's default selection is every brand: its panels get one series per brand.
    brands = set(stack.prometheus.api("label/brand/values", **{"match[]": "socialpulse_mentions"}))
    assert len(brands) >= 3, brands
    target = next(
        t for t in panel_targets() if (t.board, t.panel) == ("overview", "Mentions by brand")
    )
    assert {s["metric"]["brand"] for s in stack.panel_results[target]} == brands


@pytest.mark.parametrize("target", annotation_targets(), ids=_id)
def test_alert_annotation_picks_up_firing_alerts(stack: Stack, target: PanelTarget) -> None:
    # Only alerts that fire, of the board's scope: the brand board's brand, the pipeline's team.
    alerts = [s["metric"] for s in stack.panel_results[target]]
    assert alerts, (
        f"{target.board} annotation {target.panel!r} saw no firing alert: {_expr(target)}"
    )
    assert {a["alertname"] for a in alerts} <= TEST_ALERT_NAMES
    assert {a["alertstate"] for a in alerts} == {"firing"}
    if 'brand=~"$brand"' in target.expr:
        assert {a["brand"] for a in alerts} == {BOARD_VARIABLES[target.board]["brand"]}
    if 'team="platform"' in target.expr:
        assert {a["alertname"] for a in alerts} == {"SocialpulseE2ePipelineAlert"}


def test_run_prometheus_stops_its_server(tmp_path: Path) -> None:
    with run_prometheus(tmp_path, ["127.0.0.1:1"]) as prom:
        assert prom.ready()
    assert not prom.ready()
