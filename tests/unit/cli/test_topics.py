"""``socialpulse topics`` without a cluster: what it flags, the table, and its exit statuses."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from socialpulse.app.topics import TopicState, service_topics
from socialpulse.cli.main import main
from socialpulse.cli.topics import problems, report
from socialpulse.kafka.alerts import ALERTS_TOPIC_CONFIG
from socialpulse.kafka.changelog import STATE_TOPIC_CONFIG
from socialpulse.kafka.topics import TopicDescription
from socialpulse.settings import Settings

pytestmark = pytest.mark.usefixtures("clean_environment")


def _found(policy: str | None, partitions: int = 4) -> TopicDescription:
    return TopicDescription(
        partitions, 3, 2, {"cleanup.policy": policy, "retention.ms": "604800000"}
    )


def test_the_topics_are_those_the_settings_name_with_the_service_specs() -> None:
    settings = Settings(kafka={"group_id": "g", "dlq_topic": "dead", "topic_partitions": 6})
    topics = service_topics(settings)
    assert {role: name for role, (name, _) in topics.items()} == {
        "mentions": "socialpulse.mentions",
        "interactions": "socialpulse.interactions",
        "dead letters": "dead",
        "state": "g.state",
        "joins": "g.joins",
        "alerts": "socialpulse.alerts",
        "minutes": "g.minutes",
        "trends": "g.trends",
    }
    one = ("minutes", "trends")
    assert {spec.partitions for role, (_, spec) in topics.items() if role not in one} == {6}
    assert dict(topics["state"][1].config) == STATE_TOPIC_CONFIG
    # Deleted by age, after two longest windows (7 d by default).
    assert dict(topics["joins"][1].config) == {
        "cleanup.policy": "delete",
        "retention.ms": str(2 * 7 * 86_400_000),
    }
    assert dict(topics["alerts"][1].config) == ALERTS_TOPIC_CONFIG
    # One partition (one order for every reader), compacted, kept for 4 weeks + 2 days.
    minutes = topics["minutes"][1]
    assert minutes.partitions == 1
    assert minutes.config["cleanup.policy"] == "compact,delete"
    assert int(minutes.config["retention.ms"]) == 31 * 86_400_000
    # One partition, compacted, kept for twice the trend span (65 one-minute buckets).
    trends = topics["trends"][1]
    assert trends.partitions == 1
    assert trends.config["cleanup.policy"] == "compact,delete"
    assert int(trends.config["retention.ms"]) == 2 * 65 * 60_000
    assert not topics["mentions"][1].config


@pytest.mark.parametrize(
    ("policy", "flagged"),
    [("compact", False), ("compact,delete", False), ("delete", True), (None, True)],
)
def test_only_a_state_topic_without_compaction_is_flagged(
    policy: str | None, flagged: bool
) -> None:
    states = [
        TopicState("mentions", "m", _found("delete")),
        TopicState("state", "g.state", _found(policy)),
    ]
    found = problems(states, "k:9092")
    assert len(found) == flagged
    if flagged:
        assert "g.state is NOT COMPACTED" in found[0]
        assert "--bootstrap-server k:9092" in found[0]
        assert "--entity-name g.state --add-config cleanup.policy=compact" in found[0]


def test_missing_topics_are_flagged_with_the_way_to_create_them() -> None:
    found = problems([TopicState("dead letters", "dlq", None)], "k:9092")
    assert found == [
        "the dead letters topic dlq is missing: run `socialpulse topics --create`, "
        "or start the service with kafka.create_topics true"
    ]


def test_the_table_shows_partitions_replicas_and_policies() -> None:
    out = io.StringIO()
    report(
        [TopicState("mentions", "m", _found("delete", 12)), TopicState("state", "s", None)],
        Console(file=out, width=200),
    )
    rows = {
        line.split()[0]: line.split()[1:] for line in out.getvalue().splitlines() if line.strip()
    }
    assert rows["mentions"] == ["m", "12", "3", "(2)", "delete", "604800000"]
    assert rows["state"] == ["s", "-", "-", "-", "-"]


def test_without_a_kafka_address_it_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics"]) == 2
    assert "topics needs a Kafka address" in capsys.readouterr().err


def test_an_unreachable_kafka_exits_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOCIALPULSE_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:1")
    assert main(["topics"]) == 3
    assert "Kafka at 127.0.0.1:1" in capsys.readouterr().err
