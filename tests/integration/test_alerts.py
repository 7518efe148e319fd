"""Alert delivery against a real broker: published once per (alert_id, status), whatever restarts.

The alerts topic is read back at start-up and before each batch, so a replay, a restarted worker
or a second worker never sends an event again, neither to the topic nor to the webhooks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from socialpulse.app.alerting import AlertDispatcher
from socialpulse.core.alerts.event import AlertEvent, decode_alert
from socialpulse.export.webhooks import IDEMPOTENCY_HEADER, WebhookSender
from socialpulse.kafka.alerts import ALERTS_TOPIC_CONFIG, AlertLog, alerts_topic_spec
from socialpulse.kafka.topics import describe_topics, ensure_topics
from socialpulse.settings import AlertSettings
from webhook_receiver import Receiver, receiver

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"
FIRING = decode_alert((EXAMPLES / "alert.firing.json").read_bytes())
RESOLVED = decode_alert((EXAMPLES / "alert.resolved.json").read_bytes())
PARTITIONS = 2
OTHER = msgspec.structs.replace(FIRING, alert_id="0" * 32, signal="mention_volume")


async def _topic(opts: dict[str, Any], prefix: str) -> str:
    topic = f"{prefix}alerts"
    await ensure_topics(opts, {topic: alerts_topic_spec(PARTITIONS)})
    return topic


async def _records(opts: dict[str, Any], topic: str) -> list[tuple[str, AlertEvent]]:
    consumer = AIOKafkaConsumer(group_id=None, auto_offset_reset="earliest", **opts)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        end = await consumer.end_offsets(tps)
        out = []
        for tp in tps:
            while await consumer.position(tp) < end[tp]:
                for r in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                    out.append((r.key.decode(), decode_alert(r.value)))
        return out
    finally:
        await consumer.stop()


@asynccontextmanager
async def worker(
    opts: dict[str, Any], topic: str, hook: Receiver | None = None
) -> AsyncIterator[AlertDispatcher]:
    """One worker's delivery side, started as the service starts it."""
    log = AlertLog(topic, opts, {})
    await log.start()
    webhooks = None
    settings = AlertSettings()
    if hook is not None:
        settings = AlertSettings(webhook_urls=(hook.url,), webhook_secret="k")  # noqa: S106 - a test key
        webhooks = WebhookSender(settings)
        await webhooks.start()
    try:
        yield AlertDispatcher(settings, log, webhooks)
    finally:
        if webhooks is not None:
            await webhooks.stop()
        await log.stop()


async def test_events_are_published_keyed_by_id_and_status_on_a_compacted_topic(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    opts = {"bootstrap_servers": kafka_bootstrap}
    topic = await _topic(opts, topic_prefix)
    async with worker(opts, topic) as w:
        assert await w.deliver([FIRING, OTHER]) == 2
        assert await w.deliver([FIRING]) == 0  # a replay in the same process
        assert await w.deliver([RESOLVED]) == 1
    got = sorted(await _records(opts, topic), key=lambda kv: kv[0])
    assert got == sorted(
        [(e.delivery_key, e) for e in (FIRING, OTHER, RESOLVED)], key=lambda kv: kv[0]
    )
    found = await describe_topics(opts, [topic], ("cleanup.policy",))
    if found[topic].configs.get("cleanup.policy") is not None:  # the embedded broker may not say
        assert found[topic].configs["cleanup.policy"] == ALERTS_TOPIC_CONFIG["cleanup.policy"]


async def test_a_restart_sends_nothing_twice_to_the_topic_or_the_webhook(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    opts = {"bootstrap_servers": kafka_bootstrap}
    topic = await _topic(opts, topic_prefix)
    async with receiver([500]) as hook:
        async with worker(opts, topic, hook) as first:
            assert await first.deliver([FIRING]) == 1
        # Restarted: the detector, restored or replayed, yields the same transitions again.
        async with worker(opts, topic, hook) as restarted:
            assert await restarted.deliver([FIRING, RESOLVED]) == 1
            assert restarted.skipped == 1
    keys = [r.headers[IDEMPOTENCY_HEADER] for r in hook.requests]
    # The firing event once more only for the retried 500, then the resolve: no duplicate.
    assert keys == [FIRING.delivery_key, FIRING.delivery_key, RESOLVED.delivery_key]
    assert sorted(k for k, _ in await _records(opts, topic)) == sorted(
        [FIRING.delivery_key, RESOLVED.delivery_key]
    )


async def test_a_second_worker_sees_what_the_first_published_after_it_started(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    opts = {"bootstrap_servers": kafka_bootstrap}
    topic = await _topic(opts, topic_prefix)
    async with receiver() as hook:
        async with worker(opts, topic, hook) as a, worker(opts, topic, hook) as b:
            assert await a.deliver([FIRING]) == 1
            assert await b.deliver([FIRING, OTHER]) == 1  # caught up before sending
            assert await a.deliver([OTHER]) == 0
    assert sorted(r.headers[IDEMPOTENCY_HEADER] for r in hook.requests) == sorted(
        [FIRING.delivery_key, OTHER.delivery_key]
    )
    assert len(await _records(opts, topic)) == 2


async def test_nothing_is_sent_while_the_topic_cannot_be_read_and_it_is_sent_later(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    opts = {"bootstrap_servers": kafka_bootstrap}
    topic = await _topic(opts, topic_prefix)
    async with receiver() as hook:
        settings = AlertSettings(webhook_urls=(hook.url,))
        webhooks = WebhookSender(settings)
        await webhooks.start()
        log = AlertLog(topic, opts, {})  # not connected yet: what was sent is unknown
        dispatcher = AlertDispatcher(settings, log, webhooks)
        try:
            assert await dispatcher.deliver([FIRING]) == 0
            assert hook.requests == []
            await log.start()
            assert await dispatcher.deliver([]) == 1  # the pending event goes first
        finally:
            await log.stop()
            await webhooks.stop()
    assert [r.headers[IDEMPOTENCY_HEADER] for r in hook.requests] == [FIRING.delivery_key]
    assert [k for k, _ in await _records(opts, topic)] == [FIRING.delivery_key]
