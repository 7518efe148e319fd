"""deploy/: promtool and amtool accept the files, every rule is unit-tested, every query is ours."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from prometheus_server import (
    ALERTMANAGER_CONFIG,
    CONTRACT_METRICS,
    PROMETHEUS_DIR,
    REPO,
    RULE_TESTS_DIR,
    RULES_DIR,
    alert_rules,
    metric_names,
    recording_rules,
    rule_groups,
    run_tool,
)

pytestmark = pytest.mark.deploy


def _rule_tests() -> list[dict[str, Any]]:
    files = sorted(RULE_TESTS_DIR.glob("*.yml"))
    assert files, f"no promtool test files in {RULE_TESTS_DIR}"
    return [t for f in files for t in cast(dict[str, Any], yaml.safe_load(f.read_text()))["tests"]]


def test_promtool_accepts_the_prometheus_config_and_its_rule_files() -> None:
    result = run_tool("promtool", "check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    rule_files = len(list(RULES_DIR.glob("*.yml")))
    assert f"SUCCESS: {rule_files} rule files found" in result.stdout, result.stdout


def test_promtool_accepts_the_rules() -> None:
    files = sorted(str(p) for p in RULES_DIR.glob("*.yml"))
    result = run_tool("promtool", "check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    rules = sum(len(g["rules"]) for g in rule_groups())
    found = sum(int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", result.stdout))
    assert found == rules, result.stdout


def test_promtool_rule_unit_tests_pass() -> None:
    files = sorted(str(p) for p in RULE_TESTS_DIR.glob("*.yml"))
    assert len(files) >= 2, files
    result = run_tool("promtool", "test", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files), result.stdout


def test_every_recording_rule_has_a_promtool_test() -> None:
    tested = {
        name
        for t in _rule_tests()
        for case in t.get("promql_expr_test", [])
        for name in metric_names(case["expr"])
    }
    untested = sorted(set(recording_rules()) - tested)
    assert not untested, f"recording rules without a promql_expr_test: {untested}"


def test_every_ratio_rule_is_tested_with_a_zero_denominator() -> None:
    empty = {
        name
        for t in _rule_tests()
        for case in t.get("promql_expr_test", [])
        if not case.get("exp_samples")
        for name in metric_names(case["expr"])
    }
    ratios = {r for r in recording_rules() if r.split(":")[-1] in ("ratio", "mean", "estimate")}
    zero_cases = {
        name
        for t in _rule_tests()
        if "zero denominators" in t.get("name", "")
        for case in t.get("promql_expr_test", [])
        for name in metric_names(case["expr"])
    }
    missing = sorted(r for r in ratios if r not in empty and r not in zero_cases)
    assert not missing, f"ratios never tested with a zero denominator: {missing}"


def test_every_alert_is_tested_firing_and_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for t in _rule_tests():
        for case in t.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    alerts = set(alert_rules())
    assert alerts, "no alerts"
    assert not alerts - firing, f"alerts never tested firing: {sorted(alerts - firing)}"
    assert not alerts - quiet, f"alerts never tested quiet: {sorted(alerts - quiet)}"


def test_every_division_drops_a_zero_denominator() -> None:
    # `a / (b > 0)`: 0/0 would record NaN, which Grafana draws as a number.
    unguarded = [
        name
        for name, expr in recording_rules().items()
        if expr.count("/") != len(re.findall(r">\s*0\s*\)", expr))
    ]
    assert not unguarded, f"divisions without a `> 0` denominator filter: {unguarded}"


def test_rules_use_only_the_service_metric_contract() -> None:
    recorded = set(recording_rules())
    exprs = [*recording_rules().values(), *(a["expr"] for a in alert_rules().values())]
    unknown = sorted(
        {n for e in exprs for n in metric_names(e)} - CONTRACT_METRICS - recorded - {"up"}
    )
    assert not unknown, f"rules select metrics the service does not define: {unknown}"


def test_recorded_names_follow_level_metric_operation() -> None:
    bad = [
        n
        for n in recording_rules()
        if not re.fullmatch(r"[a-z_]+:socialpulse_[a-z0-9_]+:[a-z0-9_]+", n)
    ]
    assert not bad, bad


def test_alerts_have_for_severity_team_and_annotations() -> None:
    for name, rule in alert_rules().items():
        assert re.fullmatch(r"\d+[smh]", str(rule.get("for", ""))), f"{name}: no for:"
        labels = rule.get("labels", {})
        assert labels.get("severity") in ("warning", "critical"), name
        assert labels.get("team") in ("social", "platform"), name
        annotations = rule.get("annotations", {})
        assert annotations.get("summary") and annotations.get("description"), name
        if labels["team"] == "social":
            for key in ("summary", "description"):
                assert "$labels.brand" in annotations[key], f"{name} {key} does not name the brand"


def test_amtool_accepts_the_alertmanager_config() -> None:
    result = run_tool("amtool", "check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout, result.stdout


def _route_cases() -> list[tuple[list[str], str]]:
    """Labels of every alert as it fires (one brand for brand alerts) and its receiver."""
    receivers = {"social": "social-team", "critical": "platform-oncall", "warning": "platform-team"}
    cases = []
    for name, rule in sorted(alert_rules().items()):
        labels = rule["labels"]
        team, severity = labels["team"], labels["severity"]
        extra = ["brand=aurora", "window=5m"] if team == "social" else ["job=socialpulse"]
        receiver = receivers["social" if team == "social" else severity]
        cases.append(
            ([f"alertname={name}", *(f"{k}={v}" for k, v in labels.items()), *extra], receiver)
        )
    return cases


ROUTE_CASES = _route_cases()


def test_route_cases_cover_each_brand_alert_and_each_pipeline_severity() -> None:
    brand = {c[0][0] for c in ROUTE_CASES if c[1] == "social-team"}
    assert len(brand) >= 3, brand
    assert {c[1] for c in ROUTE_CASES} == {"social-team", "platform-oncall", "platform-team"}


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        *ROUTE_CASES,
        # A brand alert of any severity goes to the social team, never to platform on-call.
        (
            [
                "alertname=SocialpulseMentionVolumeSpike",
                "brand=aurora",
                "team=social",
                "severity=critical",
            ],
            "social-team",
        ),
        (["alertname=SomethingElse", "severity=critical"], "null"),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else v,
)
def test_alertmanager_routes(labels: list[str], receiver: str) -> None:
    result = run_tool(
        "amtool",
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        f"--verify.receivers={receiver}",
        *labels,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver, result.stdout


def test_alertmanager_groups_by_alert_and_brand() -> None:
    config = cast(dict[str, Any], yaml.safe_load(ALERTMANAGER_CONFIG.read_text()))
    assert config["route"]["group_by"] == ["alertname", "brand"]
    social = [r for r in config["route"]["routes"] if r["receiver"] == "social-team"]
    assert social and social[0]["group_by"] == ["alertname", "brand"]
    platform = [r for r in config["route"]["routes"] if r["receiver"].startswith("platform-")]
    assert platform and all(r["group_by"] == ["alertname", "job"] for r in platform)


def test_brand_and_pipeline_alerts_carry_their_team() -> None:
    brand = {
        n
        for g in rule_groups()
        if g["name"] == "socialpulse_brand_alerts"
        for n in (r["alert"] for r in g["rules"])
    }
    assert brand, "no brand alerts"
    for name, rule in alert_rules().items():
        assert rule["labels"]["team"] == ("social" if name in brand else "platform"), name


def test_prometheus_scrapes_job_socialpulse_every_15s_and_alerts_to_alertmanager() -> None:
    config = cast(dict[str, Any], yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text()))
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    # The alerts select up{job="socialpulse"}.
    assert jobs["socialpulse"]["scrape_interval"] == "15s"
    assert config["rule_files"] == ["rules/*.yml"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]


def test_promtool_accepts_the_compose_prometheus_config() -> None:
    result = run_tool(
        "promtool", "check", "config", "--syntax-only", "deploy/compose/prometheus-compose.yml"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_mounts_existing_files() -> None:
    compose_dir = REPO / "deploy" / "compose"
    compose = cast(dict[str, Any], yaml.safe_load((compose_dir / "docker-compose.yml").read_text()))
    assert {"socialpulse", "prometheus", "alertmanager", "grafana"} <= set(compose["services"])
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (compose_dir / source).exists(), f"{name}: {source} does not exist"


def test_the_image_is_multi_stage_slim_unprivileged_and_built_by_compose() -> None:
    dockerfile = REPO / "deploy" / "Dockerfile"
    lines = [ln.strip() for ln in dockerfile.read_text().splitlines() if not ln.startswith("#")]
    stages = [ln for ln in lines if ln.startswith("FROM ")]
    assert len(stages) == 2 and all("slim" in s for s in stages), stages
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), users
    assert any("SOCIALPULSE_METRICS_HOST=0.0.0.0" in ln for ln in lines)
    compose = cast(
        dict[str, Any],
        yaml.safe_load((REPO / "deploy" / "compose" / "docker-compose.yml").read_text()),
    )
    build = compose["services"]["socialpulse"]["build"]
    assert (REPO / "deploy" / "compose" / build["context"] / build["dockerfile"]).resolve() == (
        dockerfile.resolve()
    )


def test_k8s_manifests_parse_and_match_the_scrape_job() -> None:
    docs = [
        d
        for p in sorted((REPO / "deploy" / "k8s").glob("*.yml"))
        for d in yaml.safe_load_all(p.read_text())
        if d
    ]
    kinds = {d["kind"]: d for d in docs}
    assert {"Deployment", "Service", "ConfigMap", "PodMonitor"} <= set(kinds)
    deployment = kinds["Deployment"]
    assert deployment["spec"]["replicas"] >= 2
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert kinds["PodMonitor"]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    # The PodMonitor names the job after this label; the alerts select up{job="socialpulse"}.
    assert pod_labels[kinds["PodMonitor"]["spec"]["jobLabel"]] == "socialpulse"


def test_rule_test_files_load_the_rule_files_that_exist() -> None:
    for f in RULE_TESTS_DIR.glob("*.yml"):
        for rule_file in cast(dict[str, Any], yaml.safe_load(f.read_text()))["rule_files"]:
            assert (f.parent / Path(rule_file)).resolve().exists(), (f, rule_file)
