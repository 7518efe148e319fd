"""A consumer group of its own for an integration test: settings, topics, and waiting on it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.kafka.changelog import state_topic_spec
from socialpulse.kafka.minutes import minutes_topic_spec
from socialpulse.kafka.topics import TopicSpec, ensure_topics
from socialpulse.settings import Settings


def group_settings(bootstrap: str, prefix: str, **extra: Any) -> Settings:
    """The demo brands, 5m and 1h windows, fast polls and checkpoints, topics named ``prefix…``.

    ``kafka={...}`` in ``extra`` adds Kafka settings; the rest are top-level settings. The spam
    heuristics are at their defaults: their state is kept per input partition and restored
    with it (README: Signals), so whole snapshots, sentiment and share of voice too, compare
    alike across owners and restarts.
    """
    kafka = {
        "bootstrap_servers": bootstrap,
        "group_id": f"{prefix}group",
        "mentions_topic": f"{prefix}m",
        "interactions_topic": f"{prefix}i",
        "dlq_topic": f"{prefix}dlq",
        "poll_timeout_ms": 200,
        "checkpoint_interval_seconds": 0.3,
    }
    kafka.update(extra.pop("kafka", {}))
    fields: dict[str, Any] = {
        "brands": [b.model_dump() for b in DEMO_BRANDS],
        "windows": ("5m", "1h"),
        "metrics_port": 0,
    }
    return Settings(kafka=kafka, **(fields | extra))


async def create_group_topics(settings: Settings, partitions: int) -> None:
    """The group's input, dead-letter and state topics, ``partitions`` each."""
    kafka = settings.kafka
    assert kafka.bootstrap_servers is not None
    spec = TopicSpec(partitions=partitions)
    await ensure_topics(
        {"bootstrap_servers": kafka.bootstrap_servers},
        {
            kafka.mentions_topic: spec,
            kafka.interactions_topic: spec,
            kafka.dlq_topic: spec,
            kafka.state_topic_name: state_topic_spec(partitions),
            kafka.minutes_topic_name: minutes_topic_spec(settings.anomaly),
        },
    )


async def until(predicate: Callable[[], bool], limit_s: float = 60.0) -> None:
    """Wait until ``predicate()`` holds; fail the test after ``limit_s`` seconds."""
    deadline = time.monotonic() + limit_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)
