"""export: Prometheus metrics read from the window store and counters at scrape time.

Nothing here runs per event: a custom collector turns the current state into metric families when
Prometheus scrapes, so the hot path never touches prometheus-client. Labels come only from bounded
sets: configured brands and windows, platforms, mention kinds, sentiment classes, interaction
types, share-of-voice bases, reject reasons, topics and partitions. Ratios of exported parts are
not exported (``Kpi.exported``: the recording rules divide the parts summed over workers); one
that is (customer lifetime value) is left out while its denominator is zero, never NaN or 0.

At a thousand brands a scrape is a lot of work (some 240,000 samples), and the consume loop must
not wait for it: ``KpiCollector.prepared`` reads the window state and writes each brand's sample
lines on the event loop a few brands at a time, yielding between slices (an unchanged brand's are
kept from the last scrape), and the body is joined, in chunks, on another thread. The sample
lines of the KPI families and of the per-brand signals families are written directly, in the
form prometheus-client's encoders give them (labels sorted, values by its ``floatToGoString``),
which costs a fifth of building ``Metric`` objects for it to encode; their HELP and TYPE lines
and every other family still go through the encoder the scrape asked for (text 0.0.4 or
OpenMetrics).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final, cast

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString as _untyped_go

from socialpulse import __version__
from socialpulse.core.catalogue import EXPORTED_KPIS, KPIS
from socialpulse.core.clock import Clock
from socialpulse.core.kpis import WindowKpis, kpi_value
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.signals import Signals
from socialpulse.core.windows.store import WindowStore, brand_share_of_voice
from socialpulse.core.windows.timeline import bucket_of
from socialpulse.kafka.changelog import StateStats
from socialpulse.kafka.joins import JoinStats
from socialpulse.kafka.worker import ConsumerStats

# The longest the event loop is held at a time while a scrape reads the window state.
SLICE_SECONDS: Final = 0.01
# Loop turns given to other tasks between slices. A callback made ready during a slice (a
# timer's, an I/O event's) runs in the first turn and wakes its task, whose step runs in the
# second; the third turn is where the next slice starts. With one turn, a task woken during a
# slice waited for two more.
YIELD_TURNS: Final = 3
# How much of the body a chunk holds: joined a chunk at a time on the writer's thread, so the
# interpreter can pass to the loop between joins (one join of the whole 16 MiB held it ~12 ms).
CHUNK_BYTES: Final = 256 * 1024

Snapshot = dict[str, dict[str, WindowKpis]]
# A prometheus-client encoder (``generate_latest`` of either format): registry -> bytes.
Encoder = Callable[[Collector], bytes]
# Writes a scrape's body, in chunks, with the encoder asked for, from the state prepared for it.
Writer = Callable[[Encoder], list[bytes]]


# (store epoch, brand version, minute of ``now``): equal keys, equal brand snapshot.
_Key = tuple[int, int, int]


class BrandCache:
    """Each brand's last snapshot and its sample lines, kept while the brand is unchanged.

    A brand's KPIs change only when its buckets do or the minute of ``now`` does
    (``WindowStore.version``), so a scrape recomputes only the brands touched since the last one;
    its lines are written again only when it or a competitor (share of voice) changed.
    """

    def __init__(self) -> None:
        self.snapshots: dict[str, tuple[_Key, dict[str, WindowKpis]]] = {}
        self.lines: dict[str, tuple[tuple[_Key, ...], list[bytes]]] = {}
        self.keys: dict[str, _Key] = {}


async def yield_turn() -> None:
    """Let the tasks woken during a slice run before the next slice (``YIELD_TURNS``)."""
    for _ in range(YIELD_TURNS):
        await asyncio.sleep(0)


class Slices:
    """Work on the event loop in slices: ``await slices.check()`` after each piece of it."""

    def __init__(self) -> None:
        self._until = time.perf_counter() + SLICE_SECONDS

    async def check(self) -> None:
        """Give other tasks their turns if this slice has lasted ``SLICE_SECONDS``."""
        if time.perf_counter() >= self._until:
            await yield_turn()
            self._until = time.perf_counter() + SLICE_SECONDS


async def sliced_snapshot(
    store: WindowStore, now: float, cache: BrandCache | None = None, slices: Slices | None = None
) -> Snapshot:
    """``store.snapshot(now)`` read brand by brand, letting other tasks run every slice.

    Each brand's windows are read at once; events applied between slices show in the brands
    read after them, so brands of one scrape may differ by the events of a second or so. With
    ``cache``, brands unchanged since the last call are not read again. ``slices``: the slice
    the caller's work is in (else one starts here).
    """
    per_brand: Snapshot = {}
    minute = bucket_of(now)
    slices = slices or Slices()
    for brand in list(store.brands):
        if cache is None:
            per_brand[brand] = store.brand_snapshot(brand, now)
        else:
            epoch, version = store.version(brand)
            key = (epoch, version, minute)
            hit = cache.snapshots.get(brand)
            if hit is None or hit[0] != key:
                hit = (key, store.brand_snapshot(brand, now))
                cache.snapshots[brand] = hit
            per_brand[brand] = hit[1]
            cache.keys[brand] = key
        await slices.check()
    out: Snapshot = {}
    for brand in per_brand:  # share of voice, also in slices (1,000 brands: ~25 ms in one go)
        out[brand] = brand_share_of_voice(brand, per_brand, store.brands)
        await slices.check()
    return out


async def sliced_signal_lines(
    signals: Signals, slices: Slices | None = None
) -> tuple[list[bytes], list[bytes]]:
    """The signals families' sample lines (filtered, campaigns), a brand at a time in slices.

    At 1,000 brands some 6,000 samples: built as ``Metric`` objects on the loop and encoded on
    the writer's thread they held the loop 25 ms and the interpreter 40-70 ms.
    """
    live = dict.fromkeys(signals.filtered, 0)
    for c in signals.campaigns() if signals.campaign_lead else ():
        live[c.brand] += 1
    filtered: list[bytes] = []
    campaigns: list[bytes] = []
    slices = slices or Slices()
    for brand, n in live.items():
        b = f'brand="{_label(brand)}"'
        reasons = signals.filtered.get(brand, {})
        filtered.append(
            "".join(
                f"{_FILTERED}_total{{{b},{_label_pair('reason', r)}}} {_go(k)}\n"
                for r, k in reasons.items()
            ).encode()
        )
        campaigns.append(f"{_CAMPAIGNS}{{{b}}} {_go(n)}\n".encode())
        await slices.check()
    return filtered, campaigns


@dataclass(frozen=True, slots=True)
class _Prepared:
    """The window state a scrape read on the event loop, for writing out on another thread."""

    snapshot: Snapshot
    buckets: int
    dedup_ids: int
    # Each brand's sample lines, one piece per exported KPI (empty when not prepared).
    lines: tuple[list[bytes], ...] = ()
    # The signals families' sample lines, a piece per brand (``sliced_signal_lines``).
    signals: tuple[list[bytes], list[bytes]] = ([], [])
    # Every other family, built on the loop: their sources (the pipeline's and the consumer's
    # counters) change while the body is written.
    others: tuple[Metric, ...] = ()


class KpiCollector(Collector):
    """Exports every brand's window KPIs and the pipeline's counters when scraped."""

    def __init__(self, pipeline: Pipeline, clock: Clock, consumer: ConsumerStats | None = None):
        self._pipeline = pipeline
        self._clock = clock
        self._consumer = consumer
        self._prepared: _Prepared | None = None
        self._registry: CollectorRegistry | None = None
        self._cache = BrandCache()
        # The last scrape's snapshot and when (monotonic) it was read.
        self._last: tuple[float, Snapshot] | None = None

    @asynccontextmanager
    async def prepared(self) -> AsyncIterator[Writer]:
        """A writer of the scrape's body from a copy of the window state read in slices.

        Everything the body holds is read on the loop (the KPI lines a slice at a time, the
        other families at once), so the writer may run on another thread while events are
        applied. Scrapes must not overlap (the HTTP handler holds a lock).
        """
        store = self._pipeline.store
        # A full collection walks the whole window state (200 ms at 1,000 brands) holding the
        # loop; a scrape's allocations set off several. Its garbage is freed by reference count,
        # so collections wait until it is written (process-wide: the consumer's too, ~1 s).
        collecting = gc.isenabled()
        gc.disable()
        try:
            # One run of slices throughout: each step starting its own let two slices' work
            # pile up where one ended and the next began.
            slices = Slices()
            snapshot = await sliced_snapshot(store, self._clock(), self._cache, slices)
            self._last = (time.monotonic(), snapshot)
            lines = await self._sliced_lines(snapshot, slices)
            signals = await sliced_signal_lines(self._pipeline.signals, slices)
            counts = _Prepared(snapshot, store.bucket_count(), self._pipeline.dedup.ids_held())
            self._prepared = counts
            # The KPI families are written from ``lines``: ``collect`` must not build them
            # again to be dropped (at 1,000 brands that was most of a scrape).
            token = _OTHERS_ONLY.set(True)
            try:
                others = tuple(_Without(self._registry, self).collect())
            finally:
                _OTHERS_ONLY.reset(token)
            self._prepared = _Prepared(
                snapshot, counts.buckets, counts.dedup_ids, lines, signals, others
            )
            yield self._write
        finally:
            self._prepared = None
            if collecting:
                gc.enable()

    def recent(self, max_age: float) -> Snapshot | None:
        """The last prepared scrape's snapshot if it was read at most ``max_age`` seconds ago."""
        last = self._last
        if last is None or time.monotonic() - last[0] > max_age:
            return None
        return last[1]

    def _write(self, encoder: Encoder) -> list[bytes]:
        """The KPI and signals families written directly, then the others through ``encoder``."""
        prepared = self._prepared
        assert prepared is not None  # noqa: S101 - only handed out by ``prepared``
        pieces = _pieces(prepared.lines, prepared.signals, _headers(encoder))
        return _chunks(itertools.chain(pieces, (encoder(_Families(prepared.others)),)))

    async def _sliced_lines(self, snapshot: Snapshot, slices: Slices) -> tuple[list[bytes], ...]:
        """Every brand's sample lines, written on the loop a slice at a time.

        On the loop rather than the writer's thread: the two would take turns holding the
        interpreter anyway, and a thread gets it back only every switch interval, which held
        the consume loop longer than slices do.
        """
        out: list[list[bytes]] = []
        for brand, per_window in snapshot.items():
            out.append(self._brand_lines(brand, per_window))
            await slices.check()
        return tuple(out)

    def _brand_lines(self, brand: str, per_window: dict[str, WindowKpis]) -> list[bytes]:
        """The brand's sample lines per KPI, written again only when it or a rival changed."""
        cache = self._cache
        rivals = self._pipeline.store.brands[brand].competitors
        keys = cache.keys
        key = (keys.get(brand, (-1, -1, -1)), *(keys.get(r, (-1, -1, -1)) for r in rivals))
        hit = cache.lines.get(brand)
        if hit is None or hit[0] != key or key[0][0] < 0:
            hit = (key, _brand_lines(brand, per_window))
            cache.lines[brand] = hit
        return hit[1]

    def collect(self) -> Iterator[Metric]:
        """Build metric families from the prepared copy, else from the state as it is now."""
        if not _OTHERS_ONLY.get():
            yield from self._window_metrics(self._current())
            yield from _signal_metrics(self._pipeline.signals)
        yield from self._others()

    def _current(self) -> _Prepared:
        prepared = self._prepared
        if prepared is None:
            store = self._pipeline.store
            prepared = _Prepared(
                store.snapshot(self._clock()), store.bucket_count(), self._pipeline.dedup.ids_held()
            )
        return prepared

    def _others(self) -> Iterator[Metric]:
        """Everything but the KPI families."""
        prepared = self._current()
        yield _buckets(prepared.buckets)
        yield from self._counters(prepared)
        if self._consumer is not None:
            yield from self._consumer_metrics(self._consumer)

    def _window_metrics(self, prepared: _Prepared) -> Iterator[Metric]:
        """One gauge family per catalogue KPI, labelled brand and window (and its own label)."""
        snapshot = prepared.snapshot
        families = _kpi_families()
        for brand, per_window in snapshot.items():
            for window, k in per_window.items():
                key = [brand, window]
                for kpi, family in zip(EXPORTED_KPIS, families, strict=True):
                    value = kpi_value(k, kpi)
                    if kpi.label is None:
                        if value is not None:
                            family.add_metric(key, value)
                        continue
                    for label, v in value.items():
                        if v is not None:
                            family.add_metric([*key, label], v)
        yield from families

    def _counters(self, prepared: _Prepared) -> Iterator[Metric]:
        stats = self._pipeline.stats
        processed = CounterMetricFamily(
            "socialpulse_events_processed",
            "Records read from the input topics (rate() gives throughput)",
            labels=["stream"],
        )
        for stream, n in stats.processed.items():
            processed.add_metric([stream], n)
        rejected = CounterMetricFamily(
            "socialpulse_events_rejected",
            "Records sent to the dead-letter topic, by reason",
            labels=["reason"],
        )
        for reason, n in stats.rejected.items():
            rejected.add_metric([reason], n)
        untracked = CounterMetricFamily(
            "socialpulse_interactions_untracked",
            "Valid interactions about a brand that is not configured (counted, not stored)",
        )
        untracked.add_metric([], stats.untracked_brand)
        unmatched = CounterMetricFamily(
            "socialpulse_mentions_unmatched", "Valid mentions that matched no tracked brand"
        )
        unmatched.add_metric([], stats.unmatched_mentions)
        matches = CounterMetricFamily(
            "socialpulse_brand_matches",
            "Brand matches of valid mentions (one mention may match several)",
        )
        matches.add_metric([], stats.brand_matches)
        duplicates = CounterMetricFamily(
            "socialpulse_events_duplicate",
            "Valid events skipped because their event id was already counted in the partition",
        )
        duplicates.add_metric([], stats.duplicates)
        dedup = GaugeMetricFamily(
            "socialpulse_dedup_ids", "Event ids remembered for duplicate detection"
        )
        dedup.add_metric([], prepared.dedup_ids)
        spilled = GaugeMetricFamily(
            "socialpulse_dedup_ids_spilled",
            "Of those, ids held in the spill files on local disk (dedup_spill)",
        )
        spilled.add_metric([], self._pipeline.dedup.ids_cold())
        refused = CounterMetricFamily(
            "socialpulse_dedup_spill_failures",
            "Moves of dedup ids to the spill files the disk refused (the ids stay in memory)",
        )
        refused.add_metric([], self._pipeline.dedup.spill_failures)
        info = GaugeMetricFamily("socialpulse_build_info", "Build information", labels=["version"])
        info.add_metric([__version__], 1)
        yield from (processed, rejected, untracked, unmatched, matches, duplicates, dedup)
        yield from (spilled, refused, info)

    def _consumer_metrics(self, c: ConsumerStats) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "socialpulse_consumer_lag_records",
            "Records between the consumer position and the high watermark",
            labels=["topic", "partition"],
        )
        for (topic, partition), n in sorted({**c.lag, **c.joins.lag}.items()):
            lag.add_metric([topic, str(partition)], n)
        batches = CounterMetricFamily("socialpulse_batches", "Batches processed")
        batches.add_metric([], c.batches)
        busy = CounterMetricFamily(
            "socialpulse_batch_processing_seconds",
            "Time spent processing batches (rate() gives the busy fraction)",
        )
        busy.add_metric([], c.batch_seconds)
        commits = CounterMetricFamily("socialpulse_offset_commits", "Consumer offset commits")
        commits.add_metric([], c.commits)
        refused = CounterMetricFamily(
            "socialpulse_offset_commits_refused",
            "Commits the group refused because its partitions had moved to another member",
        )
        refused.add_metric([], c.commits_refused)
        dlq = CounterMetricFamily(
            "socialpulse_dead_letters_produced", "Records acknowledged by the dead-letter topic"
        )
        dlq.add_metric([], c.dead_lettered)
        dlq_refused = CounterMetricFamily(
            "socialpulse_dead_letter_refusals",
            "Dead letters the dead-letter topic refused for good, by kind: too_large ones were "
            "sent truncated, the others hold their partition back",
            labels=["kind"],
        )
        for kind, n in c.dead_letter_refusals.items():
            dlq_refused.add_metric([kind], n)
        held = GaugeMetricFamily(
            "socialpulse_dead_letter_held_partitions",
            "Partitions paused at a dead letter the dead-letter topic refuses",
        )
        held.add_metric([], c.held_partitions)
        since = GaugeMetricFamily(
            "socialpulse_seconds_since_last_commit",
            "Seconds the partition's handled records have waited for an offset commit "
            "(0 when all are committed)",
            labels=["topic", "partition"],
        )
        for (topic, partition), age in c.seconds_since_commit(time.monotonic()).items():
            since.add_metric([topic, str(partition)], age)
        ready = GaugeMetricFamily(
            "socialpulse_ready",
            "1 when the worker is in its group and every owned partition is restored and read",
        )
        ready.add_metric([], 1 if c.ready else 0)
        errors = CounterMetricFamily(
            "socialpulse_consumer_errors",
            "Kafka client errors of the consume loop, by kind (codec, authentication, "
            "authorization, corrupt_record, connection, timeout, other)",
            labels=["kind"],
        )
        for kind, n in c.errors.items():
            errors.add_metric([kind], n)
        failing = GaugeMetricFamily(
            "socialpulse_consumer_failing_seconds",
            "Seconds every poll has failed for (0 while polls succeed)",
        )
        now = time.monotonic()
        failing.add_metric([], 0.0 if c.failing_since is None else now - c.failing_since)
        yield from (
            lag,
            batches,
            busy,
            commits,
            refused,
            dlq,
            dlq_refused,
            held,
            since,
            ready,
            errors,
            failing,
        )
        yield from _state_metrics(c.state)
        yield from _join_metrics(c.joins)


