"""``socialpulse topics``: the service's topics on the cluster; warns when state is uncompacted."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, Final

from socialpulse.settings import Settings

if TYPE_CHECKING:
    from rich.console import Console

    from socialpulse.app.topics import TopicState

NEEDS_BRANDS = False
EXIT_OK: Final = 0
EXIT_PROBLEM: Final = 1
EXIT_USAGE: Final = 2
EXIT_KAFKA: Final = 3

EPILOG = """\
exit status: 0 every topic exists and the state topic is compacted; 1 a topic is missing or
the state topic is not compacted; 2 bad settings or no Kafka address; 3 Kafka could not be
reached.
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``topics``."""
    p = sub.add_parser(
        "topics",
        help="describe the service's topics (partitions, replication, compaction); --create",
        description=(
            "Describe the mentions, interactions, dead-letter and state topics named by the\n"
            "settings: partitions, replicas (fewest in sync), cleanup.policy and retention.ms.\n"
            "The state topic must have cleanup.policy=compact, or retention deletes the window\n"
            "state a restarted worker restores from; that is reported loudly."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--create",
        action="store_true",
        help="create the missing topics first, as the service would (existing ones are kept)",
    )
    p.add_argument(
        "--describe", action="store_true", help="describe the topics (what it does by default)"
    )


def problems(states: list[TopicState], bootstrap: str) -> list[str]:
    """What an operator must fix, one message each."""
    from socialpulse.app.topics import STATE_ROLE

    out = []
    for s in states:
        if s.found is None:
            out.append(
                f"the {s.role} topic {s.name} is missing: run `socialpulse topics --create`, "
                "or start the service with kafka.create_topics true"
            )
        elif s.role == STATE_ROLE and not s.compacted:
            policy = s.cleanup_policy or "unknown (the broker did not say)"
            out.append(
                f"the state topic {s.name} is NOT COMPACTED (cleanup.policy={policy}): retention "
                "will delete window state and restarted workers will restore too little. Fix: "
                f"kafka-configs.sh --bootstrap-server {bootstrap} --alter --entity-type topics "
                f"--entity-name {s.name} --add-config cleanup.policy=compact"
            )
    return out


def report(states: list[TopicState], console: Console) -> None:
    """The topics table."""
    from rich import box
    from rich.table import Table

    from socialpulse.app.topics import STATE_ROLE

    table = Table(box=box.SIMPLE_HEAD)
    for column in ("role", "topic", "partitions", "replicas (in sync)", "cleanup.policy"):
        table.add_column(column, overflow="fold")
    table.add_column("retention.ms")
    for s in states:
        if s.found is None:
            table.add_row(s.role, s.name, "-", "-", "-", "-", style="bold red")
            continue
        f = s.found
        bad = s.role == STATE_ROLE and not s.compacted
        table.add_row(
            s.role,
            s.name,
            str(f.partitions),
            f"{f.replication} ({f.in_sync})",
            f.configs.get("cleanup.policy") or "?",
            f.configs.get("retention.ms") or "?",
            style="bold red" if bad else None,
        )
    console.print(table)


def main(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``topics``."""
    from socialpulse.app.topics import service_topic_states
    from socialpulse.cli.output import console

    try:
        states = asyncio.run(service_topic_states(settings, create=args.create))
    except RuntimeError as e:
        print(f"socialpulse: {e}", file=sys.stderr)  # noqa: T201 - the CLI's own output
        return EXIT_USAGE if settings.kafka.bootstrap_servers is None else EXIT_KAFKA
    assert settings.kafka.bootstrap_servers is not None  # noqa: S101 - states need an address
    report(states, console())
    found = problems(states, settings.kafka.bootstrap_servers)
    warn = console(stderr=True)
    for problem in found:
        warn.print(f"WARNING: {problem}", style="bold red", markup=False, soft_wrap=True)
    return EXIT_PROBLEM if found else EXIT_OK
