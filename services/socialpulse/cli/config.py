"""``socialpulse config``: the effective settings as JSON, secrets masked."""

from __future__ import annotations

import argparse
import json

from socialpulse.cli.output import print_line
from socialpulse.settings import Settings

NEEDS_BRANDS = True


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``config``."""
    sub.add_parser("config", help="print the effective settings as JSON, secrets masked")


def show_config(settings: Settings) -> int:
    """Print the settings the service would run with."""
    print_line(json.dumps(settings.model_dump(mode="json"), indent=2))
    return 0


def main(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``config``."""
    return show_config(settings)
