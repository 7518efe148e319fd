"""Every alert has a runbook section, and every runbook section is an alert that exists."""

from __future__ import annotations

import re

import pytest

from prometheus_server import REPO, alert_rules

pytestmark = pytest.mark.deploy

RUNBOOK = REPO / "deploy" / "runbook.md"


def test_every_alert_has_a_runbook_section_and_no_section_is_stale() -> None:
    sections = set(re.findall(r"^## (\w+)$", RUNBOOK.read_text(encoding="utf-8"), re.M))
    alerts = set(alert_rules())
    assert alerts, "no alerts"
    assert not alerts - sections, f"alerts without a runbook section: {sorted(alerts - sections)}"
    assert not sections - alerts, f"runbook sections of no alert: {sorted(sections - alerts)}"
