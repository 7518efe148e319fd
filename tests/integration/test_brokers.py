"""The test brokers themselves: topics, produce, consume and commit on each of them.

Runs once against ``kafka_bootstrap`` (Apache Kafka, or Tansu, per SOCIALPULSE_TEST_BROKER) and
once against ``tansu_bootstrap`` (the embedded broker), plus EmbeddedBroker's error handling.
"""

from __future__ import annotations

import asyncio
import socket
import stat
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.structs import TopicPartition

from socialpulse.kafka.embedded import EmbeddedBroker
from socialpulse.kafka.topics import TopicSpec, ensure_topics

pytestmark = pytest.mark.integration

RECORDS = 50
PARTITIONS = 3


@pytest.fixture(params=["kafka_bootstrap", "tansu_bootstrap"])
def bootstrap(request: pytest.FixtureRequest) -> str:
    """Each test runs against the test broker and against the embedded broker."""
    value: str = request.getfixturevalue(request.param)
    return value


async def _topic_configs(admin: Any, topic: str) -> dict[str, str]:
    responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    configs: dict[str, str] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            assert resource["error_code"] == 0, resource
            for entry in resource["config_entries"]:
                configs[entry["config_names"]] = entry["config_value"]
    return configs


async def test_ensure_topics_creates_missing_topics_once(bootstrap: str, topic_prefix: str) -> None:
    options = {"bootstrap_servers": bootstrap}
    events, state = f"{topic_prefix}events", f"{topic_prefix}state"
    topics = {
        events: TopicSpec(partitions=PARTITIONS),
        state: TopicSpec(partitions=1, config={"cleanup.policy": "compact"}),
    }

    await ensure_topics(options, topics)
    await ensure_topics(options, topics)  # all exist now: nothing to do
    # One missing among existing ones, asked for concurrently: each is created exactly once.
    more = {**topics, f"{topic_prefix}more": TopicSpec(partitions=2)}
    await asyncio.gather(ensure_topics(options, more), ensure_topics(options, more))

    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        described = {t["topic"]: t for t in await admin.describe_topics(list(more))}
        assert {name: len(t["partitions"]) for name, t in described.items()} == {
            name: spec.partitions for name, spec in more.items()
        }
        for topic in described.values():
            assert topic["error_code"] == 0
            assert all(p["leader"] >= 0 for p in topic["partitions"])
        assert (await _topic_configs(admin, state)).get("cleanup.policy") == "compact"
    finally:
        await admin.close()


async def test_produce_consume_and_commit(bootstrap: str, topic_prefix: str) -> None:
    options = {"bootstrap_servers": bootstrap}
    topic = f"{topic_prefix}events"
    await ensure_topics(options, {topic: TopicSpec(partitions=PARTITIONS)})

    # Idempotence off: Tansu rejects InitProducerId; Apache Kafka does not mind.
    producer = AIOKafkaProducer(enable_idempotence=False, acks="all", **options)
    await producer.start()
    try:
        sent = await asyncio.gather(
            *[
                await producer.send(topic, f"value-{i}".encode(), key=f"key-{i % 7}".encode())
                for i in range(RECORDS)
            ]
        )
    finally:
        await producer.stop()
    produced = Counter(meta.partition for meta in sent)
    assert sum(produced.values()) == RECORDS

    consumer = AIOKafkaConsumer(
        topic,
        group_id=f"{topic_prefix}group",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **options,
    )
    await consumer.start()
    try:
        received: list[tuple[int, bytes, bytes]] = []
        deadline = time.monotonic() + 90
        while len(received) < RECORDS and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                received += [(tp.partition, r.key, r.value) for r in records]
        assert len(received) == RECORDS, f"consumed {len(received)} of {RECORDS} records"
        await consumer.commit()
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        committed = {tp.partition: await consumer.committed(tp) for tp in partitions}
    finally:
        await consumer.stop()

    assert sorted(value for _, _, value in received) == sorted(
        f"value-{i}".encode() for i in range(RECORDS)
    )
    partitions_of_key: dict[bytes, set[int]] = defaultdict(set)
    for partition, key, _ in received:
        partitions_of_key[key].add(partition)
    assert all(len(p) == 1 for p in partitions_of_key.values()), partitions_of_key
    # Each partition's committed offset is the number of records it holds (a partition that
    # got no record may have no committed offset at all).
    assert {p: offset for p, offset in committed.items() if offset} == dict(produced)


# EmbeddedBroker itself -------------------------------------------------------------------------


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def test_embedded_broker_start_and_idempotent_stop() -> None:
    broker = EmbeddedBroker()
    await broker.stop()  # never started: nothing to do
    with pytest.raises(RuntimeError, match="not running"):
        _ = broker.bootstrap_servers

    async with broker:
        port = int(broker.bootstrap_servers.rsplit(":", 1)[1])
        log_path = broker.log_path
        assert log_path is not None and log_path.exists()
        assert _port_open(port)
        with pytest.raises(RuntimeError, match="already started"):
            await broker.start()
    await broker.stop()
    await broker.stop()

    assert not _port_open(port)
    assert not log_path.exists()
    with pytest.raises(RuntimeError, match="not running"):
        _ = broker.bootstrap_servers


async def test_embedded_broker_refuses_a_busy_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RuntimeError, match="already in use"):
            await EmbeddedBroker(port=port).start()


async def test_embedded_broker_without_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALF_TANSU_BIN", "/nonexistent/tansu")
    with pytest.raises(RuntimeError, match="pip install"):
        await EmbeddedBroker().start()


async def test_embedded_broker_reports_a_crash(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\necho 'broker: something went wrong' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("CALF_TANSU_BIN", str(fake))
    broker = EmbeddedBroker()
    with pytest.raises(RuntimeError, match=r"status 3(.|\n)*something went wrong"):
        await broker.start()
    await broker.stop()
    assert broker.log_path is None  # start() cleaned up after itself
