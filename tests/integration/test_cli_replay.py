"""``socialpulse replay`` through a real broker: each valid line arrives once, keyed by contract."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from builders import encoded, interaction, mention
from socialpulse.kafka.topics import TopicSpec, ensure_topics

pytestmark = pytest.mark.integration

PARTITIONS = 4
T = time.time() - 600


def _settings_env(bootstrap: str, prefix: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SOCIALPULSE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "SOCIALPULSE_KAFKA__MENTIONS_TOPIC": f"{prefix}mentions",
        "SOCIALPULSE_KAFKA__INTERACTIONS_TOPIC": f"{prefix}interactions",
        "SOCIALPULSE_LOG_LEVEL": "WARNING",
    }
    # The embedded broker rejects idempotent producers; Apache Kafka takes them.
    if os.environ.get("SOCIALPULSE_TEST_BROKER") == "kafka":
        env["SOCIALPULSE_KAFKA__ENABLE_IDEMPOTENCE"] = "true"
    return env


def _replay(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "socialpulse.cli", "replay", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _read_all(bootstrap: str, topics: list[str]) -> list[tuple[str, int, Any]]:
    """Every record now in ``topics``: (topic, partition, record)."""
    tps = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    out: list[tuple[str, int, Any]] = []
    try:
        consumer.assign(tps)
        end = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        remaining = {tp for tp in tps if end[tp]}
        while remaining:
            for tp, recs in (await consumer.getmany(timeout_ms=500)).items():
                out += [(tp.topic, tp.partition, r) for r in recs]
                if recs and recs[-1].offset + 1 >= end[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return out


def _topics(bootstrap: str, prefix: str) -> list[str]:
    names = [f"{prefix}mentions", f"{prefix}interactions"]
    spec = TopicSpec(partitions=PARTITIONS)
    asyncio.run(ensure_topics({"bootstrap_servers": bootstrap}, dict.fromkeys(names, spec)))
    return names


def _check_arrived_once_keyed(
    records: list[tuple[str, int, Any]], prefix: str, expected: dict[str, tuple[str, bytes]]
) -> None:
    """``expected``: event id -> (stream, key); each arrives once, at the key's partition."""
    ids = Counter(json.loads(r.value)["event_id"] for _, _, r in records)
    assert ids == Counter(list(expected)), "every valid line once, nothing else"
    partitioner = DefaultPartitioner()
    partitions = list(range(PARTITIONS))
    for topic, partition, r in records:
        doc = json.loads(r.value)
        stream, key = expected[doc["event_id"]]
        assert topic == f"{prefix}{stream}"
        assert r.key == key
        assert partition == partitioner(key, partitions, partitions)
        assert "stream" not in doc


def test_a_jsonl_export_arrives_once_keyed_and_malformed_lines_are_reported(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topics = _topics(kafka_bootstrap, topic_prefix)
    mentions = [mention(T + i, author=f"author-{i % 7}", text="alpha") for i in range(60)]
    interactions = [interaction(T + i, "like", user=f"user-{i % 5}") for i in range(40)]
    lines: list[bytes] = []
    expected: dict[str, tuple[str, bytes]] = {}
    for i, (m, x) in enumerate(zip(mentions, interactions + [None] * 20, strict=True)):
        lines.append(encoded(m))
        expected[m.event_id] = ("mentions", m.author.id.encode())
        if x is not None:
            doc = json.loads(encoded(x))
            if i % 2:
                doc["stream"] = "interaction"
            lines.append(json.dumps(doc).encode())
            expected[x.event_id] = ("interactions", x.user_id.encode())
    bad_at = {10: b"{oops", 25: b'{"event_id": "no-shape"}', 50: b'{"user_id": "v", "type": 1}'}
    for n in sorted(bad_at):
        lines.insert(n - 1, bad_at[n])
    f = tmp_path / "export.jsonl"
    f.write_bytes(b"\n".join(lines) + b"\n")

    done = _replay(_settings_env(kafka_bootstrap, topic_prefix), str(f))

    assert done.returncode == 1, done.stderr
    reported = [line.split(":")[0] for line in done.stderr.splitlines() if line.startswith("line")]
    assert reported == [f"line {n}" for n in sorted(bad_at)]
    assert "mentions             60 sent to" in done.stdout
    assert "interactions         40 sent to" in done.stdout
    assert "malformed             3 not sent" in done.stdout
    _check_arrived_once_keyed(
        asyncio.run(_read_all(kafka_bootstrap, topics)), topic_prefix, expected
    )


def test_a_gzip_csv_export_is_paced_and_arrives_keyed(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topics = _topics(kafka_bootstrap, topic_prefix)
    header = "event_id,platform,created_at,author.id,author.handle,author.followers,text,kind,"
    header += "type,brand,user_id,value.watch_seconds\n"
    rows, expected = [], {}
    for i in range(20):
        m = mention(T + i, author=f"a{i % 3}")
        rows.append(f"{m.event_id},x,{m.created_at.isoformat()},{m.author.id},@x,5,hi,post,,,,")
        expected[m.event_id] = ("mentions", m.author.id.encode())
        x = interaction(T + i, "video_view", user=f"u{i % 4}", watch_seconds=3.5)
        rows.append(f"{x.event_id},x,{x.created_at.isoformat()},,,,,,video_view,a,{x.user_id},3.5")
        expected[x.event_id] = ("interactions", x.user_id.encode())
    f = tmp_path / "export.csv.gz"
    f.write_bytes(gzip.compress((header + "\n".join(rows) + "\n").encode()))
    rate = 50.0

    started = time.monotonic()
    done = _replay(_settings_env(kafka_bootstrap, topic_prefix), str(f), "--rate", str(rate))
    elapsed = time.monotonic() - started

    assert done.returncode == 0, done.stderr
    assert elapsed >= (len(rows) - 1) / rate  # 40 events at 50/s: at least 0.78 s
    records = asyncio.run(_read_all(kafka_bootstrap, topics))
    _check_arrived_once_keyed(records, topic_prefix, expected)
    assert {json.loads(r.value).get("value", {}).get("watch_seconds") for _, _, r in records} == {
        None,
        3.5,
    }


def test_ctrl_c_stops_a_paced_replay_with_what_was_sent_sent_once(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topics = _topics(kafka_bootstrap, topic_prefix)
    events = [mention(T + i, author=f"a{i % 3}") for i in range(200)]
    f = tmp_path / "export.jsonl"
    f.write_bytes(b"\n".join(encoded(m) for m in events) + b"\n")
    proc = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "socialpulse.cli", "replay", str(f), "--rate", "40"],
        env=_settings_env(kafka_bootstrap, topic_prefix),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)  # start-up, then some dozens of events at 40/s
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "replay interrupted after" in err
    records = asyncio.run(_read_all(kafka_bootstrap, topics))
    ids = [json.loads(r.value)["event_id"] for _, _, r in records]
    assert 0 < len(ids) < len(events)
    assert len(set(ids)) == len(ids)
    assert set(ids) == {m.event_id for m in events[: len(ids)]}  # the lines before the stop