def _join_metrics(j: JoinStats) -> Iterator[Metric]:
    """The joins topic (``kafka.joins``): what this worker sent, and what it read of the fleet."""
    for name, help, value in (
        ("socialpulse_join_inputs_sent", "Join inputs acknowledged by the joins topic", j.sent),
        (
            "socialpulse_join_send_failures",
            "Checkpoints whose join inputs did not all land (their offsets wait)",
            j.send_failures,
        ),
        ("socialpulse_join_inputs_read", "Records read from the joins topic", j.read),
        (
            "socialpulse_join_inputs_applied",
            "Join inputs applied to the fleet-wide join view",
            j.applied,
        ),
        (
            "socialpulse_join_inputs_duplicate",
            "Join inputs sent again after a crash or a pause, counted once",
            j.duplicates,
        ),
        (
            "socialpulse_join_inputs_unreadable",
            "Records of the joins topic this build cannot read (skipped)",
            j.unreadable,
        ),
    ):
        family = CounterMetricFamily(name, help)
        family.add_metric([], value)
        yield family
    caught_up = GaugeMetricFamily(
        "socialpulse_join_view_caught_up",
        "1 once the joins topic is read up to where it ended when the worker started",
    )
    caught_up.add_metric([], 1 if j.caught_up else 0)
    yield caught_up


