"""The demo's Kafka driver: paces to its rate, sends malformed records on cadence, never dies."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import msgspec
import pytest
from aiokafka.errors import KafkaTimeoutError, ProducerClosed

from socialpulse.core.events import Interaction, Mention
from socialpulse.demo.driver import run_demo

from .traffic import NOW, SEED, rejection


class FakeClock:
    def __init__(self) -> None:
        self.t = NOW.timestamp()

    def __call__(self) -> float:
        return self.t


class FakeProducer:
    """Records sends; optionally fails some of them, or closes after a number of sends."""

    def __init__(self, *, fail_every: int = 0, close_after: int | None = None) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.fail_every = fail_every
        self.close_after = close_after
        self.calls = 0

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> asyncio.Future[Any]:
        self.calls += 1
        if self.close_after is not None and self.calls > self.close_after:
            raise ProducerClosed()
        if self.fail_every and self.calls % self.fail_every == 0:
            raise KafkaTimeoutError()
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.fail_every and self.calls % self.fail_every == 1:
            fut.set_exception(KafkaTimeoutError())  # delivery fails after a successful send
        else:
            self.sent.append((topic, key, value))
            fut.set_result(None)
        return fut


async def drive(
    producer: FakeProducer, seconds: float, rate: float, **kw: Any
) -> asyncio.Task[None]:
    """Run the driver while a fake clock advances ``seconds`` in 0.1 s steps; returns the task."""
    clock, stop = FakeClock(), asyncio.Event()
    task = asyncio.create_task(
        run_demo(
            producer, "m", "i", rate, clock, random.Random(SEED), stop, tick_seconds=0.001, **kw
        )
    )
    await asyncio.sleep(0.005)  # let the driver read its start time
    for _ in range(round(seconds / 0.1)):
        clock.t += 0.1
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.02)  # let the driver see the final clock reading
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    return task


async def test_run_demo_paces_to_rate_and_stops() -> None:
    producer = FakeProducer()
    await drive(producer, seconds=3.0, rate=200.0, malformed_every=0)
    assert 540 <= len(producer.sent) <= 600  # 200/s x 3 s
    topics = Counter(topic for topic, _, _ in producer.sent)
    assert 0.18 < topics["m"] / len(producer.sent) < 0.32
    for topic, k, v in producer.sent:
        if topic == "m":
            assert k == msgspec.json.decode(v, type=Mention, strict=True).author.id.encode()
        else:
            assert k == msgspec.json.decode(v, type=Interaction, strict=True).user_id.encode()


async def test_run_demo_sends_malformed_at_the_cadence() -> None:
    producer = FakeProducer()
    await drive(producer, seconds=2.0, rate=250.0, malformed_every=50)
    bad = [
        (t, k, v)
        for t, k, v in producer.sent
        if rejection("mentions" if t == "m" else "interactions", v) is not None
    ]
    assert len(producer.sent) >= 450
    assert len(bad) == len(producer.sent) // 50
    assert all(k is None for _, k, _ in bad)
    assert {t for t, _, _ in bad} == {"m", "i"}


async def test_run_demo_survives_failing_records(caplog: pytest.LogCaptureFixture) -> None:
    producer = FakeProducer(fail_every=7)
    await drive(producer, seconds=1.0, rate=200.0)
    assert producer.calls >= 190  # kept going past every failure
    assert 0 < len(producer.sent) < producer.calls
    assert "records failed" in caplog.text


async def test_run_demo_ends_cleanly_when_the_producer_closes() -> None:
    producer = FakeProducer(close_after=30)
    clock, stop = FakeClock(), asyncio.Event()
    task = asyncio.create_task(
        run_demo(producer, "m", "i", 100.0, clock, random.Random(1), stop, tick_seconds=0.001)
    )
    await asyncio.sleep(0.005)
    for _ in range(10):
        clock.t += 0.1
        await asyncio.sleep(0.005)
    await asyncio.wait_for(task, timeout=5)  # returned without stop being set
    assert not stop.is_set()
    assert len(producer.sent) == 30


async def test_run_demo_rejects_a_nonpositive_rate() -> None:
    with pytest.raises(ValueError, match="positive"):
        await run_demo(
            FakeProducer(), "m", "i", 0.0, FakeClock(), random.Random(1), asyncio.Event()
        )
