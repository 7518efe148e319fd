"""Every alert has a runbook section and links to it; every section is an alert that exists."""

from __future__ import annotations

import re

import pytest

from prometheus_server import REPO, alert_rules
from socialpulse.app.rules import DEFAULT_RUNBOOK_URL, runbook_link

pytestmark = pytest.mark.deploy

RUNBOOK = REPO / "deploy" / "runbook.md"


def _sections() -> set[str]:
    return set(re.findall(r"^## (\w+)$", RUNBOOK.read_text(encoding="utf-8"), re.M))


def test_every_alert_has_a_runbook_section_and_no_section_is_stale() -> None:
    sections = _sections()
    alerts = set(alert_rules())
    assert alerts, "no alerts"
    assert not alerts - sections, f"alerts without a runbook section: {sorted(alerts - sections)}"
    assert not sections - alerts, f"runbook sections of no alert: {sorted(sections - alerts)}"


def test_every_alert_links_its_runbook_section() -> None:
    # A `## Name` heading's anchor is `#name` in lower case; hand-written and generated alerts
    # share one address.
    anchors = {s.lower(): s for s in _sections()}
    for name, rule in alert_rules().items():
        url = rule.get("annotations", {}).get("runbook_url", "")
        assert url == runbook_link(DEFAULT_RUNBOOK_URL, name), f"{name}: runbook_url {url!r}"
        assert anchors.get(url.rsplit("#", 1)[1]) == name, f"{name}: no section for {url}"
