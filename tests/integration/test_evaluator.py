"""The spike detector's reading of the minutes topic: a bad record is skipped and counted.

Any record of the topic may be one no worker wrote (bytes of another producer, counts that do
not add up, a partition the mentions topic lacks). The detector reads the topic from its start
at every start over, so a record that stopped it would stop it forever: it must be skipped,
logged once, counted per reason, and the minutes around it evaluated.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from socialpulse.app.evaluator import Evaluator
from socialpulse.core.anomaly.fleet import (
    BrandMinute,
    Contribution,
    Watermark,
    encode_record,
    record_key,
)
from socialpulse.core.windows.store import WindowStore
from socialpulse.kafka.minutes import minutes_topic_spec
from socialpulse.kafka.topics import TopicSpec, ensure_topics
from socialpulse.settings import Settings

pytestmark = pytest.mark.integration

M0 = 28_800_000  # an epoch minute
MINUTES = 6


async def test_bad_minute_records_are_skipped_and_counted_and_the_detector_goes_on(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    opts = {"bootstrap_servers": kafka_bootstrap}
    settings = Settings(
        kafka={
            "bootstrap_servers": kafka_bootstrap,
            "group_id": f"{topic_prefix}g",
            "mentions_topic": f"{topic_prefix}mentions",
            "topic_partitions": 1,
        },
        brands=[{"id": "a", "name": "A", "terms": ["alpha"]}],
        demo=False,
    )
    mentions, topic = settings.kafka.mentions_topic, settings.kafka.minutes_topic_name
    await ensure_topics(
        opts, {mentions: TopicSpec(partitions=1), topic: minutes_topic_spec(settings.anomaly)}
    )

    def minute(m: int, partition: int = 0, **counts: Any) -> Contribution:
        return Contribution(mentions, partition, m, {"a": BrandMinute(**counts)})

    records: list[tuple[bytes, bytes]] = []
    for m in range(M0, M0 + MINUTES):
        c = minute(m, positive=2, by_platform={"x": 2})
        records.append((record_key(c), encode_record(c)))
        if m == M0 + 1:  # bad records among the good ones
            records += [
                (b"junk", b"\xc1 no msgpack at all"),
                (b"neg", encode_record(minute(m, negative=-1))),
                (b"sum", encode_record(minute(m, positive=2, by_platform={"x": 5}))),
                (b"ghost", encode_record(minute(m, partition=7, positive=1, by_platform={"x": 1}))),
            ]
    w = Watermark(mentions, 0, M0 + MINUTES - 1)
    records.append((record_key(w), encode_record(w)))
    producer = AIOKafkaProducer(**opts)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()

    # Long ago by the clock: every minute is evaluated, none is delivered.
    dispatcher: Any = SimpleNamespace(scores={})
    evaluator = Evaluator(
        settings,
        opts,
        lambda: frozenset({(mentions, 0)}),
        dispatcher,
        WindowStore(settings.brands, settings.window_lengths),
        lambda: (M0 + 100_000) * 60.0,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(evaluator.run(stop))
    try:
        deadline = time.monotonic() + 60
        while evaluator.stats.last_minute != M0 + MINUTES - 1:
            assert time.monotonic() < deadline, f"the detector stalled: {evaluator.stats}"
            assert not task.done()
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
    assert evaluator.restarts == 0
    assert evaluator.stats.minutes == MINUTES
    assert evaluator.rejected == {"undecodable": 1, "invalid": 2, "unknown_partition": 1}
