"""The restored state frozen out of the garbage collector's walks, once, until the service stops."""

from __future__ import annotations

import asyncio
import gc
import weakref

from socialpulse.app.collection import freeze_state, freeze_when_restored


class _Bucket:
    """A stand-in for window state: a tracked container freed by reference count."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {"mentions": 1}


def test_frozen_objects_leave_the_walks_and_still_go_by_reference_count() -> None:
    try:
        state = [_Bucket() for _ in range(1000)]
        before = gc.get_freeze_count()
        assert freeze_state() >= before + len(state)
        young = {id(o) for g in range(3) for o in gc.get_objects(generation=g)}
        assert not any(id(b) in young for b in state)
        gone = weakref.ref(state[0])
        del state[0]
        assert gone() is None  # expired buckets are freed as before
    finally:
        gc.unfreeze()


async def test_freezes_once_restored_and_runs_until_stopped() -> None:
    restored = False
    stop = asyncio.Event()
    try:
        task = asyncio.create_task(freeze_when_restored(lambda: restored, stop))
        await asyncio.sleep(0.05)
        assert gc.get_freeze_count() == 0
        restored = True
        for _ in range(40):
            if gc.get_freeze_count():
                break
            await asyncio.sleep(0.05)
        assert gc.get_freeze_count() > 0
        assert not task.done()  # a task of the service that ended would stop it
        stop.set()
        await asyncio.wait_for(task, 1)
        assert gc.get_freeze_count() == 0  # the exit frees every object again
    finally:
        gc.unfreeze()
