"""The service's topics as the settings name them: how they are created, and what the cluster has.

The same topics ``run`` creates (mentions, interactions, dead letters, state, joins, alerts,
minutes, trends), with the same specs, so ``socialpulse topics --create`` makes exactly what
the service would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from socialpulse.kafka.access import check_access
from socialpulse.kafka.alerts import alerts_topic_spec
from socialpulse.kafka.changelog import state_topic_spec
from socialpulse.kafka.joins import joins_topic_spec
from socialpulse.kafka.minutes import minutes_topic_spec
from socialpulse.kafka.options import client_options, required_bootstrap
from socialpulse.kafka.topics import TopicDescription, TopicSpec, describe_topics, ensure_topics
from socialpulse.kafka.trends import trends_topic_spec
from socialpulse.settings import Settings

STATE_ROLE: Final = "state"
# Topic configs shown for every topic; the state topic must be compacted.
SHOWN_CONFIGS: Final = ("cleanup.policy", "retention.ms")


@dataclass(frozen=True, slots=True)
class TopicState:
    """One of the service's topics and, when it exists, what the cluster says of it."""

    role: str
    name: str
    found: TopicDescription | None

    @property
    def cleanup_policy(self) -> str | None:
        """The topic's ``cleanup.policy`` (``delete``, ``compact`` or both), if known."""
        return None if self.found is None else self.found.configs.get("cleanup.policy")

    @property
    def compacted(self) -> bool:
        """Whether compaction keeps the newest record of every key."""
        return "compact" in (self.cleanup_policy or "").split(",")


def service_topics(settings: Settings) -> dict[str, tuple[str, TopicSpec]]:
    """Role to (name, creation spec) of each topic the service uses, as ``run`` creates them."""
    kafka = settings.kafka
    spec = TopicSpec(partitions=kafka.topic_partitions)
    return {
        "mentions": (kafka.mentions_topic, spec),
        "interactions": (kafka.interactions_topic, spec),
        "dead letters": (kafka.dlq_topic, spec),
        STATE_ROLE: (kafka.state_topic_name, state_topic_spec(kafka.topic_partitions)),
        "joins": (
            kafka.joins_topic_name,
            joins_topic_spec(kafka.topic_partitions, settings.longest_window_seconds),
        ),
        "alerts": (kafka.alerts_topic, alerts_topic_spec(kafka.topic_partitions)),
        "minutes": (kafka.minutes_topic_name, minutes_topic_spec(settings.anomaly)),
        "trends": (kafka.trends_topic_name, trends_topic_spec(settings.trends)),
    }


async def service_topic_states(settings: Settings, create: bool = False) -> list[TopicState]:
    """Each service topic as the cluster has it; with ``create``, missing ones are made first.

    Raises RuntimeError when no Kafka is configured or it cannot be reached.
    """
    bootstrap = required_bootstrap(settings.kafka, "topics")
    opts = client_options(settings.kafka, bootstrap)
    await check_access(opts)
    topics = service_topics(settings)
    if create:
        await ensure_topics(opts, dict(topics.values()))
    try:
        found = await describe_topics(opts, [name for name, _ in topics.values()], SHOWN_CONFIGS)
    except RuntimeError as e:
        raise RuntimeError(f"Kafka at {bootstrap}: {e}") from e
    return [TopicState(role, name, found.get(name)) for role, (name, _) in topics.items()]
