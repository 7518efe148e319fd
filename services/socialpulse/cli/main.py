"""Command line: ``socialpulse run`` starts the service; ``socialpulse config`` shows settings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from socialpulse import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="socialpulse", description=__doc__)
    parser.add_argument("--version", action="version", version=f"socialpulse {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML or TOML config file (default: $SOCIALPULSE_CONFIG, else built-in defaults)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "run", help="run the service (embedded broker and demo traffic if no Kafka is set)"
    )
    sub.add_parser("config", help="print the effective settings as JSON, secrets masked")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``socialpulse`` console script."""
    args = _parser().parse_args(argv)
    from socialpulse.app.settings import service_settings

    try:
        settings = service_settings(args.config)
    except (ValidationError, ValueError) as e:
        print(f"socialpulse: invalid configuration:\n{e}", file=sys.stderr)  # noqa: T201
        return 2
    from socialpulse.app.logs import configure_logging

    configure_logging(settings)
    if args.command == "config":
        from socialpulse.cli.config import show_config

        return show_config(settings)
    from socialpulse.cli.run import run

    return run(settings)
