"""``socialpulse topics`` on a real broker: describes, creates, and flags an uncompacted state."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from socialpulse.kafka.topics import TopicSpec, ensure_topics

pytestmark = pytest.mark.integration

PARTITIONS = 3
# Every topic the service uses, by the name it gets under the test's prefix: (partitions, policy).
TOPICS = {
    "mentions": (PARTITIONS, "delete"),
    "interactions": (PARTITIONS, "delete"),
    "dlq": (PARTITIONS, "delete"),
    "alerts": (PARTITIONS, "compact"),
    "group.state": (PARTITIONS, "compact"),
    "group.joins": (PARTITIONS, "delete"),
    "group.minutes": (1, "compact,delete"),
    "group.trends": (1, "compact,delete"),
}
# The embedded broker does not answer DescribeConfigs: no policy is known, which is reported.
CONFIGS_KNOWN = os.environ.get("SOCIALPULSE_TEST_BROKER") != "tansu"


def _env(bootstrap: str, prefix: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "SOCIALPULSE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "SOCIALPULSE_KAFKA__MENTIONS_TOPIC": f"{prefix}mentions",
        "SOCIALPULSE_KAFKA__INTERACTIONS_TOPIC": f"{prefix}interactions",
        "SOCIALPULSE_KAFKA__DLQ_TOPIC": f"{prefix}dlq",
        "SOCIALPULSE_KAFKA__ALERTS_TOPIC": f"{prefix}alerts",
        "SOCIALPULSE_KAFKA__GROUP_ID": f"{prefix}group",
        "SOCIALPULSE_KAFKA__TOPIC_PARTITIONS": str(PARTITIONS),
    }


def _topics(bootstrap: str, prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "socialpulse.cli", "topics", *args],
        env=_env(bootstrap, prefix),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _rows(out: str, prefix: str) -> dict[str, list[str]]:
    """Topic name to the cells after it in its table row."""
    rows = {}
    for line in out.splitlines():
        cells = line.split()
        for i, cell in enumerate(cells):
            if cell.startswith(prefix):
                rows[cell] = cells[i + 1 :]
    return rows


def test_missing_topics_are_reported_then_created_as_the_service_would(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    before = _topics(kafka_bootstrap, topic_prefix)
    assert before.returncode == 1, before.stderr
    assert before.stderr.count("is missing") == len(TOPICS), before.stderr
    missing = _rows(before.stdout, topic_prefix)
    assert len(missing) == len(TOPICS) and all(cells[0] == "-" for cells in missing.values())

    created = _topics(kafka_bootstrap, topic_prefix, "--create")
    rows = _rows(created.stdout, topic_prefix)
    if not CONFIGS_KNOWN:
        assert created.returncode == 1
        assert "NOT COMPACTED (cleanup.policy=unknown" in created.stderr
        assert {cells[3] for cells in rows.values()} == {"?"}
        return
    assert created.returncode == 0, created.stderr
    assert "WARNING" not in created.stderr
    assert set(rows) == {f"{topic_prefix}{t}" for t in TOPICS}
    for t, (want_partitions, want_policy) in TOPICS.items():
        partitions, replicas, in_sync, policy = rows[f"{topic_prefix}{t}"][:4]
        assert partitions == str(want_partitions), t
        assert replicas == "1" and in_sync == "(1)"  # a single-node test cluster
        assert policy == want_policy, t

    again = _topics(kafka_bootstrap, topic_prefix, "--describe")
    assert again.returncode == 0, again.stderr
    assert _rows(again.stdout, topic_prefix) == rows


def test_a_state_topic_without_compaction_is_reported_loudly(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    state = f"{topic_prefix}group.state"
    asyncio.run(
        ensure_topics(
            {"bootstrap_servers": kafka_bootstrap},
            {
                state: TopicSpec(partitions=1, config={"cleanup.policy": "delete"}),
                f"{topic_prefix}mentions": TopicSpec(partitions=2),
            },
        )
    )
    done = _topics(kafka_bootstrap, topic_prefix, "--create")
    policy = "delete" if CONFIGS_KNOWN else "?"
    assert done.returncode == 1
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1
    shown = "delete" if CONFIGS_KNOWN else "unknown"
    assert f"the state topic {state} is NOT COMPACTED (cleanup.policy={shown}" in warnings[0]
    assert "--add-config cleanup.policy=compact" in done.stderr
    rows = _rows(done.stdout, topic_prefix)
    assert rows[state][:4] == ["1", "1", "(1)", policy]  # kept as it was, never altered
    assert rows[f"{topic_prefix}mentions"][0] == "2"
    assert rows[f"{topic_prefix}dlq"][0] == str(PARTITIONS)  # the missing ones were created
