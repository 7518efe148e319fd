"""``socialpulse rules``: the Prometheus brand alerts for this configuration's thresholds."""

from __future__ import annotations

import argparse
import sys

from socialpulse.settings import Settings

NEEDS_BRANDS = False


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``rules``."""
    from socialpulse.app.rules import DEFAULT_RUNBOOK_URL

    p = sub.add_parser(
        "rules",
        help="print the Prometheus brand alert rules for the anomaly.* thresholds",
        description=(
            "Print the rule file of the brand alerts and their seasonal baselines "
            "(deploy/prometheus/rules/brand_alerts.yml holds the defaults' version) with the "
            "anomaly.* thresholds of the configuration, so that Prometheus and the in-service "
            "detector alert on the same terms. Load it beside recording.yml and alerts.yml."
        ),
    )
    p.add_argument(
        "--runbook-url",
        default=DEFAULT_RUNBOOK_URL,
        metavar="URL",
        help="address of your copy of deploy/runbook.md; each alert's runbook_url is "
        f"URL#<alert in lower case> (default: {DEFAULT_RUNBOOK_URL})",
    )


def main(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``rules``."""
    from socialpulse.app.rules import brand_rules

    try:
        text = brand_rules(settings.anomaly, settings.windows, args.runbook_url)
    except ValueError as e:
        print(f"socialpulse rules: {e}", file=sys.stderr)  # noqa: T201
        return 2
    sys.stdout.write(text)
    return 0
