"""Command line: ``socialpulse run`` starts the service; the other commands help operate it."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Protocol, cast

from pydantic import ValidationError

from socialpulse import __version__
from socialpulse.settings import Settings

# Each command's module: ``add_parser(subparsers)`` and ``main(settings, args) -> int``. They are
# imported to build the parser, so at the top they import nothing heavier than the settings;
# clients (aiokafka, aiohttp, rich) are imported inside the functions that use them.
COMMANDS = {
    "run": "socialpulse.cli.run",
    "config": "socialpulse.cli.config",
    "check-config": "socialpulse.cli.check_config",
    "score": "socialpulse.cli.score",
    "replay": "socialpulse.cli.replay",
    "topics": "socialpulse.cli.topics",
    "tail": "socialpulse.cli.tail",
    "rules": "socialpulse.cli.rules",
}


class _Command(Protocol):
    # Commands that act on Kafka topics or files need no brands, even with Kafka configured.
    NEEDS_BRANDS: bool

    def add_parser(self, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...

    def main(self, settings: Settings, args: argparse.Namespace) -> int: ...


def _command(name: str) -> _Command:
    return cast(_Command, importlib.import_module(COMMANDS[name]))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="socialpulse",
        description="Social-listening stream processor: `run` starts the service; the other "
        "commands check its settings, feed and inspect its topics, and watch its KPIs.",
        epilog="`socialpulse COMMAND --help` tells more about each command.",
    )
    parser.add_argument("--version", action="version", version=f"socialpulse {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML or TOML config file (default: $SOCIALPULSE_CONFIG, else built-in defaults)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        _command(name).add_parser(sub)
    return parser


def _settings(config: Path | None, needs_brands: bool) -> Settings:
    from socialpulse.app.settings import service_settings
    from socialpulse.settings import load_settings

    return service_settings(config) if needs_brands else load_settings(config)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``socialpulse`` console script."""
    args = _parser().parse_args(argv)
    command = _command(args.command)
    try:
        settings = _settings(args.config, command.NEEDS_BRANDS)
    except (ValidationError, ValueError) as e:
        print(f"socialpulse: invalid configuration:\n{e}", file=sys.stderr)  # noqa: T201
        return 2
    from socialpulse.app.logs import configure_logging

    configure_logging(settings)
    return command.main(settings, args)