def _kpi_families() -> list[GaugeMetricFamily]:
    return [
        GaugeMetricFamily(
            kpi.metric,
            kpi.help,
            labels=["brand", "window", kpi.label] if kpi.label else ["brand", "window"],
        )
        for kpi in EXPORTED_KPIS
    ]


def _buckets(n: int) -> Metric:
    state = GaugeMetricFamily(
        "socialpulse_window_buckets", "Live one-minute buckets held in window state"
    )
    state.add_metric([], n)
    return state


class _Families(Collector):
    """Collects given families (the KPI families without samples, or those built for a scrape)."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


class _Without(Collector):
    """A registry's collectors with the KPI collector giving everything but its KPI families."""

    def __init__(self, registry: CollectorRegistry | None, kpis: KpiCollector) -> None:
        self._registry = registry
        self._kpis = kpis

    def collect(self) -> Iterator[Metric]:
        if self._registry is None:
            yield from self._kpis._others()  # noqa: SLF001 - the collector's own helper
            return
        for metric in self._registry.collect():
            if metric.name not in _KPI_NAMES:
                yield metric


_KPI_NAMES: Final = frozenset(kpi.metric for kpi in KPIS)
# Set while a prepared scrape encodes everything but the KPI families it wrote itself.
_OTHERS_ONLY: Final[ContextVar[bool]] = ContextVar("socialpulse_others_only", default=False)
# prometheus-client's value formatting (shortest repr, "+Inf", exponent forms), as it encodes.
floatToGoString: Final = cast(Callable[[float], str], _untyped_go)  # noqa: N816 - its name


