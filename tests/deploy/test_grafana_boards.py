"""deploy/grafana: the three boards' structure, queries, units, thresholds and provisioning."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from prometheus_server import (
    BOARDS,
    CONTRACT_METRICS,
    DASHBOARDS_DIR,
    GRAFANA_DIR,
    REPO,
    alert_rules,
    annotation_targets,
    dashboard,
    metric_names,
    panel_targets,
    panels,
    recording_rules,
    run_tool,
    substitute,
)

pytestmark = pytest.mark.deploy

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Grafana unit ids the boards may use (packages/grafana-data valueFormats): a typo is no unit.
UNITS = frozenset({"short", "percentunit", "s", "bytes", "Bps", "rps", "cps"})
# Grafana's own variables; every other $name must be a variable of the board.
GRAFANA_VARIABLES = frozenset({"__rate_interval", "__interval", "__range", "__url_time_range"})
_VARIABLE = re.compile(r"\$\{?(\w+)")
# A value for every variable, as Grafana substitutes them (All is the regex .*).
SUBSTITUTED = {
    "brand": ".*",
    "window": "5m",
    "instance": ".*",
    "__rate_interval": "1m",
    "__interval": "15s",
}
# Recorded ratios of 0..1 (not per-post, per-author or per-customer figures): percent units.
FRACTIONS = frozenset(
    n
    for n in recording_rules()
    if n.endswith(":ratio")
    and not any(s in n for s in ("_per_post", "_per_author", "_per_customer", "engagement_rate"))
)
# Each board's variables: name -> (multi, include All) for query variables.
VARIABLES: dict[str, dict[str, tuple[bool, bool]]] = {
    "overview": {"brand": (True, True), "window": (False, False)},
    "brand": {"brand": (False, False), "window": (False, False)},
    "operations": {"instance": (True, True)},
}
# Panels drawing an alert's threshold: (board, panel) -> (alert, the threshold in its expr).
ALERT_THRESHOLDS = {
    ("operations", "Consumer lag"): ("SocialpulseConsumerLagGrowing", 1000),
    ("operations", "Records behind"): ("SocialpulseConsumerLagGrowing", 1000),
    ("operations", "Seconds since last commit"): ("SocialpulseCommitsStalled", 300),
    ("operations", "Oldest uncommitted records"): ("SocialpulseCommitsStalled", 300),
    ("operations", "Consumer failing seconds"): ("SocialpulseConsumerFailing", 60),
    ("operations", "Longest failing consumer"): ("SocialpulseConsumerFailing", 60),
    ("operations", "Reject ratio"): ("SocialpulseHighRejectRate", 0.05),
}
TITLES = {
    "overview": {
        "Brands now",
        "Mentions by brand",
        "Sentiment mix by brand",
        "Net sentiment by brand",
        "Share of voice by brand (mentions)",
        "Reach by brand",
        "Potential reach by brand",
    },
    "brand": {
        "Mentions",
        "Sentiment mix",
        "Net sentiment",
        "Share of voice (mentions)",
        "Reach and impressions",
        "Engagement rate",
        "Click-through and conversion rate",
        "Bounce rate",
        "Time on site (mean session)",
        "Follower growth rate",
        "Video completion rate",
        "CSAT",
        "Customer lifetime value",
        "DM median first response (per worker)",
    },
    "operations": {
        "Throughput",
        "Consumer lag",
        "Consumer lag by partition",
        "Seconds since last commit",
        "Rejected events",
        "Dead letters refused by kind",
        "Partitions held at a dead letter",
        "Consumer errors by kind",
        "Consumer failing seconds",
        "State restores",
        "State restore failures",
        "Partitions not restored",
        "State flush failures",
        "Commits refused",
        "Readiness",
        "Resident memory",
        "Window buckets",
        "Dedup ids held",
    },
}


def _yaml(path: str) -> dict[str, Any]:
    return cast(dict[str, Any], yaml.safe_load((REPO / path).read_text()))


def test_provisioning_loads_exactly_the_three_boards() -> None:
    provider = _yaml("deploy/grafana/provisioning/dashboards/socialpulse.yml")["providers"]
    assert len(provider) == 1 and provider[0]["type"] == "file", provider
    path = provider[0]["options"]["path"]
    # Grafana loads every JSON file in the folder: no board may be missing or stray.
    assert set(DASHBOARDS_DIR.glob("*.json")) == set(BOARDS.values())
    compose = _yaml("deploy/compose/docker-compose.yml")
    mounts = [v.split(":") for v in compose["services"]["grafana"]["volumes"]]
    assert ["../grafana/dashboards", path, "ro"] in mounts, mounts


def test_boards_have_distinct_uids_and_the_brand_board_keeps_the_old_one() -> None:
    uids = {b: dashboard(b)["uid"] for b in BOARDS}
    assert len(set(uids.values())) == len(uids), uids
    assert uids["brand"] == "socialpulse"
    titles = [dashboard(b)["title"] for b in BOARDS]
    assert len(set(titles)) == len(titles), titles
    # The boards link to each other through this tag.
    for b in BOARDS:
        assert "socialpulse" in dashboard(b)["tags"], b
        assert any(link.get("tags") == ["socialpulse"] for link in dashboard(b)["links"]), b


@pytest.mark.parametrize("board", BOARDS)
def test_board_variables_are_defined_and_the_datasource_is_provisioned(board: str) -> None:
    dash = dashboard(board)
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert set(variables) == {"datasource", *VARIABLES[board]}
    datasources = _yaml("deploy/grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert variables["datasource"]["current"]["value"] in {d["uid"] for d in datasources}
    for name, (multi, include_all) in VARIABLES[board].items():
        v = variables[name]
        assert (v["multi"], v["includeAll"]) == (multi, include_all), name
        assert v["datasource"] == DATASOURCE, name
        assert metric_names(v["query"]["query"]), name
        if include_all:
            assert v["allValue"] == ".*", name
    exprs = [t.expr for t in panel_targets() + annotation_targets() if t.board == board]
    used = {m for e in exprs for m in _VARIABLE.findall(e)}
    assert used <= set(variables) | GRAFANA_VARIABLES, used - set(variables)
    # Every board variable is used by some query (none is left over from an older board).
    assert set(VARIABLES[board]) <= used


@pytest.mark.parametrize("board", BOARDS)
def test_every_panel_has_a_unit_a_description_and_the_board_datasource(board: str) -> None:
    all_panels = dashboard(board)["panels"]
    ids = [p["id"] for p in all_panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    titles = [p["title"] for p in panels(board)]
    assert len(titles) == len(set(titles)), "duplicate panel titles"
    assert TITLES[board] <= set(titles), TITLES[board] - set(titles)
    cells: set[tuple[int, int]] = set()
    for p in all_panels:
        grid = p["gridPos"]
        assert grid["x"] + grid["w"] <= 24, p["title"]
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, f"{p['title']} overlaps another panel"
        cells |= area
    for p in panels(board):
        title = p["title"]
        assert p.get("description", "").strip(), f"{title}: no description"
        assert p["fieldConfig"]["defaults"].get("unit") in UNITS, f"{title}: unit"
        assert p["datasource"] == DATASOURCE, title
        assert p["targets"], title
        for t in p["targets"]:
            assert t["datasource"] == DATASOURCE, title
        thresholds = p["fieldConfig"]["defaults"].get("thresholds")
        if thresholds is not None:
            values = [s["value"] for s in thresholds["steps"]]
            assert values[0] is None and values[1:] == sorted(values[1:]), title


def test_panels_query_only_recorded_series_and_contract_metrics() -> None:
    allowed = CONTRACT_METRICS | set(recording_rules()) | {"up"}
    targets = panel_targets()
    assert len({(t.board, t.panel) for t in targets}) >= 80, "panels missing"
    for t in targets:
        names = metric_names(t.expr)
        assert names, f"{t.board}: {t.panel}: no metric in {t.expr!r}"
        assert names <= allowed, f"{t.panel}: unknown metrics {sorted(names - allowed)}"
        # Window KPIs follow the board's brand and window selection; a baseline panel compares
        # the 5m window with its one-day average whatever the window variable says.
        if any(n.startswith("brand_window") for n in names):
            assert 'brand=~"$brand"' in t.expr, t
            if not any(n.endswith("_1d") for n in names) and 'window="5m"' not in t.expr:
                assert 'window="$window"' in t.expr or t.panel.endswith("in every window"), t
        if 'window="5m"' in t.expr:
            siblings = [s.expr for s in targets if (s.board, s.panel) == (t.board, t.panel)]
            assert any("_avg_1d" in e or ":avg_1d" in e for e in siblings), t
        if t.board == "operations":
            assert 'job="socialpulse"' in t.expr, t


def test_fraction_panels_show_percent() -> None:
    by_panel: dict[tuple[str, str], set[str]] = {}
    for t in panel_targets():
        by_panel.setdefault((t.board, t.panel), set()).update(metric_names(t.expr))
    units = {
        (b, p["title"]): p["fieldConfig"]["defaults"]["unit"] for b in BOARDS for p in panels(b)
    }
    checked = [k for k, names in by_panel.items() if names and names <= FRACTIONS]
    assert len(checked) >= 10, checked
    wrong = [k for k in checked if units[k] != "percentunit"]
    assert not wrong, wrong


@pytest.mark.parametrize(("key", "alert"), ALERT_THRESHOLDS.items(), ids=lambda k: str(k))
def test_alert_thresholds_drawn_on_panels_are_the_alerts_own(
    key: tuple[str, str], alert: tuple[str, float]
) -> None:
    board, title = key
    name, value = alert
    assert re.search(rf">\s*{re.escape(str(value))}\b", alert_rules()[name]["expr"]), name
    panel = next(p for p in panels(board) if p["title"] == title)
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert value in [s["value"] for s in steps], (title, steps)


def test_annotations_mark_firing_socialpulse_alerts() -> None:
    annotations = {b: [a for a in annotation_targets() if a.board == b] for b in BOARDS}
    assert all(annotations.values()), annotations
    firing = 'ALERTS{alertname=~"Socialpulse.*", alertstate="firing"'
    for targets in annotations.values():
        for a in targets:
            assert a.expr.startswith(firing) and a.expr.endswith("}"), a
    assert [a.expr for a in annotations["overview"]] == [firing + "}"]
    assert any('brand=~"$brand"' in a.expr for a in annotations["brand"])
    assert all('team="platform"' in a.expr for a in annotations["operations"])
    for board in BOARDS:
        for a in dashboard(board)["annotations"]["list"]:
            if not a.get("builtIn"):
                assert a["datasource"] == DATASOURCE and a["enable"], a
                assert a["titleFormat"] == "{{alertname}}", a


def test_grafana_datasource_is_the_one_the_boards_select() -> None:
    ds = _yaml("deploy/grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert [d["uid"] for d in ds] == ["socialpulse-prometheus"]
    assert (GRAFANA_DIR / "provisioning" / "dashboards" / "socialpulse.yml").exists()


def test_promtool_parses_every_board_query_with_its_variables_substituted(tmp_path: Path) -> None:
    # promtool checks a rule file's expressions with Prometheus' own parser: one recording rule
    # per panel query, as Grafana would send it.
    targets = panel_targets() + annotation_targets()
    rules = [
        {"record": f"board_query:n{i}:expr", "expr": substitute(t.expr, SUBSTITUTED)}
        for i, t in enumerate(targets)
    ]
    rule_file = tmp_path / "board-queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "boards", "rules": rules}]}))
    result = run_tool("promtool", "check", "rules", str(rule_file))
    bad = [
        (t.board, t.panel, t.ref_id)
        for t, r in zip(targets, rules, strict=True)
        if r["record"] + '"' in result.stdout + result.stderr
    ]
    assert result.returncode == 0, (bad, result.stdout + result.stderr)
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout, result.stdout


def test_the_operations_board_shows_what_the_runbook_confirms_pipeline_alerts_with() -> None:
    sections = re.split(r"^## (\w+)$", (REPO / "deploy" / "runbook.md").read_text(), flags=re.M)
    text = dict(zip(sections[1::2], sections[2::2], strict=True))
    platform = [a for a, rule in alert_rules().items() if rule["labels"]["team"] == "platform"]
    named = {n for a in platform for n in metric_names(text[a])}
    assert len(named) >= 8, named
    shown = {n for t in panel_targets() if t.board == "operations" for n in metric_names(t.expr)}
    assert not named - shown, f"runbook metrics without an operations panel: {named - shown}"
