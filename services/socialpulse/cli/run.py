"""``socialpulse run``: the service until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from socialpulse.cli.output import print_line
from socialpulse.settings import Settings

NEEDS_BRANDS = True


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``run``."""
    sub.add_parser(
        "run", help="run the service (embedded broker and demo traffic if no Kafka is set)"
    )


async def _run(settings: Settings) -> None:
    from socialpulse.app.service import run_service

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_service(settings, stop, print_line)


def run(settings: Settings) -> int:
    """Run the service; 1 with a message when it cannot start."""
    try:
        asyncio.run(_run(settings))
    except RuntimeError as e:
        print(f"socialpulse: {e}", file=sys.stderr)  # noqa: T201 - the CLI's own output
        return 1
    return 0


def main(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``run``."""
    return run(settings)