def _headers(encoder: Encoder) -> list[bytes]:
    """The HELP and TYPE lines of each KPI family, then each signals family's, as written."""
    text = encoder(_Families([*_kpi_families(), *_signal_families()])).decode()
    headers: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("# HELP "):
            headers.append(line)
        elif line.startswith("# TYPE "):
            headers[-1] += line
    return [h.encode() for h in headers]


def _label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _brand_lines(brand: str, per_window: dict[str, WindowKpis]) -> list[bytes]:
    """One brand's sample lines, one piece per KPI: what the encoders write, line for line."""
    lines: list[list[str]] = [[] for _ in EXPORTED_KPIS]
    b = f'brand="{_label(brand)}"'
    go = _go
    for window, k in per_window.items():
        w = f'window="{_label(window)}"'
        bw = f"{b},{w}"
        for i, kpi in enumerate(EXPORTED_KPIS):
            value = kpi_value(k, kpi)
            out = lines[i]
            name, before_brand, before_window = _PLACES[i]
            if name is None:
                if value is not None:
                    out.append(f"{kpi.metric}{{{bw}}} {go(value)}\n")
                continue
            for label, v in value.items():
                if v is None:
                    continue
                lv = _label_pair(name, label)
                labels = (
                    f"{lv},{bw}"
                    if before_brand
                    else f"{b},{lv},{w}"
                    if before_window
                    else f"{bw},{lv}"
                )
                out.append(f"{kpi.metric}{{{labels}}} {go(v)}\n")
    return ["".join(out).encode() for out in lines]


