"""What the state benchmarks share: housekeeping cadence, resident memory, state topic I/O.

State is written to a state topic and restored from it as a worker's checkpoint and assignment
do (``Changelog``). socialpulse is imported inside the functions that use it: ``bench_memory``
runs its cases on older trees too, which need only the cadence and ``rss``.
"""

from __future__ import annotations

import cProfile
import gc
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from socialpulse.core.dedup import Deduplicator
    from socialpulse.core.windows.store import WindowStore
    from socialpulse.core.windows.timeline import Source
    from socialpulse.kafka.changelog import Changelog

# Housekeeping (expiry, roll-up of minutes into hours) every this many simulated minutes; the
# worker runs it every 10 s of wall time, which a backlog read at full speed also stretches over
# many minutes.
EXPIRE_EVERY_MINUTES = 15


def rss() -> int:
    """This process's resident set, in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


@dataclass(frozen=True)
class Written:
    """A checkpoint's write of the whole state: records, bytes, seconds of collect and flush."""

    records: int
    bytes: int
    seconds: float


async def write_state(
    bootstrap: str,
    topic: str,
    partitions: int,
    store: WindowStore,
    dedup: Deduplicator,
    sources: set[Source],
) -> Written:
    """Write ``store`` and ``dedup`` to a new state topic as a worker's first checkpoint does.

    The topic is created with ``partitions``; the writer takes the partitions as an assignment
    does (reading the empty topic first), then collects and flushes every record (timed).
    """
    from aiokafka import AIOKafkaProducer

    from socialpulse.kafka.changelog import MAX_RECORD_BYTES, Changelog, state_topic_spec
    from socialpulse.kafka.topics import ensure_topics

    opts = {"bootstrap_servers": bootstrap}
    await ensure_topics(opts, {topic: state_topic_spec(partitions)})
    producer = AIOKafkaProducer(
        enable_idempotence=False, acks="all", max_request_size=MAX_RECORD_BYTES + 4096, **opts
    )
    await producer.start()
    try:
        writer = Changelog(topic, opts, store, dedup, producer)
        await writer.start()
        await writer.restore(sources, generation=1)  # an assignment: the (empty) topic read
        t0 = time.perf_counter()
        records = writer.collect(sources)
        await writer.flush()
        seconds = time.perf_counter() - t0
    finally:
        await producer.stop()
    return Written(records, writer.stats.bytes_written, seconds)


@dataclass(frozen=True)
class Restored:
    """A restore of every partition: records loaded, wall and CPU seconds, RSS before it."""

    records: int
    seconds: float
    cpu_seconds: float
    rss_before: int


async def restore_state(
    bootstrap: str,
    topic: str,
    store: WindowStore,
    dedup: Deduplicator,
    sources: set[Source],
    kind: type[Changelog] | None = None,
    profile: cProfile.Profile | None = None,
) -> tuple[Changelog, Restored]:
    """Restore ``sources`` from ``topic`` into ``store`` and ``dedup`` as a fresh worker does.

    Through a ``kind`` (``Changelog`` or one that counts what it reads); the restore alone is
    timed, after a garbage collection, and profiled into ``profile`` when given.
    """
    from aiokafka import AIOKafkaProducer

    from socialpulse.kafka.changelog import Changelog

    opts = {"bootstrap_servers": bootstrap}
    producer = AIOKafkaProducer(enable_idempotence=False, **opts)
    await producer.start()
    try:
        reader = (kind or Changelog)(topic, opts, store, dedup, producer)
        await reader.start()
        gc.collect()
        rss0 = rss()
        cpu0, t0 = time.process_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        records = await reader.restore(sources, generation=2)
        if profile is not None:
            profile.disable()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        await producer.stop()
    return reader, Restored(records, seconds, cpu, rss0)
