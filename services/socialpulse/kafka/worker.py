"""The Kafka shell around the pipeline: consume, dead-letter rejects, checkpoint state, commit.

Offsets are committed only at a checkpoint, after the dead letters of every handled record and
the window state as it stands at those offsets are acknowledged (see ``changelog``). A crash at
any point therefore leaves committed offsets at or behind the persisted state, and re-read
records are skipped by the per-bucket offsets: nothing is lost and nothing is counted twice.
A rejected record may be dead-lettered twice after a crash; the dead-letter topic is
at-least-once.

A partition's position moves past a batch only once the batch's dead letters are acknowledged,
so neither a checkpoint nor ``stop`` commits past a reject that has not reached the dead-letter
topic. A reject the topic refuses for good (not authorised, no such topic) holds its partition
at that reject: the partition is paused and read again from there every
``DEAD_LETTER_RETRY_SECONDS``, while the other partitions go on.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka import errors as Errors
from aiokafka.errors import KafkaError

from socialpulse.core.clock import Clock
from socialpulse.core.events import Stream
from socialpulse.core.joins import JoinView
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.rejection import Rejection
from socialpulse.core.sentiment import Sentiment, score_texts
from socialpulse.core.windows.timeline import Source
from socialpulse.kafka.access import check_access
from socialpulse.kafka.changelog import BATCH_BYTES, MAX_RECORD_BYTES, Changelog, StateStats
from socialpulse.kafka.deadletter import (
    REFUSAL_KINDS,
    TRUNCATED_VALUE_BYTES,
    DeadLetter,
    dead_letter_headers,
    is_retriable,
    refusal_kind,
    truncated,
)
from socialpulse.kafka.errors import (
    ERROR_KINDS,
    PERMANENT,
    advice,
    error_kind,
    stray_cancels_as_errors,
)
from socialpulse.kafka.joins import JoinPublisher, JoinReader, JoinStats, joins_topic_spec
from socialpulse.kafka.minutes import MinutePublisher
from socialpulse.kafka.options import client_options, producer_options
from socialpulse.kafka.startup import patiently, topic_partitions
from socialpulse.kafka.trends import TrendPublisher, TrendReader, trends_topic_spec
from socialpulse.settings import Settings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ConsumerStats:
    """What the Kafka worker reports about itself; plain fields the collector reads."""

    # (topic, partition) -> records behind the partition's high watermark.
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    batches: int = 0
    batch_seconds: float = 0.0
    # Time spent in checkpoints (collecting, flushing state, committing).
    checkpoint_seconds: float = 0.0
    commits: int = 0
    # Commits the group coordinator refused: this worker was no longer the owner (fenced).
    commits_refused: int = 0
    dead_lettered: int = 0
    # Dead letters the topic refused for good, by kind (``too_large`` ones were sent truncated).
    dead_letter_refusals: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(REFUSAL_KINDS, 0)
    )
    # Partitions held at a dead letter that could not be delivered.
    held_partitions: int = 0
    state: StateStats = field(default_factory=StateStats)
    joins: JoinStats = field(default_factory=JoinStats)
    # Per owned partition: monotonic time of its last commit (or of its assignment), and the
    # partitions holding handled records that are not committed yet.
    last_commit: dict[Source, float] = field(default_factory=dict)
    uncommitted: set[Source] = field(default_factory=set)
    # Whether the worker is in the group and every owned partition is restored.
    ready: bool = False
    # Client errors of the consume loop by kind (a bounded label), and the monotonic times the
    # loop last turned and last polled without an error.
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_KINDS, 0))
    last_loop: float = field(default_factory=time.monotonic)
    last_poll_ok: float = field(default_factory=time.monotonic)
    # Since when every poll has failed (None while polls succeed).
    failing_since: float | None = None

    def consuming(self, now: float, grace: float) -> bool:
        """Ready, the joins topic read, and polls not failing for longer than ``grace`` seconds."""
        return (
            self.ready
            and self.joins.caught_up
            and (self.failing_since is None or now - self.failing_since < grace)
        )

    def seconds_since_commit(self, now: float) -> dict[Source, float]:
        """Per owned partition, how long its handled records have waited for a commit (0: none)."""
        return {
            s: (now - t if s in self.uncommitted else 0.0)
            for s, t in sorted(self.last_commit.items())
        }


EXPIRE_EVERY_SECONDS = 10.0
# Checkpoints take at most about this share of the time: a flush that took d seconds is
# followed by d × (1 − share) ÷ share seconds of processing (at least the configured interval,
# at most the longest). A backfill rewrites most live records at each checkpoint, so a tenth
# (not a fifth) halves what it writes; bench_backfill measures both.
FLUSH_SHARE = 0.1
LAG_EVERY_SECONDS = 1.0
# Records of one partition folded between two turns of the loop: about 25 ms of work here (at
# some 50 µs an event), and large enough that the fold's per-call cost stays negligible.
FOLD_RECORDS = 500
# A restore that failed is retried after 1, 2, 4 ... seconds, at most this long apart.
RESTORE_BACKOFF_MAX_SECONDS = 30.0
# Commit errors meaning the group has moved on without this member: its assignment is gone.
_FENCED = (
    Errors.CommitFailedError,
    Errors.IllegalGenerationError,
    Errors.UnknownMemberIdError,
    Errors.RebalanceInProgressError,
)
# How often a partition held at an undeliverable dead letter is read again from it.
DEAD_LETTER_RETRY_SECONDS = 30.0


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Checkpoints before partitions go; restores state of partitions gained before fetching."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._worker.revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._worker.assigned(assigned)


class Worker:
    """One consumer-group member: reads both input topics and folds them into the pipeline."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        bootstrap_servers: str,
        clock: Clock,
        stats: ConsumerStats | None = None,
    ) -> None:
        self._settings = settings
        self._kafka = settings.kafka
        self._pipeline = pipeline
        self._clock = clock
        self.stats = stats if stats is not None else ConsumerStats()
        self._streams: dict[str, Stream] = {
            self._kafka.mentions_topic: "mentions",
            self._kafka.interactions_topic: "interactions",
        }
        opts = self._opts = client_options(self._kafka, bootstrap_servers)
        self._consumer = AIOKafkaConsumer(
            group_id=self._kafka.group_id,
            enable_auto_commit=False,
            auto_offset_reset=self._kafka.auto_offset_reset,
            max_poll_records=self._kafka.max_batch_records,
            session_timeout_ms=self._kafka.session_timeout_ms,
            heartbeat_interval_ms=self._kafka.heartbeat_interval_ms,
            max_poll_interval_ms=self._kafka.max_poll_interval_ms,
            **opts,
        )
        self._producer = AIOKafkaProducer(
            acks="all",
            enable_idempotence=self._kafka.enable_idempotence,
            linger_ms=5,
            max_request_size=MAX_RECORD_BYTES + 4096,
            max_batch_size=BATCH_BYTES,
            **producer_options(self._kafka),
            **opts,
        )
        self.changelog = Changelog(
            self._kafka.state_topic_name,
            opts,
            pipeline.store,
            pipeline.dedup,
            self._producer,
            self.stats.state,
            pipeline.signals,
            self._kafka.signals_snapshot_interval_seconds,
            self._kafka.signals_snapshot_max_interval_seconds,
        )
        self.minutes = MinutePublisher(
            self._kafka.minutes_topic_name,
            self._kafka.mentions_topic,
            pipeline.store,
            self._producer,
            clock,
            self._caught_up,
            settings.anomaly.grace_seconds,
            pipeline.samples,
        )
        # The fleet's join events (``core.joins``): this worker sends what it applies, and
        # reads every worker's into the view its join KPIs and top authors come from.
        self.join_view = JoinView(
            settings.brands,
            settings.window_lengths,
            lifetime_windows=settings.expected_customer_lifetime_windows,
        )
        pipeline.store.join_from(self.join_view.store)
        pipeline.join_inputs = []
        self._joins = JoinPublisher(self._kafka.joins_topic_name, self._producer, self.stats.joins)
        self._join_reader = JoinReader(
            self._kafka.joins_topic_name, opts, self.join_view, clock, self.stats.joins
        )
        self._join_task: asyncio.Task[None] | None = None
        self._join_stop = asyncio.Event()
        # Every partition's trend buckets (``kafka.trends``): this worker sends its own, and
        # reads the fleet's into the view its trends endpoint and alert evidence read.
        self._trends: TrendPublisher | None = None
        self._trend_reader: TrendReader | None = None
        self._trend_task: asyncio.Task[None] | None = None
        if settings.trends.enabled:
            topic = self._kafka.trends_topic_name
            spec = trends_topic_spec(settings.trends) if self._kafka.create_topics else None
            self._trends = TrendPublisher(topic, self._producer, pipeline.signals)
            fleet = pipeline.signals.new_fleet(attach=False)
            self._trend_reader = TrendReader(
                topic,
                opts,
                fleet,
                spec,
                lambda: pipeline.signals.use_fleet(fleet),
                campaigns=pipeline.signals.fleet_campaigns,
            )
        self._owned: set[Source] = set()
        # Revoked and checkpointed: not to be touched until the new assignment is known.
        self._frozen: set[Source] = set()
        # Next offset to commit per partition: records up to it are handled, not yet committed.
        self._positions: dict[TopicPartition, int] = {}
        # Owned but not restored: paused, not exported, not flushed; retried with backoff.
        self._unrestored: set[TopicPartition] = set()
        # Restored partitions read again from their signals state's offset, below the commit:
        # their records below it were handled (dead letters sent) before.
        self._replay_until: dict[TopicPartition, int] = {}
        self._restore_attempts = 0
        self._next_restore = 0.0
        self._generation = -1
        # A commit was refused: the group has given our partitions to others until we rejoin.
        self._fenced = False
        # Error kinds of failed polls already logged since the last good poll.
        self._reported: set[str] = set()
        # Paused partitions -> offset of the first dead letter the topic refused for good.
        self._held: dict[TopicPartition, int] = {}
        # Batches and the collecting of state for a checkpoint take turns (a batch is whole in
        # a checkpoint or absent); the flush lock keeps one checkpoint at a time, and a
        # rebalance waits for the one in flight before partitions move.
        self._lock = asyncio.Lock()
        self._flush_lock = asyncio.Lock()
        # The checkpoint ``run`` started; batches go on being handled while it flushes.
        self._flushing: asyncio.Task[float] | None = None
        self._started = False
        # Scores texts too long for the loop (``Pipeline.long_texts``); started on first need.
        self._scoring_pool: ProcessPoolExecutor | None = None

    async def start(self, deadline: float | None = None) -> None:
        """Connect and join the consumer group; ``KafkaAccessDenied`` if the brokers refuse us.

        An unreachable cluster is waited for until ``deadline`` (``time.monotonic()``; None:
        ``kafka.startup_timeout_seconds`` from now), then RuntimeError; a missing minutes or
        state topic is a RuntimeError at once.
        """
        if deadline is None:
            deadline = time.monotonic() + self._kafka.startup_timeout_seconds
        await check_access(self._opts)
        await patiently(self._producer.start, "connect to the Kafka cluster", deadline)
        try:
            await topic_partitions(
                self._producer,
                self.minutes.topic,
                f"minutes topic {self.minutes.topic!r} is missing: create it (socialpulse topics "
                "--create) or let the service create it (kafka.create_topics: true)",
                deadline,
            )  # no checkpoint could commit without it
            await self.changelog.start(deadline)
            spec = joins_topic_spec(
                self._kafka.topic_partitions, self._settings.longest_window_seconds
            )
            self._join_reader.start(self._producer, spec if self._kafka.create_topics else None)
            await patiently(self._consumer.start, "join the consumer group", deadline)
        except BaseException:
            await self._consumer.stop()
            await self._join_reader.stop()
            await self._producer.stop()
            raise
        self._join_task = asyncio.create_task(
            self._join_reader.run(self._join_stop), name="joins-reader"
        )
        if self._trend_reader is not None:
            self._trend_reader.start(self._producer)
            self._trend_task = asyncio.create_task(
                self._trend_reader.run(self._join_stop), name="trends-reader"
            )
        self._consumer.subscribe(list(self._streams), listener=_Rebalance(self))
        self._started = True

    async def stop(self) -> None:
        """Checkpoint what was processed and leave the group; safe to call twice.

        Only positions whose dead letters were acknowledged are committed: a batch cut short by
        shutdown left its partitions where they were.
        """
        if not self._started:
            # Never started (start-up ended before it): close the clients made with the worker.
            await self._consumer.stop()
            await self._producer.stop()
            return
        self._started = False
        try:
            if self._flushing is not None:  # what it did not flush, the handover does
                flushing, self._flushing = self._flushing, None
                try:
                    await flushing
                except Exception as e:  # noqa: BLE001 - stopping: the handover tries again
                    log.warning("the checkpoint in flight failed (%r)", e)
            await self.checkpoint(handover=True)
        finally:
            try:
                await self._consumer.stop()
            finally:
                await self._stop_join_reader()
                await self._producer.stop()
                if self._scoring_pool is not None:
                    self._scoring_pool.shutdown(wait=False, cancel_futures=True)
                    self._scoring_pool = None

    async def _score_off_loop(self, texts: list[str]) -> dict[str, Sentiment]:
        """Built-in VADER scores of ``texts`` from a helper process, the loop free meanwhile."""
        if self._scoring_pool is None:
            # spawn: a fork of a process running an event loop and client threads is unsafe.
            ctx = multiprocessing.get_context("spawn")
            self._scoring_pool = ProcessPoolExecutor(max_workers=1, mp_context=ctx)
        loop = asyncio.get_running_loop()
        try:
            scores = await loop.run_in_executor(self._scoring_pool, score_texts, texts)
        except Exception as e:  # noqa: BLE001 - a helper that died: score on the loop instead
            log.warning("scoring helper process failed (%r); scoring long texts in line", e)
            self._scoring_pool.shutdown(wait=False, cancel_futures=True)
            self._scoring_pool = None
            return {}
        return dict(zip(texts, scores, strict=True))

    async def _stop_join_reader(self) -> None:
        """Stop the readers of the joins and trends topics."""
        self._join_stop.set()
        for task in (self._join_task, self._trend_task):
            if task is not None:
                try:
                    await asyncio.wait_for(task, timeout=5.0)
                except TimeoutError:
                    pass  # wait_for cancelled it
        self._join_task = self._trend_task = None
        await self._join_reader.stop()
        if self._trend_reader is not None:
            await self._trend_reader.stop()

    async def revoked(self, revoked: set[TopicPartition]) -> None:
        """Checkpoint before partitions may move; hold them still until the assignment."""
        self.stats.ready = False
        if not self._fenced:  # a fenced worker's state is its successor's now: write nothing
            await self.checkpoint(handover=True)
        self._frozen = {(tp.topic, tp.partition) for tp in revoked}

    async def assigned(self, assigned: set[TopicPartition]) -> None:
        """Drop the state of partitions lost, restore the state of partitions gained.

        Never raises (the client would only log it): a partition whose restore fails stays
        paused, unexported and unflushed, and the restore is retried with backoff from ``run``.
        """
        keep = {(tp.topic, tp.partition) for tp in assigned}
        generation = _group_generation(self._consumer)
        async with self._flush_lock, self._lock:  # no flush of the old assignment in flight
            lost = self._owned - keep
            # After a refused commit every partition may have had another owner meanwhile.
            gained = keep if self._fenced else keep - self._owned
            self._pipeline.store.drop(lost | gained)
            self._pipeline.dedup.drop(lost | gained)
            self._pipeline.signals.drop(lost | gained)
            self.changelog.forget(lost | gained)
            self.minutes.forget(lost | gained)
            # Positions of gained partitions were reached on state that is gone now: never commit.
            self._positions = {
                tp: o
                for tp, o in self._positions.items()
                if (tp.topic, tp.partition) in keep - gained
            }
            self._held = {tp: o for tp, o in self._held.items() if (tp.topic, tp.partition) in keep}
            self._replay_until = {
                tp: o
                for tp, o in self._replay_until.items()
                if (tp.topic, tp.partition) in keep - gained
            }
            self.stats.held_partitions = len(self._held)
            self.stats.lag = {k: v for k, v in self.stats.lag.items() if k in keep}
            now = time.monotonic()
            self.stats.last_commit = {
                s: self.stats.last_commit.get(s, now) for s in keep if s not in gained
            } | dict.fromkeys(gained, now)
            self.stats.uncommitted &= keep - gained
            self._owned = keep
            self._frozen = set()
            self._fenced = False
            self._generation = generation
            self._unrestored = {tp for tp in self._unrestored if tp in assigned} | {
                tp for tp in assigned if (tp.topic, tp.partition) in gained
            }
            self._restore_attempts = 0
            await self._restore_pending()
        log.info(
            "assigned %d partitions (generation %d): %d gained, %d lost (dropped)%s",
            len(assigned),
            generation,
            len(gained),
            len(lost),
            f", {len(self._unrestored)} not restored yet" if self._unrestored else "",
        )

    async def _restore_pending(self) -> None:
        """Try to restore every unrestored partition once; on failure pause them and back off."""
        if not self._unrestored:
            self.stats.ready = True
            return
        tps = set(self._unrestored)
        sources = {(tp.topic, tp.partition) for tp in tps}
        self._consumer.pause(*tps)
        try:
            await self.changelog.restore(sources, self._generation)
            # Resume where the committed offsets say: what was fetched meanwhile is read again.
            committed = await self._committed(tps)
        except Exception as e:  # any failure: stay paused, retry, say so
            self._restore_attempts += 1
            delay = min(RESTORE_BACKOFF_MAX_SECONDS, 2.0 ** (self._restore_attempts - 1))
            self._next_restore = time.monotonic() + delay
            self.stats.ready = False
            log.error(
                "state restore of %d partitions from %s failed (attempt %d: %r); they stay "
                "paused and unexported, retrying in %.0f s",
                len(sources),
                self.changelog.topic,
                self._restore_attempts,
                e,
                delay,
            )
            return
        signals = self._pipeline.signals
        for tp in tps:
            offset = committed.get(tp)
            source = (tp.topic, tp.partition)
            resume = signals.resume_offset(source)
            if offset is None:
                await self._reset_position(tp)
            elif resume is not None and resume < offset:
                # The signals state stands before the commit: re-read from there, so the spam
                # window sees every event in order; the store skips what it holds already.
                self._consumer.seek(tp, resume)
                self._replay_until[tp] = offset
                signals.replay(source, offset)
                log.info(
                    "%s re-read from offset %d (committed %d) for its signals", tp, resume, offset
                )
            else:
                self._consumer.seek(tp, offset)
        self._unrestored -= tps
        self._consumer.resume(*tps)
        self.stats.ready = not self._unrestored
        if self._restore_attempts:
            log.info("state restore of %d partitions succeeded after retries", len(sources))

    def _caught_up(self, source: Source) -> bool:
        """Whether nothing was left to read of ``source`` at the last look (unknown: no)."""
        return self.stats.lag.get(source) == 0

    @property
    def restored(self) -> frozenset[Source]:
        """Owned partitions whose state is restored: the ones this worker counts now."""
        unrestored = {(t.topic, t.partition) for t in self._unrestored}
        if self._fenced:
            return frozenset()
        return frozenset(s for s in self._owned - self._frozen if s not in unrestored)

    async def _committed(self, tps: set[TopicPartition]) -> dict[TopicPartition, int | None]:
        out: dict[TopicPartition, int | None] = {}
        for tp in tps:
            out[tp] = await self._consumer.committed(tp)
        return out

    async def _reset_position(self, tp: TopicPartition) -> None:
        if self._kafka.auto_offset_reset == "earliest":
            await self._consumer.seek_to_beginning(tp)
        else:
            await self._consumer.seek_to_end(tp)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; a broker outage is waited out, not fatal."""
        next_expire = next_lag = next_checkpoint = last_checkpoint = 0.0
        next_retry = time.monotonic() + DEAD_LETTER_RETRY_SECONDS
        interval = self._kafka.checkpoint_interval_seconds
        max_interval = max(interval, self._kafka.max_checkpoint_interval_seconds)
        while not stop.is_set():
            self.stats.last_loop = time.monotonic()
            if self._join_task is not None and self._join_task.done():
                if not self._join_task.cancelled():  # it never ends on its own: raise what did
                    self._join_task.result()
                raise RuntimeError(f"the reader of {self._joins.topic} stopped")
            try:
                with stray_cancels_as_errors():
                    try:
                        batch = await self._consumer.getmany(
                            timeout_ms=self._kafka.poll_timeout_ms,
                            max_records=self._kafka.max_batch_records,
                        )
                    except KafkaError as e:
                        self._poll_failed(e)
                        # Lag comes from the broker's end offsets, so it shows while fetches fail.
                        await self._update_lag()
                        await asyncio.sleep(1.0)
                        continue
                    self._poll_ok()
                    # Behind (more lag than a batch): costly checkpoints may wait; caught up: the
                    # interval applies.
                    behind = sum(self.stats.lag.values()) > self._kafka.max_batch_records
                    if batch:
                        await self._handle(batch)
                    now = time.monotonic()
                    if self._unrestored and now >= self._next_restore:
                        async with self._flush_lock, self._lock:
                            await self._restore_pending()
                    if now >= next_expire:
                        wall = self._clock()
                        self._pipeline.store.expire(wall)
                        self._pipeline.dedup.expire(wall)
                        next_expire = now + EXPIRE_EVERY_SECONDS
                    if self._flushing is not None and self._flushing.done():
                        flushed, self._flushing = self._flushing, None
                        took = flushed.result()  # what it raised is raised here, as inline
                        last_checkpoint = time.monotonic()
                        # While behind, a costly flush (a backfill touching many minutes) waits
                        # longer for the next one, so flushing stays a bounded share of the time:
                        # the same state with fewer writes. Once caught up, the interval applies.
                        wait = max(interval, took * (1 - FLUSH_SHARE) / FLUSH_SHARE)
                        next_checkpoint = last_checkpoint + min(wait, max_interval)
                    due = now >= next_checkpoint or (
                        not behind and now >= last_checkpoint + interval
                    )
                    if due and self._flushing is None:
                        # The flush waits for acknowledgements while the next batches are
                        # handled: a checkpoint holds the loop only while it collects.
                        self._flushing = asyncio.create_task(self._timed(), name="checkpoint")
                    if now >= next_lag:
                        await self._update_lag()
                        next_lag = now + LAG_EVERY_SECONDS
                    if now >= next_retry:
                        self._read_held_again()
                        next_retry = now + DEAD_LETTER_RETRY_SECONDS
            except KafkaError as e:
                self._count_error(e)
                log.warning("kafka error, retrying in 1 s: %r", e)
                await asyncio.sleep(1.0)

    def _count_error(self, exc: BaseException) -> str:
        kind = error_kind(exc)
        self.stats.errors[kind] += 1
        return kind

    def _poll_failed(self, exc: BaseException) -> None:
        """Count a failed poll; say so once per kind until polls succeed again."""
        kind = self._count_error(exc)
        now = time.monotonic()
        if self.stats.failing_since is None:
            self.stats.failing_since = now
        if kind in self._reported:
            return
        self._reported.add(kind)
        if kind in PERMANENT:
            log.error(
                "consumer cannot read its partitions (%s: %r): %s; it keeps trying, and "
                "/readyz fails and lag grows until this is fixed",
                kind,
                exc,
                advice(kind),
            )
        else:
            log.warning("consumer poll failed (%s: %r); retrying every second", kind, exc)

    def _poll_ok(self) -> None:
        now = time.monotonic()
        if self.stats.failing_since is not None:
            log.info(
                "consumer reads again after %.0f s of failed polls", now - self.stats.failing_since
            )
            self.stats.failing_since = None
            self._reported.clear()
        self.stats.last_poll_ok = now

    async def _handle(self, batch: dict[TopicPartition, list[object]]) -> None:
        async with self._lock:
            started = time.perf_counter()
            now = self._clock()
            dead: list[DeadLetter] = []
            handled: dict[TopicPartition, int] = {}
            process = self._pipeline.process_batch
            for tp, records in batch.items():
                stream = self._streams[tp.topic]
                source = (tp.topic, tp.partition)
                if source not in self._owned or source in self._frozen or tp in self._unrestored:
                    continue  # revoked or not restored: re-read from the commit later
                values: list[tuple[int, bytes | None]] = [
                    (r.offset, r.value)  # type: ignore[attr-defined]
                    for r in records
                ]
                long_texts = self._pipeline.long_texts(stream, [v for _, v in values])
                scored = await self._score_off_loop(long_texts) if long_texts else None
                # The pipeline folds each slice of a partition's records in offset order; between
                # slices the loop is let go, so a scrape or a flush waits for one slice at most.
                rejected: list[tuple[int, Rejection]] = []
                for first in range(0, len(values), FOLD_RECORDS):
                    if first:
                        await asyncio.sleep(0)
                    part = values[first : first + FOLD_RECORDS]
                    rejected += process(stream, part, source, now, scored)
                until = self._replay_until.get(tp)
                end = values[-1][0] + 1
                if until is not None:
                    # Re-read below the commit: these records' dead letters were sent before,
                    # and the commit must not move back.
                    rejected = [(o, r) for o, r in rejected if o >= until]
                    if end >= until:
                        del self._replay_until[tp]
                    else:
                        continue
                if rejected:
                    by_offset = {r.offset: r for r in records}  # type: ignore[attr-defined]
                    for offset, rejection in rejected:
                        r = by_offset[offset]
                        headers = dead_letter_headers(
                            rejection, tp.topic, tp.partition, offset, now
                        )
                        key: bytes | None = r.key  # type: ignore[attr-defined]
                        value: bytes | None = r.value  # type: ignore[attr-defined]
                        dead.append(DeadLetter(tp, offset, key, value, headers))
                handled[tp] = end
            joined = self._pipeline.join_inputs
            if joined:
                self._joins.add(joined)
                joined.clear()
            held = await self._dead_letter(dead) if dead else {}
            # Only now, with the dead letters acknowledged, may the positions move.
            for tp, end in handled.items():
                self.stats.uncommitted.add((tp.topic, tp.partition))
                at = held.get(tp)
                if at is None:
                    self._positions[tp] = end
                    if self._held.pop(tp, None) is not None:
                        log.info("dead letters of %s delivered; reading it on", tp)
                else:
                    self._positions[tp] = at
                    self._held[tp] = at
                    self._consumer.pause(tp)
            self.stats.held_partitions = len(self._held)
            self.stats.batches += 1
            self.stats.batch_seconds += time.perf_counter() - started

    async def _dead_letter(self, dead: list[DeadLetter]) -> dict[TopicPartition, int]:
        """Send rejects until each is acknowledged or refused for good; none is dropped.

        The records were consumed already, so giving up would lose them: a retriable error (a
        broker outage) is waited out, the offsets uncommitted meanwhile. A letter too large for
        the topic goes again alone (the broker refuses a whole batch, the small letters in it
        too), then truncated. Any other refusal is final: the result holds, per partition, the
        offset of the first letter not delivered, which its position must not pass.
        """
        held: dict[TopicPartition, int] = {}
        pending = dead
        while pending:
            retry: list[DeadLetter] = []
            last: KafkaError | None = None
            for letter, err in zip(pending, await self._send(pending), strict=True):
                sent, err = (
                    (letter, err) if err is None else await self._resend_if_too_large(letter, err)
                )
                if err is None:
                    self.stats.dead_lettered += 1
                elif is_retriable(err):
                    retry.append(sent)
                    last = err
                else:
                    self._refused(letter, err, held)
            if retry:
                log.warning("%d dead-letter sends failed (%r); retrying in 1 s", len(retry), last)
                await asyncio.sleep(1.0)
            pending = retry
        return held

    async def _send(self, letters: list[DeadLetter]) -> list[KafkaError | None]:
        """Send ``letters`` together; per letter, the error that stopped it, or None."""
        topic = self._kafka.dlq_topic
        sent: list[asyncio.Future[object] | KafkaError] = []
        for d in letters:
            try:
                sent.append(
                    await self._producer.send(topic, value=d.value, key=d.key, headers=d.headers)
                )
            except KafkaError as e:  # too large for max_request_size, or no metadata in time
                sent.append(e)
        results: list[KafkaError | None] = []
        for f in sent:
            if isinstance(f, KafkaError):
                results.append(f)
                continue
            try:
                await f
            except KafkaError as e:
                results.append(e)
            else:
                results.append(None)
        return results

    async def _resend_if_too_large(
        self, letter: DeadLetter, err: KafkaError
    ) -> tuple[DeadLetter, KafkaError | None]:
        """For a size refusal: the letter alone, then truncated, then empty; what was sent last."""
        if is_retriable(err) or refusal_kind(err) != "too_large":
            return letter, err
        (err,) = await self._send([letter])
        if err is None or refusal_kind(err) != "too_large" or is_retriable(err):
            return letter, err
        sent = letter
        for keep in (TRUNCATED_VALUE_BYTES, 0):
            sent = truncated(letter, err, keep=keep)
            (again,) = await self._send([sent])
            if again is None or refusal_kind(again) != "too_large" or is_retriable(again):
                break
        else:
            return sent, again  # even empty it is refused: the headers themselves are too large
        if again is None:
            self.stats.dead_letter_refusals["too_large"] += 1
            size = len(letter.value or b"")
            log.warning(
                "dead letter of %s offset %d (%d bytes) refused as too large (%r); sent truncated "
                "to %d bytes with its size and SHA-256",
                letter.tp,
                letter.offset,
                size,
                err,
                len(sent.value or b""),
            )
        return sent, again

    def _refused(
        self, letter: DeadLetter, err: KafkaError, held: dict[TopicPartition, int]
    ) -> None:
        """Count a final refusal and hold the letter's partition at it; say so once."""
        kind = refusal_kind(err)
        self.stats.dead_letter_refusals[kind] += 1
        if letter.tp not in self._held and letter.tp not in held:
            log.error(
                "the dead-letter topic %s refuses the reject at %s offset %d for good (%s: %r); "
                "%s is paused there, nothing past it is committed, and it is read again every "
                "%.0f s",
                self._kafka.dlq_topic,
                letter.tp,
                letter.offset,
                kind,
                err,
                letter.tp,
                DEAD_LETTER_RETRY_SECONDS,
            )
        held[letter.tp] = min(letter.offset, held.get(letter.tp, letter.offset))

    def _read_held_again(self) -> None:
        """Resume held partitions from their first undelivered dead letter, to send it again."""
        assigned = self._consumer.assignment()
        for tp, offset in list(self._held.items()):
            if tp in assigned and tp not in self._unrestored:  # a restore resumes those itself
                self._consumer.seek(tp, offset)
                self._consumer.resume(tp)

    async def checkpoint(self, handover: bool = False) -> None:
        """Flush the state of owned partitions, then commit the offsets it reflects.

        A partition whose state records did not all land keeps its offset uncommitted (its
        records stay pending for the next checkpoint); the others commit regardless. At a
        ``handover`` every changed signals state is written, so the next owner re-reads nothing.
        """
        await self._timed(handover)

    async def _timed(self, handover: bool = False) -> float:
        """``_checkpoint``, counted in the stats; returns the seconds it took."""
        started = time.perf_counter()
        try:
            await self._checkpoint(handover)
        finally:
            took = time.perf_counter() - started
            self.stats.checkpoint_seconds += took
        return took

    async def _checkpoint(self, handover: bool) -> None:
        async with self._flush_lock:
            async with self._lock:
                if self._fenced:
                    return
                restored = {
                    s
                    for s in self._owned
                    if s not in {(t.topic, t.partition) for t in self._unrestored}
                }
                offsets = {
                    tp: o
                    for tp, o in self._positions.items()
                    if (tp.topic, tp.partition) in restored
                }
                generation = _group_generation(self._consumer)
                # Minutes and state are noted at one instant between two batches: a minute
                # changed later is in neither, so the next checkpoint notes it for both.
                self.minutes.collect(restored)
                self.changelog.collect(restored, handover)
            # Batches are handled again from here: the state written covers at least
            # ``offsets``, which is all the commit below needs (records re-read are skipped).
            # Minutes first: offsets are committed only once they are on the minutes topic.
            if not await self.minutes.flush():
                return
            try:
                failed = await self.changelog.flush()
            except (KafkaError, TimeoutError) as e:
                log.warning("state flush failed (%r); offsets not committed, will retry", e)
                return
            if self._trends is not None:  # evidence, not counts: never holds a commit back
                await self._trends.publish(restored, force=handover)
            try:
                failed |= await self._joins.flush()
            except KafkaError as e:
                log.warning("join inputs not sent (%r); offsets not committed, will retry", e)
                return
            offsets = {tp: o for tp, o in offsets.items() if (tp.topic, tp.partition) not in failed}
            if not offsets or self._fenced:
                return
            if _group_generation(self._consumer) != generation:
                # The group rebalanced during the flush: these partitions may be another
                # member's now, and a commit of the new generation would be taken for theirs.
                log.info("group rebalanced during a checkpoint; its offsets are not committed")
                return
            try:
                await self._consumer.commit(offsets)
            except _FENCED as e:
                self._fenced = True
                self.stats.ready = False
                self.stats.commits_refused += 1
                log.warning(
                    "offset commit refused (%r): the group gave this worker's partitions to "
                    "another member; writing no more state until the next assignment",
                    e,
                )
                return
            except KafkaError as e:
                # Safe: the state is flushed, so re-read records will be skipped by offset.
                log.warning("offset commit failed (%r); records will be re-read and skipped", e)
                return
            now = time.monotonic()
            for tp, o in offsets.items():
                source = (tp.topic, tp.partition)
                self.stats.last_commit[source] = now
                if self._positions.get(tp) == o:
                    del self._positions[tp]
                    self.stats.uncommitted.discard(source)
            self.stats.commits += 1

    async def _update_lag(self) -> None:
        """Records between each owned partition's end (asked of the broker) and our position.

        The end offsets come from the broker, not from fetch responses, so the lag keeps growing
        when fetches fail (a codec, a corrupt record) instead of freezing at its last value.
        """
        tps = list(self._consumer.assignment())
        if not tps:
            self.stats.lag = {}
            return
        try:
            end = await self._consumer.end_offsets(tps)
        except KafkaError as e:
            self._count_error(e)
            return
        lag = dict(self.stats.lag)
        for tp in tps:
            try:  # an unknown position waits for a reset that a failing broker never gives
                position = await asyncio.wait_for(self._consumer.position(tp), timeout=1.0)
            except (KafkaError, TimeoutError):
                continue
            lag[(tp.topic, tp.partition)] = max(0, end[tp] - position)
        owned = {(tp.topic, tp.partition) for tp in tps}
        self.stats.lag = {k: v for k, v in lag.items() if k in owned}


def _group_generation(consumer: AIOKafkaConsumer) -> int:
    """The consumer group generation of the current assignment, or -1 if the client hides it.

    aiokafka keeps it on its (private) coordinator; the version is pinned in pyproject.toml and
    a unit test checks the attribute is there.
    """
    coordinator = getattr(consumer, "_coordinator", None)
    generation = getattr(coordinator, "generation", -1)
    return generation if isinstance(generation, int) else -1