# Counts written before, as ``floatToGoString`` writes them: most values are small counts,
# repeated over brands and windows, and formatting each was a fifth of writing the lines. Only
# ints (a float such as -0.0 would find 0's text). Bounded.
_GO_STRINGS: Final[dict[int, str]] = {}
_GO_STRINGS_MAX: Final = 1 << 16


def _go(value: float) -> str:
    if type(value) is not int:
        return floatToGoString(value)
    text = _GO_STRINGS.get(value)
    if text is None:
        text = floatToGoString(value)
        if len(_GO_STRINGS) < _GO_STRINGS_MAX:
            _GO_STRINGS[value] = text
    return text


@functools.cache
def _label_pair(name: str, value: str) -> str:
    """``name="value"``, escaped; the extra labels' values come from bounded sets."""
    return f'{name}="{_label(value)}"'


# Where each KPI's own label sorts among brand and window (encoders sort label names).
_PLACES: Final = [
    (kpi.label, (kpi.label or "") < "brand", (kpi.label or "") < "window") for kpi in EXPORTED_KPIS
]


def _pieces(
    per_brand: Sequence[list[bytes]],
    signals: tuple[list[bytes], list[bytes]],
    headers: list[bytes],
) -> Iterator[bytes]:
    """Each KPI family's HELP and TYPE, then its lines of every brand; the signals' likewise."""
    for i in range(len(EXPORTED_KPIS)):
        yield headers[i]
        yield from (lines[i] for lines in per_brand)
    for header, lines in zip(headers[len(EXPORTED_KPIS) :], signals, strict=True):
        yield header
        yield from lines


