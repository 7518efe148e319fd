"""Command line: ``socialpulse run`` starts the service; ``socialpulse config`` shows settings."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from pydantic import ValidationError

from socialpulse import __version__
from socialpulse.demo import DEMO_BRANDS
from socialpulse.settings import Settings, load_settings


def _settings(config: Path | None) -> Settings:
    settings = load_settings(config)
    if settings.brands:
        return settings
    if settings.embedded:
        return load_settings(config, brands=[b.model_dump() for b in DEMO_BRANDS])
    raise ValueError(
        "no brands configured: list them under `brands:` in the config file "
        "(see README, Configuration) or run without Kafka settings for the demo"
    )


def _print(line: str) -> None:
    print(line, flush=True)  # noqa: T201 - the CLI's own output


async def _run(settings: Settings) -> None:
    from socialpulse.service import run_service

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_service(settings, stop, _print)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``socialpulse`` console script."""
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
    args = parser.parse_args(argv)

    try:
        settings = _settings(args.config)
    except (ValidationError, ValueError) as e:
        print(f"socialpulse: invalid configuration:\n{e}", file=sys.stderr)  # noqa: T201
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.log_level != "DEBUG":
        # The client's INFO lines (group joins, coordinator lookups) drown the live summary.
        logging.getLogger("aiokafka").setLevel(logging.WARNING)
    if args.command == "config":
        _print(json.dumps(settings.model_dump(mode="json"), indent=2))
        return 0
    try:
        asyncio.run(_run(settings))
    except RuntimeError as e:
        print(f"socialpulse: {e}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
