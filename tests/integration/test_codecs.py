"""Input in every Kafka codec is read, from aiokafka and from a librdkafka client (kcat).

Always against Apache Kafka: librdkafka clients such as kcat cannot talk to the embedded broker
(its ApiVersions answer), and teams that produce with them run Apache Kafka.

Also: a consumer that cannot read (every poll failing) shows it: the error counted by kind and
logged once, lag from the broker's end offsets growing, readiness failing; and it recovers.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import UnsupportedCodecError

from kafka_group import create_group_topics, group_settings, until
from socialpulse.core.events import Author, Mention
from socialpulse.core.pipeline import Pipeline
from socialpulse.kafka.worker import Worker

pytestmark = pytest.mark.integration

CODECS = ("gzip", "snappy", "lz4", "zstd")
NOW = time.time()
PER_CLIENT = 150


def _mention(tag: str, n: int) -> tuple[bytes, bytes]:
    m = Mention(
        event_id=f"{tag}-{n}",
        platform="x",
        created_at=datetime.fromtimestamp(NOW - 30, tz=UTC),
        author=Author(id=f"{tag}-author-{n}", handle=f"@{tag}{n}", followers=10),
        text="Aurora Coffee, lovely",
        kind="post",
    )
    return m.author.id.encode(), msgspec.json.encode(m)


def _kcat(bootstrap: str, topic: str, codec: str, lines: list[tuple[bytes, bytes]]) -> None:
    kcat = shutil.which("kcat")
    assert kcat, (
        "kcat (Debian package kcat, a librdkafka client) is not on PATH; .ci/run installs it"
    )
    body = b"".join(k + b"\t" + v + b"\n" for k, v in lines)
    done = subprocess.run(  # noqa: S603 - the test's own arguments
        [kcat, "-b", bootstrap, "-t", topic, "-P", "-z", codec, "-K", "\t", "-X", "linger.ms=50"],
        input=body,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()


async def _run(worker: Worker) -> tuple[asyncio.Event, asyncio.Task[None]]:
    await worker.start()
    stop = asyncio.Event()
    return stop, asyncio.create_task(worker.run(stop))


@pytest.mark.parametrize("codec", CODECS)
async def test_every_codec_is_read_and_written(
    apache_kafka_bootstrap: str, topic_prefix: str, codec: str
) -> None:
    settings = group_settings(
        apache_kafka_bootstrap, topic_prefix, kafka={"compression_type": codec}
    )
    await create_group_topics(settings, 2)
    topic = settings.kafka.mentions_topic
    producer = AIOKafkaProducer(
        bootstrap_servers=apache_kafka_bootstrap, enable_idempotence=False, compression_type=codec
    )
    await producer.start()
    try:
        for n in range(PER_CLIENT):
            key, value = _mention("aio", n)
            await producer.send(topic, value, key=key)
        await producer.send(topic, b"{not json", key=b"bad")  # dead-lettered, in the codec
        await producer.flush()
    finally:
        await producer.stop()
    _kcat(apache_kafka_bootstrap, topic, codec, [_mention("rdkafka", n) for n in range(PER_CLIENT)])

    pipeline = Pipeline(settings)
    worker = Worker(settings, pipeline, apache_kafka_bootstrap, lambda: NOW)
    stop, task = await _run(worker)
    try:
        await until(lambda: pipeline.stats.processed["mentions"] >= 2 * PER_CLIENT + 1)
        await until(lambda: not worker.stats.uncommitted and worker.stats.dead_lettered == 1)
    finally:
        stop.set()
        await task
        await worker.stop()
    assert pipeline.store.snapshot(NOW)["aurora"]["5m"].mentions == 2 * PER_CLIENT
    assert sum(worker.stats.errors.values()) == 0

    # The dead letter went out in the configured codec and reads back whole.
    reader = AIOKafkaConsumer(
        bootstrap_servers=apache_kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await reader.start()
    try:
        tps = [TopicPartition(settings.kafka.dlq_topic, p) for p in range(2)]
        reader.assign(tps)
        got: list[bytes] = []
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            for recs in (await reader.getmany(timeout_ms=500)).values():
                got += [r.value for r in recs]
    finally:
        await reader.stop()
    assert got == [b"{not json"]


async def test_a_consumer_that_cannot_read_says_so_and_recovers(
    apache_kafka_bootstrap: str,
    topic_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = group_settings(apache_kafka_bootstrap, topic_prefix, consumer_error_grace_seconds=1)
    await create_group_topics(settings, 2)
    pipeline = Pipeline(settings)
    worker = Worker(settings, pipeline, apache_kafka_bootstrap, lambda: NOW)
    real_getmany = worker._consumer.getmany
    broken = True

    async def getmany(*args: Any, **kwargs: Any) -> Any:
        if broken:  # what aiokafka raises for records in a codec it has no library for
            await asyncio.sleep(0.05)
            raise UnsupportedCodecError("Libraries for lz4 compression codec not found")
        return await real_getmany(*args, **kwargs)

    monkeypatch.setattr(worker._consumer, "getmany", getmany)
    _kcat(
        apache_kafka_bootstrap,
        settings.kafka.mentions_topic,
        "lz4",
        [_mention("x", n) for n in range(40)],
    )
    caplog.set_level(logging.INFO, logger="socialpulse.kafka.worker")
    stop, task = await _run(worker)
    try:
        await until(lambda: worker.stats.ready)  # in the group, partitions restored
        await until(lambda: sum(worker.stats.lag.values()) == 40)
        await until(lambda: worker.stats.errors["codec"] >= 3)
        await asyncio.sleep(1.2)
        assert not worker.stats.consuming(time.monotonic(), 1.0)
        assert pipeline.stats.processed["mentions"] == 0
        said = [r for r in caplog.records if "cannot read its partitions" in r.getMessage()]
        assert len(said) == 1, "a permanent error is logged once, not every second"
        assert "codec" in said[0].getMessage()

        broken = False
        await until(lambda: pipeline.stats.processed["mentions"] == 40)
        await until(lambda: sum(worker.stats.lag.values()) == 0)
        assert worker.stats.failing_since is None
        assert worker.stats.consuming(time.monotonic(), 1.0)
    finally:
        stop.set()
        await task
        await worker.stop()
    assert any("reads again" in r.getMessage() for r in caplog.records)
