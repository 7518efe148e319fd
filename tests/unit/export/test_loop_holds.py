"""The loop-hold histogram: a callback that holds the loop shows as one late tick of its length."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry, generate_latest

from socialpulse.export.loop_holds import (
    HOLD_BUCKETS,
    HOLD_METRIC,
    LoopHoldCollector,
    LoopHolds,
    watch_loop,
)


def test_observations_fall_in_the_first_bucket_that_holds_them() -> None:
    holds = LoopHolds()
    for late in (-0.001, 0.0, 0.005, 0.0051, 0.3, 99.0):
        holds.observe(late)
    got = dict(holds.cumulative())
    assert got["0.005"] == 3  # a bound holds itself; an early tick counts as 0
    assert got["0.01"] == 4
    assert got["0.25"] == 4
    assert got["0.5"] == 5
    assert got[str(HOLD_BUCKETS[-1])] == 5
    assert got["+Inf"] == 6
    assert holds.longest == 99.0
    assert abs(holds.total - (0.005 + 0.0051 + 0.3 + 99.0)) < 1e-9


async def test_a_callback_holding_the_loop_is_one_late_tick_of_its_length() -> None:
    holds = LoopHolds()
    stop = asyncio.Event()
    task = asyncio.create_task(watch_loop(holds, stop, tick=0.005))
    await asyncio.sleep(0.05)
    time.sleep(0.15)  # noqa: ASYNC251 - what a long batch does to every other task
    await asyncio.sleep(0.05)
    stop.set()
    await task
    assert 0.12 <= holds.longest < 0.5
    got = dict(holds.cumulative())
    assert got["+Inf"] - got["0.1"] >= 1  # the hold, in a bucket above 0.1 s
    assert got["0.1"] >= 5  # and the ticks around it, on time

    registry = CollectorRegistry()
    registry.register(LoopHoldCollector(holds))
    text = generate_latest(registry).decode()
    assert f'{HOLD_METRIC}_bucket{{le="+Inf"}} {float(got["+Inf"])}' in text
    assert f"{HOLD_METRIC}_count {float(got['+Inf'])}" in text
