"""The service's campaign alerts: only the owner of mentions partition 0 sends them."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

import pytest

from builders import ALPHA_BETA, encoded, mention, off
from socialpulse.app import service
from socialpulse.core.alerts.event import AlertEvent
from socialpulse.core.pipeline import Pipeline
from socialpulse.settings import Settings

NOW = 1_800_000_000.0
CAMPAIGN = "alpha gave me a free gift card for testing the new phone, claim yours at the link"


class Dispatcher:
    """Keeps what it is asked to deliver."""

    def __init__(self) -> None:
        self.events: list[AlertEvent] = []

    async def deliver(self, events: Sequence[AlertEvent]) -> int:
        self.events += events
        return len(events)


def _pipeline(**trends: Any) -> Pipeline:
    p = Pipeline(Settings(brands=ALPHA_BETA, trends=trends))
    rng = random.Random(3)
    for n in range(40):
        words = CAMPAIGN.split()
        words.insert(rng.randrange(len(words)), rng.choice(["wow", "omg", "pls"]))
        m = mention(NOW - 1800 + n, f"new{n % 20}", 2, text=" ".join(words))
        p.process("mentions", encoded(m), ("mentions", 0), NOW, off())
    return p


async def _sent(p: Pipeline, partition: int) -> list[str]:
    """The signals of the events sent in a few rounds by a worker owning ``partition``."""
    owned = frozenset({(p.signals.settings.kafka.mentions_topic, partition)})
    dispatcher = Dispatcher()
    stop = asyncio.Event()
    task = asyncio.create_task(
        service._campaign_alerts(p.signals.settings, p, dispatcher, lambda: owned, stop)  # type: ignore[arg-type]
    )
    await asyncio.sleep(0.1)
    stop.set()
    await task
    return [e.signal for e in dispatcher.events]


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "CAMPAIGN_EVERY_SECONDS", 0.01)


async def test_the_owner_of_partition_0_sends_once_it_read_the_fleet() -> None:
    p = _pipeline()
    assert await _sent(p, 0) == []  # the trends topic not read yet
    p.signals.new_fleet()
    assert await _sent(p, 0) == ["copy_paste_campaign"]
    assert p.signals.campaign_lead


async def test_another_worker_sends_nothing_and_exports_no_campaign() -> None:
    p = _pipeline()
    p.signals.new_fleet()
    assert await _sent(p, 1) == []
    assert not p.signals.campaign_lead


async def test_without_trends_every_worker_sends_its_own() -> None:
    assert await _sent(_pipeline(enabled=False), 1) == ["copy_paste_campaign"]
