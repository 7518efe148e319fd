"""Fault 11: absurd values and oversized rejects are dead-lettered, and the worker goes on.

Once, a mention claiming 10^30 followers was counted and then crashed the worker at every
checkpoint (msgpack holds no such integer), and a reject larger than the dead-letter topic
accepts was retried forever. Here the dead-letter topic accepts at most 64 KiB while the service
reads records of up to 1 MiB; each bad record must reach the dead-letter topic, the valid events
after them must count, and the group's committed offsets must reach the end of the input.

Always Apache Kafka, whatever SOCIALPULSE_TEST_BROKER says: the embedded broker does not
enforce ``max.message.bytes``, which is the fault.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry, generate_latest

from builders import encoded, interaction, mention
from socialpulse.core.pipeline import Pipeline
from socialpulse.export.collector import register_metrics
from socialpulse.kafka.changelog import state_topic_spec
from socialpulse.kafka.deadletter import TRUNCATED_VALUE_BYTES, headers_as_dict
from socialpulse.kafka.minutes import minutes_topic_spec
from socialpulse.kafka.topics import TopicSpec, ensure_topics
from socialpulse.kafka.worker import Worker
from socialpulse.settings import Settings

pytestmark = pytest.mark.integration

DLQ_MAX_BYTES = 64 * 1024
HUGE_BYTES = 200 * 1024
SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "dead-letter.v1.json").read_text()
)


def _mention(event_id: str, followers: int, now: float) -> bytes:
    return encoded(mention(now - 30, "u1", followers, text="aurora is lovely", event_id=event_id))


def _purchase(event_id: str, order_value: float, now: float) -> bytes:
    event = interaction(now - 30, "purchase", "aurora", event_id=event_id, order_value=order_value)
    return encoded(event)


async def _read(bootstrap: str, topic: str, count: int) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    out: list[Any] = []
    try:
        deadline = time.monotonic() + 20
        while len(out) < count and time.monotonic() < deadline:
            for recs in (await consumer.getmany(timeout_ms=500)).values():
                out += recs
    finally:
        await consumer.stop()
    return out


async def _committed(bootstrap: str, group: str, tps: list[TopicPartition]) -> dict[Any, Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        return {tp: await consumer.committed(tp) for tp in tps}
    finally:
        await consumer.stop()


async def test_fault_11_absurd_values_and_oversized_rejects(
    apache_kafka_bootstrap: str, topic_prefix: str
) -> None:
    kafka_bootstrap = apache_kafka_bootstrap
    now = time.time()
    m, i, dlq = (f"{topic_prefix}{n}" for n in ("m", "i", "dlq"))
    settings = Settings(
        kafka={
            "bootstrap_servers": kafka_bootstrap,
            "group_id": f"{topic_prefix}g",
            "mentions_topic": m,
            "interactions_topic": i,
            "dlq_topic": dlq,
            "poll_timeout_ms": 200,
            "checkpoint_interval_seconds": 0.3,
        },
        brands=[{"id": "aurora", "name": "Aurora", "terms": ["aurora"]}],
        windows=("5m", "1h"),
        max_event_bytes=1 << 20,
    )
    assert settings.max_event_bytes > DLQ_MAX_BYTES
    await ensure_topics(
        {"bootstrap_servers": kafka_bootstrap},
        {
            m: TopicSpec(1),
            i: TopicSpec(1),
            dlq: TopicSpec(1, {"max.message.bytes": str(DLQ_MAX_BYTES)}),
            settings.kafka.state_topic_name: state_topic_spec(1),
            settings.kafka.minutes_topic_name: minutes_topic_spec(settings.anomaly),
        },
    )
    huge = b'{"event_id": "' + b"x" * HUGE_BYTES  # never closed: invalid JSON
    bad = [
        (m, _mention("m-absurd", 10**30, now)),
        (m, huge),
        (i, _purchase("i-absurd", 1e308, now)),
    ]
    good = [(m, _mention("m-ok", 1834, now)), (i, _purchase("i-ok", 42.5, now))]

    pipeline = Pipeline(settings)
    worker = Worker(settings, pipeline, kafka_bootstrap, lambda: now)
    registry = CollectorRegistry()
    register_metrics(registry, pipeline, lambda: now, worker.stats)
    await worker.start()
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for topic, value in [*bad, *good]:
            await producer.send_and_wait(topic, value, key=b"k")
        tps = [TopicPartition(m, 0), TopicPartition(i, 0)]
        end = {TopicPartition(m, 0): 3, TopicPartition(i, 0): 2}
        deadline = time.monotonic() + 30
        while True:
            assert not task.done(), task  # the worker is alive: no crash at a checkpoint
            committed = await _committed(kafka_bootstrap, settings.kafka.group_id, tps)
            if committed == end and worker.stats.dead_lettered == len(bad):
                break
            assert time.monotonic() < deadline, (committed, worker.stats, pipeline.stats)
            await asyncio.sleep(0.3)
        assert not task.done(), task
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)  # a wedged dead-letter path would hang here
        await worker.stop()
        await producer.stop()

    # Each bad record is in the dead-letter topic with its reason; the huge one truncated.
    letters = await _read(kafka_bootstrap, dlq, len(bad))
    by_source = {}
    for r in letters:
        h = headers_as_dict(r.headers)
        jsonschema.validate(h, SCHEMA, format_checker=jsonschema.FormatChecker())
        by_source[(h["socialpulse.source.topic"], int(h["socialpulse.source.offset"]))] = (h, r)
    assert set(by_source) == {(m, 0), (m, 1), (i, 0)}
    (absurd, absurd_r), (cut, cut_r), (purchase, purchase_r) = (
        by_source[k] for k in ((m, 0), (m, 1), (i, 0))
    )
    assert absurd["socialpulse.reason"] == "schema"
    assert "followers" in absurd["socialpulse.error"]
    assert absurd_r.value == bad[0][1]  # small rejects go whole, even beside a huge one
    assert purchase["socialpulse.reason"] == "schema"
    assert "order_value" in purchase["socialpulse.error"]
    assert purchase_r.value == bad[2][1]
    assert "socialpulse.truncated" not in absurd and "socialpulse.truncated" not in purchase
    assert cut["socialpulse.reason"] == "invalid_json"
    assert "MessageSizeTooLarge" in cut["socialpulse.truncated"]
    assert int(cut["socialpulse.original.bytes"]) == len(huge)
    assert cut["socialpulse.original.sha256"] == hashlib.sha256(huge).hexdigest()
    assert cut_r.value == huge[:TRUNCATED_VALUE_BYTES] and cut_r.key == b"k"

    # The valid events after them counted; the rejects did not.
    assert pipeline.stats.rejected["schema"] == 2 and pipeline.stats.rejected["invalid_json"] == 1
    k = pipeline.store.snapshot(now)["aurora"]["5m"]
    assert (k.mentions, k.potential_reach, k.purchase_value_sum) == (1, 1834, 42.5)
    metrics = generate_latest(registry).decode()
    assert 'socialpulse_events_rejected_total{reason="schema"} 2.0' in metrics
    assert 'socialpulse_dead_letter_refusals_total{kind="too_large"} 1.0' in metrics
    assert "socialpulse_dead_letter_held_partitions 0.0" in metrics
