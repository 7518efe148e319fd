"""How long the event loop was held: a task that wakes every few milliseconds, and its histogram.

Everything the service does shares one loop: a batch being folded, a checkpoint collecting its
state or a scrape being prepared delays every other task, a scrape's answer included. A tick
that wakes late by ``d`` seconds saw the loop held for about ``d`` (to within one tick), so the
histogram of those delays shows how long the loop is held and how often, at the cost of
``1 / TICK_SECONDS`` wake-ups a second.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

TICK_SECONDS: Final = 0.01
# Upper bounds (seconds) of the histogram's buckets; 0.05 s is the hold the service aims under.
HOLD_BUCKETS: Final[tuple[float, ...]] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
HOLD_METRIC: Final = "socialpulse_event_loop_hold_seconds"


@dataclass(slots=True)
class LoopHolds:
    """Ticks by how late they woke: one count per bucket (the last for beyond every bound)."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(HOLD_BUCKETS) + 1))
    total: float = 0.0
    longest: float = 0.0

    def observe(self, late: float) -> None:
        """Count one tick that woke ``late`` seconds after it was due (early counts as 0)."""
        late = max(0.0, late)
        self.counts[bisect.bisect_left(HOLD_BUCKETS, late)] += 1
        self.total += late
        self.longest = max(self.longest, late)

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, ticks at most that late) in Prometheus' form, ending with ``+Inf``."""
        out, running = [], 0
        for bound, n in zip((*map(str, HOLD_BUCKETS), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


async def watch_loop(holds: LoopHolds, stop: asyncio.Event, tick: float = TICK_SECONDS) -> None:
    """Sleep ``tick`` at a time until ``stop``, noting how late each wake-up came."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        asleep = loop.time()
        await asyncio.sleep(tick)
        holds.observe(loop.time() - asleep - tick)


class LoopHoldCollector(Collector):
    """Exports ``LoopHolds`` at scrape time as ``socialpulse_event_loop_hold_seconds``."""

    def __init__(self, holds: LoopHolds) -> None:
        self._holds = holds

    def collect(self) -> Iterator[Metric]:
        """The histogram as the ticks left it at this scrape."""
        family = HistogramMetricFamily(
            HOLD_METRIC,
            f"How late a task waking every {TICK_SECONDS:g} s woke: the time the event loop was "
            "held by other work (batches, checkpoints, scrapes), to within one tick",
        )
        family.add_metric([], self._holds.cumulative(), sum_value=self._holds.total)
        yield family
