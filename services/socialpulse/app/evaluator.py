"""The fleet's one spike detector: run by whichever worker owns mentions partition 0.

That worker reads the minutes topic from its start, assembles complete fleet-wide minutes
(``MinuteAssembler``) and feeds them to a fresh ``Detector``: the topic's history rebuilds the
baselines, open incidents and cooldowns exactly as they were, so nothing else needs
persisting. Transitions found while reading history are delivered only when their minute is
recent (``alerts.max_delay_minutes``); the dispatcher skips those the alerts topic already
holds, so a restart in the middle of an incident sends nothing again. Those older minutes are
stepped without scores, which reads only the signals a decision needs (the same state, a
fraction of the cost: the README's Restarts and warm-up). When the worker loses
partition 0 it stops, and the new owner starts over from the topic.

Once the history is read, a partition that has published nothing for
``anomaly.max_wait_minutes`` (its owner gone, the partition held) is left out of the minutes
the others have closed, so one stuck partition delays the detector by at most that much. A
partition still working through a backlog publishes watermarks as it goes, and is waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiokafka.errors import KafkaError

from socialpulse.app.alerting import AlertDispatcher
from socialpulse.core.alerts.samples import SampleReservoir
from socialpulse.core.anomaly.counts import MinuteCounts
from socialpulse.core.anomaly.detector import Detector
from socialpulse.core.anomaly.fleet import MINUTE_REJECTS, MinuteAssembler, MinuteReject, Samples
from socialpulse.core.clock import Clock
from socialpulse.core.trends import Trend
from socialpulse.core.windows.store import WindowStore
from socialpulse.core.windows.timeline import Source
from socialpulse.kafka.errors import stray_cancels_as_errors
from socialpulse.kafka.minutes import MinuteReader
from socialpulse.kafka.topics import describe_topics
from socialpulse.settings import Settings

log = logging.getLogger(__name__)

# How often ownership of mentions partition 0 is checked while not evaluating.
OWNERSHIP_POLL_SECONDS: Final = 0.5
RETRY_SECONDS: Final = 2.0
# Minutes evaluated between turns of the event loop while a history is read back.
YIELD_EVERY_MINUTES: Final = 20

Trends = Callable[[str, float], Sequence[Trend]]


@dataclass(slots=True)
class EvaluatorStats:
    """What the evaluator did; exported as gauges and counters."""

    active: bool = False
    minutes: int = 0  # minutes evaluated
    incomplete: int = 0  # of them, evaluated without every partition's report
    last_minute: int | None = None  # the last minute evaluated
    too_late: int = 0  # transitions not sent: older than alerts.max_delay_minutes
    replayed: bool = False  # the minutes topic was read to its end since becoming active


class Evaluator:
    """Runs the detector on fleet-wide minutes while this worker owns mentions partition 0."""

    def __init__(
        self,
        settings: Settings,
        client_options: dict[str, Any],
        owned: Callable[[], frozenset[Source]],
        dispatcher: AlertDispatcher,
        store: WindowStore,
        clock: Clock,
        trends: Trends | None = None,
    ) -> None:
        """``store``: this worker's, whose join view gives the fleet's top authors."""
        self._s = settings
        self._opts = client_options
        self._owned = owned
        self._dispatcher = dispatcher
        self._store = store
        # Every partition's samples, as the minutes topic brings them.
        self._samples = _fleet_samples(settings)
        self._clock = clock
        self._trends = trends
        self._lead = (settings.kafka.mentions_topic, 0)
        self.stats = EvaluatorStats()
        # Minutes-topic records skipped since start, per reason: one bad record never stops
        # the detector (it would meet it again at every start over).
        self.rejected: dict[MinuteReject, int] = dict.fromkeys(MINUTE_REJECTS, 0)
        self.restarts = 0  # sessions ended by an error

    async def run(self, stop: asyncio.Event) -> None:
        """Evaluate whenever this worker owns the lead partition, until ``stop``."""
        while not stop.is_set():
            if self._lead not in self._owned():
                await _wait(stop, OWNERSHIP_POLL_SECONDS)
                continue
            try:
                with stray_cancels_as_errors():
                    await self._session(stop)
            # ValueError: a defect, not a record (records are checked as they are read).
            except (KafkaError, OSError, RuntimeError, ValueError) as e:
                self.restarts += 1
                log.error("spike detector stopped (%r); starting over in %.0f s", e, RETRY_SECONDS)
                await _wait(stop, RETRY_SECONDS)
            finally:
                self.stats.active = False
                self._dispatcher.scores = {}

    async def _session(self, stop: asyncio.Event) -> None:
        """From the start of the minutes topic, while the lead partition stays ours."""
        kafka = self._s.kafka
        reader = MinuteReader(kafka.minutes_topic_name, self._opts, self.rejected)
        await reader.start()
        try:
            found = (await describe_topics(self._opts, [kafka.mentions_topic], ())).get(
                kafka.mentions_topic
            )
            if found is None or not found.partitions:
                raise RuntimeError(f"the mentions topic {kafka.mentions_topic!r} has no partitions")
            partitions = range(found.partitions)
            brands = self._s.brands
            detector = Detector(self._s.anomaly, (b.id for b in brands))
            assembler = MinuteAssembler(((kafka.mentions_topic, p) for p in partitions), brands)
            # Monotonic time each partition was last heard from, once the history is read.
            heard: dict[Source, float] = {}
            max_wait = self._s.anomaly.max_wait_minutes * 60
            self.stats = EvaluatorStats(active=True)
            self._samples = _fleet_samples(self._s)
            log.info(
                "spike detector starts: reading %s from its start (%d mentions partitions)",
                reader.topic,
                len(partitions),
            )
            while not stop.is_set() and self._lead in self._owned():
                records = await reader.read()
                now = time.monotonic()
                for offset, r in records:
                    if (r.topic, r.partition) not in assembler.sources:
                        reader.reject("unknown_partition", offset, f"{r.topic}[{r.partition}]")
                        continue
                    if isinstance(r, Samples):
                        for brand, posts in r.brands.items():
                            for post in posts:
                                self._samples.keep(brand, post)
                    assembler.feed(r)
                    heard[(r.topic, r.partition)] = now
                # History holds no clock: only live, a partition can be silent for too long.
                silent = (
                    [s for s in assembler.sources if now - heard.get(s, now) > max_wait]
                    if self.stats.replayed
                    else []
                )
                for i, minutes in enumerate(assembler.complete(silent)):
                    await self._evaluate(detector, minutes)
                    if i % YIELD_EVERY_MINUTES == YIELD_EVERY_MINUTES - 1:
                        await asyncio.sleep(0)  # heartbeats and batches go on during a history
                self.stats.incomplete = assembler.incomplete
                if not self.stats.replayed and not records and await reader.behind() == 0:
                    self.stats.replayed = True
                    heard = dict.fromkeys(assembler.sources, now)  # each gets max_wait from now
                    log.info(
                        "spike detector read its history: %d minutes, evaluating live",
                        self.stats.minutes,
                    )
                await asyncio.sleep(0)  # a long history must not starve the consume loop
        finally:
            await reader.stop()

    async def _evaluate(self, detector: Detector, minutes: list[MinuteCounts]) -> None:
        """Step the detector; send what it found unless the minute is too old to matter.

        A minute too old to send is stepped without scores: nothing exports them, and the
        detector then scores only what its state and transitions need (about half the cost
        of a history read back at start-up, the same state).
        """
        minute = minutes[0].minute
        self.stats.minutes += 1
        self.stats.last_minute = minute
        now_minute = int(self._clock() // 60)
        if now_minute - minute > self._s.alerts.max_delay_minutes:
            evaluation = detector.step(minute, minutes, scores=False)
            self.stats.too_late += len(evaluation.transitions)
            return
        evaluation = detector.step(minute, minutes)
        await self._dispatcher.on_evaluation(
            evaluation, detector, self._store, self._samples, self._trends
        )


def _fleet_samples(s: Settings) -> SampleReservoir:
    return SampleReservoir(
        s.alerts.samples_per_minute, s.alerts.sample_text_chars, s.anomaly.window_minutes
    )


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