def _chunks(pieces: Iterable[bytes]) -> list[bytes]:
    """``pieces`` joined into chunks of about ``CHUNK_BYTES`` (a piece is never split)."""
    chunks: list[bytes] = []
    group: list[bytes] = []
    size = 0
    for piece in pieces:
        group.append(piece)
        size += len(piece)
        if size >= CHUNK_BYTES:
            chunks.append(b"".join(group))
            group, size = [], 0
    if group:
        chunks.append(b"".join(group))
    return chunks


def _state_metrics(st: StateStats) -> Iterator[Metric]:
    counters = (
        ("socialpulse_state_flushes", "State flushes acknowledged by the state topic", st.flushes),
        (
            "socialpulse_state_flush_failures",
            "State flushes that failed; their records are retried and offsets wait",
            st.flush_failures,
        ),
        ("socialpulse_state_records_written", "State records written", st.records_written),
        ("socialpulse_state_written_bytes", "Bytes of state records written", st.bytes_written),
        (
            "socialpulse_state_tombstones_written",
            "Tombstones written for expired state",
            st.tombstones_written,
        ),
        ("socialpulse_state_restores", "Restores of gained partitions", st.restores),
        (
            "socialpulse_state_restore_failures",
            "Restores that failed; their partitions stay paused and are retried with backoff",
            st.restore_failures,
        ),
        (
            "socialpulse_state_records_fenced",
            "State records of superseded writers or versions found by restores, then deleted",
            st.records_fenced,
        ),
        (
            "socialpulse_state_records_split",
            "State records too large for one Kafka record, written in parts",
            st.records_split,
        ),
        (
            "socialpulse_state_records_restored",
            "State records loaded by restores",
            st.records_restored,
        ),
        (
            "socialpulse_state_restore_seconds",
            "Time spent restoring gained partitions",
            st.restore_seconds,
        ),
    )
    for name, doc, value in counters:
        c = CounterMetricFamily(name, doc)
        c.add_metric([], value)
        yield c
    unrestored = GaugeMetricFamily(
        "socialpulse_state_partitions_unrestored",
        "Owned partitions whose state has not been restored: not consumed, not exported",
    )
    unrestored.add_metric([], len(st.unrestored))
    yield unrestored


