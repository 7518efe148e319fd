"""app: the restored window state frozen out of the garbage collector's full walks.

A full collection walks every tracked object, holding the consume loop meanwhile: at 1,000 brands
over 2 h of demo traffic some 200-240 ms, against 52 ms once the state is frozen
(``tests/bench/bench_scrape.py``). The state forms no reference cycles: its objects are freed by
reference count as buckets expire. ``gc.freeze`` moves every object alive at that moment into a
generation the collector never walks; frozen objects are still freed by reference count, so
expired buckets go as before and memory is unchanged. What is lost is only the collection of
cycles among objects alive at the freeze, until the service stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable

# How often the service looks whether its partitions are restored (nothing frozen until then).
POLL_SECONDS = 0.5


def freeze_state() -> int:
    """Freeze everything alive now out of the collector's walks; how many objects are frozen."""
    gc.freeze()
    return gc.get_freeze_count()


async def freeze_when_restored(restored: Callable[[], bool], stop: asyncio.Event) -> None:
    """Freeze once, when every owned partition is first restored; unfreeze when ``stop`` is set.

    Runs beside the service's other tasks until it stops, as they do (one that ended early
    would stop the service). Unfrozen at the end so the interpreter's exit frees everything
    (compiled extensions such as datasketches' report objects left alive as leaks).
    """
    try:
        while not stop.is_set():
            if restored():
                freeze_state()
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_SECONDS)
        await stop.wait()
    finally:
        gc.unfreeze()
