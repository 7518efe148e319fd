"""Creates the service's topics when missing, on any Kafka-compatible cluster.

Only the Kafka protocol is used (metadata and CreateTopics through aiokafka's admin client), so
the same code serves Apache Kafka, a managed Kafka and the embedded broker. Existing topics are
never altered: their partitions and configs stay as they are.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from socialpulse.kafka.startup import backoff_or_fail

__all__ = ["TopicDescription", "TopicSpec", "describe_topics", "ensure_topics"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S: Final = 30.0
MAX_REPLICATION_FACTOR: Final = 3


@dataclass(frozen=True)
class TopicSpec:
    """How to create a topic that does not exist yet: partition count and topic configs."""

    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.partitions < 1:
            raise ValueError(f"a topic needs at least one partition, not {self.partitions}")


@dataclass(frozen=True)
class TopicDescription:
    """A topic as the cluster has it: partitions, the fewest (in-sync) replicas, some configs."""

    partitions: int
    replication: int  # the fewest replicas of any partition
    in_sync: int  # the fewest in-sync replicas of any partition
    configs: Mapping[str, str | None]  # None: the broker did not say


async def read_from_start(
    client_options: dict[str, Any], topic: str, partitions: set[int]
) -> tuple[AIOKafkaConsumer, dict[TopicPartition, int]]:
    """A started consumer of no group on every partition of ``topic``, and their end offsets.

    Positioned at the start: how a fleet-wide view (joins, trends) reads its topic.
    """
    consumer = AIOKafkaConsumer(
        group_id=None, enable_auto_commit=False, auto_offset_reset="earliest", **client_options
    )
    try:
        await consumer.start()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
    except BaseException:
        await consumer.stop()
        raise
    return consumer, ends


async def describe_topics(
    client_options: dict[str, Any],
    names: list[str],
    configs: tuple[str, ...],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> dict[str, TopicDescription]:
    """Those of ``names`` that exist, with the topic ``configs`` asked for.

    One attempt, no retries (an operator asked): raises RuntimeError when the cluster cannot be
    reached or does not answer within ``timeout_s``. A config the broker does not report (some
    Kafka-compatible brokers do not answer DescribeConfigs) is None.
    """
    admin = AIOKafkaAdminClient(request_timeout_ms=int(timeout_s * 1000), **client_options)
    try:
        await admin.start()
        existing = [name for name in names if name in set(await admin.list_topics())]
        if not existing:
            return {}
        described = await admin.describe_topics(existing)
    except (KafkaError, OSError, TimeoutError) as exc:
        await admin.close()
        raise RuntimeError(f"cannot describe topics: {exc!r}") from exc
    try:
        found = await _topic_configs(admin, existing, configs) if configs else {}
    except (KafkaError, OSError, TimeoutError) as exc:
        # Some Kafka-compatible brokers (the embedded one) do not answer DescribeConfigs.
        log.warning("the cluster did not describe topic configs: %r", exc)
        found = {}
    finally:
        await admin.close()
    out = {}
    for topic in described:
        parts = topic["partitions"]
        out[topic["topic"]] = TopicDescription(
            partitions=len(parts),
            replication=min((len(p["replicas"]) for p in parts), default=0),
            in_sync=min((len(p["isr"]) for p in parts), default=0),
            configs={key: found.get(topic["topic"], {}).get(key) for key in configs},
        )
    return out


async def _topic_configs(
    admin: Any, names: list[str], keys: tuple[str, ...]
) -> dict[str, dict[str, str]]:
    """Topic name to its values of ``keys`` (a topic the broker does not describe is left out)."""
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, name, dict.fromkeys(keys)) for name in names
    ]
    out: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.to_object()["resources"]:
            if resource["error_code"] == 0:
                out[resource["resource_name"]] = {
                    e["config_names"]: e["config_value"] for e in resource["config_entries"]
                }
    return out


async def ensure_topics(
    client_options: dict[str, Any],
    topics: Mapping[str, TopicSpec],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> None:
    """Create those of ``topics`` that do not exist, and wait until the new ones have leaders.

    ``client_options`` are aiokafka client keyword arguments (``bootstrap_servers``, security).
    The replication factor is the number of brokers in the cluster, at most 3. A topic created
    concurrently by someone else counts as existing. While the cluster is unreachable or not
    ready, it retries for up to ``timeout_s`` seconds and then raises RuntimeError; errors that
    retrying cannot fix (an invalid config, authorisation) are raised at once.
    """
    if not topics:
        return
    deadline = time.monotonic() + timeout_s
    admin = await _started_admin(client_options, deadline)
    try:
        created = await _create_missing(admin, topics, deadline)
        if created:
            await _wait_for_leaders(admin, created, deadline)
    finally:
        await admin.close()


async def _started_admin(client_options: dict[str, Any], deadline: float) -> Any:
    """An admin client that has fetched the cluster metadata, retried until ``deadline``."""
    attempt = 0
    since = time.monotonic()
    while True:
        admin = AIOKafkaAdminClient(**client_options)
        try:
            await admin.start()
        except (KafkaError, OSError, TimeoutError) as exc:
            await admin.close()
            attempt = await backoff_or_fail(
                attempt, deadline, "reach the Kafka cluster", exc, since=since
            )
        else:
            return admin


async def _create_missing(
    admin: Any, topics: Mapping[str, TopicSpec], deadline: float
) -> list[str]:
    """Create the topics that do not exist; return the names of all that were missing."""
    was_missing: dict[str, None] = {}  # ordered set
    attempt = 0
    since = time.monotonic()
    while True:
        try:
            existing = set(await admin.list_topics())
            missing = {name: spec for name, spec in topics.items() if name not in existing}
            was_missing.update(dict.fromkeys(missing))
            if not missing:
                return list(was_missing)
            cluster = await admin.describe_cluster()
            replication = max(1, min(MAX_REPLICATION_FACTOR, len(cluster["brokers"])))
            log.info("creating topics %s (replication factor %d)", ", ".join(missing), replication)
            response = await admin.create_topics(
                [
                    NewTopic(name, spec.partitions, replication, topic_configs=dict(spec.config))
                    for name, spec in missing.items()
                ]
            )
        except (KafkaError, OSError, TimeoutError) as exc:
            if isinstance(exc, KafkaError) and not exc.retriable:
                raise
            attempt = await backoff_or_fail(attempt, deadline, "create topics", exc, since=since)
            continue
        retry: KafkaError | None = None
        for result in response.to_object()["topic_errors"]:
            name, code = result["topic"], result["error_code"]
            error_class = for_code(code) if code else None
            if error_class is None or error_class is TopicAlreadyExistsError:
                continue  # created, by us or meanwhile by someone else
            reason = result.get("error_message") or error_class.message
            error = error_class(f"cannot create topic {name!r}: {reason}")
            if not error.retriable:
                raise error
            retry = error
        if retry is None:
            return list(was_missing)
        attempt = await backoff_or_fail(attempt, deadline, "create topics", retry, since=since)


async def _wait_for_leaders(admin: Any, names: list[str], deadline: float) -> None:
    """Wait until every partition of ``names`` has a leader, so clients can use them at once."""
    attempt = 0
    since = time.monotonic()
    while True:
        pending: list[str] = []
        try:
            for topic in await admin.describe_topics(names):
                partitions = topic["partitions"]
                if (
                    topic["error_code"] != 0
                    or not partitions
                    or any(p["error_code"] != 0 or p["leader"] < 0 for p in partitions)
                ):
                    pending.append(topic["topic"])
        except (KafkaError, OSError, TimeoutError) as exc:
            if isinstance(exc, KafkaError) and not exc.retriable:
                raise
            pending = names
        if not pending:
            return
        attempt = await backoff_or_fail(
            attempt,
            deadline,
            f"see leaders for the new topics {', '.join(pending)}",
            None,
            since=since,
        )