def register_metrics(
    registry: CollectorRegistry,
    pipeline: Pipeline,
    clock: Clock,
    consumer: ConsumerStats | None = None,
) -> KpiCollector:
    """Attach socialpulse's collector to ``registry`` (a fresh one per test).

    prometheus-client's process collector comes along: ``process_resident_memory_bytes``, CPU
    seconds, open file descriptors and start time, read from /proc at scrape time (absent on
    systems without /proc).
    """
    collector = KpiCollector(pipeline, clock, consumer)
    collector._registry = registry  # noqa: SLF001 - set once, here
    registry.register(collector)
    ProcessCollector(registry=registry)
    return collector


_FILTERED: Final = "socialpulse_mentions_filtered"
_CAMPAIGNS: Final = "socialpulse_campaigns"


def _signal_families() -> tuple[CounterMetricFamily, GaugeMetricFamily]:
    """The signals families, empty: filtered mentions and live campaigns, per brand."""
    filtered = CounterMetricFamily(
        _FILTERED,
        "Matched mentions the spam heuristics filtered, by brand and reason (README: Signals)",
        labels=["brand", "reason"],
    )
    campaigns = GaugeMetricFamily(
        _CAMPAIGNS,
        "The fleet's copy-paste campaigns among the brand's mentions in the spam window, "
        "counted by the worker that announces them (0 on the others: sum is right)",
        labels=["brand"],
    )
    return filtered, campaigns


def _signal_metrics(signals: Signals) -> Iterator[Metric]:
    """Filtered mentions per brand and reason; live copy-paste campaigns per brand."""
    filtered, campaigns = _signal_families()
    for brand, reasons in signals.filtered.items():
        for reason, n in reasons.items():
            filtered.add_metric([brand, reason], n)
    live = dict.fromkeys(signals.filtered, 0)
    for c in signals.campaigns() if signals.campaign_lead else ():
        live[c.brand] += 1
    for brand, n in live.items():
        campaigns.add_metric([brand], n)
    yield from (filtered, campaigns)
