"""The trends topic: each worker publishes its partitions' trend buckets, every worker reads all.

Trends judged on one worker's partitions would depend on the pod answering, and a spike alert's
``top_terms`` on which worker evaluates. So every few seconds (``PUBLISH_EVERY_SECONDS``) a
worker sends each trend bucket of its partitions that changed, whole (the count-min and
frequent-items sketches, a few kB, and the bucket's filtered mentions per reason), keyed by
(input topic, partition, brand, bucket); and a
reader task on every worker reads the whole topic, from its start and without a consumer group,
into the ``FleetTrends`` view that ``/api/v1/trends`` and alert evidence read. A version carries
the partition's offset when it was taken, so an older one (a crash's re-send, a fenced writer)
never replaces a newer one. Beside them each partition's live copy-paste campaign clusters
(``core.campaigns``), one record per partition, sent when they change, so every worker groups
one campaign's parts alike and one worker announces it. The topic is compacted and also
deleted by age past twice the trend span (recent window and baseline), the oldest buckets any
read needs.

Trends are evidence, not counts: a publish that fails is logged and retried with the next one,
and never holds a commit back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Final

import msgspec
from aiokafka import AIOKafkaProducer

from socialpulse.core.campaigns import CampaignPart, FleetCampaigns
from socialpulse.core.signals import Signals
from socialpulse.core.trends import FleetTrends, PublishedBucket
from socialpulse.core.windows.timeline import Source
from socialpulse.kafka.topic_publisher import TopicPublisher
from socialpulse.kafka.topic_reader import Batch, Record, TopicReader, apply_sliced
from socialpulse.kafka.topics import TopicSpec
from socialpulse.settings import TrendSettings

log = logging.getLogger(__name__)

PUBLISH_EVERY_SECONDS: Final = 5.0
SEND_TIMEOUT_SECONDS: Final = 30.0
EXPIRE_EVERY_SECONDS: Final = 10.0


class _Key(msgspec.Struct, array_like=True, frozen=True):
    topic: str
    partition: int
    brand: str
    bucket: int


class _Value(msgspec.Struct, array_like=True):
    offset: int  # the partition's applied offset when the bucket was taken
    latest: float  # the partition's latest event time then
    counts: bytes
    heavy: bytes
    # The bucket's filtered mentions per reason: absent from records of older releases, whose
    # readers skip it in turn (a trailing field).
    filtered: dict[str, int] = {}


class _CampaignsKey(msgspec.Struct, array_like=True, frozen=True):
    """The key of a partition's campaign parts: two fields, where a bucket's key has four."""

    topic: str
    partition: int


class _CampaignsValue(msgspec.Struct, array_like=True):
    offset: int
    latest: float
    parts: list[CampaignPart]


_encode = msgspec.msgpack.Encoder().encode
_decode_key = msgspec.msgpack.Decoder(_Key).decode
_decode_campaigns_key = msgspec.msgpack.Decoder(_CampaignsKey).decode
_decode_value = msgspec.msgpack.Decoder(_Value).decode
_decode_campaigns = msgspec.msgpack.Decoder(_CampaignsValue).decode


def trends_topic_spec(settings: TrendSettings) -> TopicSpec:
    """How the trends topic is created when missing: compacted, and deleted past two spans."""
    span_ms = (settings.recent_buckets + settings.baseline_buckets) * settings.bucket_seconds * 1000
    return TopicSpec(
        partitions=1,
        config={
            "cleanup.policy": "compact,delete",
            "retention.ms": str(2 * span_ms),
            "segment.ms": "600000",
        },
    )


def encode_bucket(b: PublishedBucket) -> tuple[bytes, bytes]:
    """The (key, value) of one published bucket, its filtered mentions per reason beside."""
    key = _encode(_Key(b.source[0], b.source[1], b.brand, b.index))
    return key, _encode(_Value(b.offset, b.latest, b.counts, b.heavy, dict(b.filtered)))


def encode_campaigns(
    source: Source, offset: int, latest: float, parts: list[CampaignPart]
) -> tuple[bytes, bytes]:
    """The (key, value) of one partition's live campaign parts (all of them, maybe none)."""
    key = _encode(_CampaignsKey(source[0], source[1]))
    return key, _encode(_CampaignsValue(offset, latest, parts))


def apply_record(
    view: FleetTrends,
    key: bytes | None,
    value: bytes | None,
    campaigns: FleetCampaigns | None = None,
) -> bool | None:
    """Put one record of the topic into ``view`` (campaign parts into ``campaigns``).

    None when unreadable, False when not newer. A tombstone (no value) is skipped: compaction
    and age remove buckets, the view expires them.
    """
    if key is None or value is None:
        return False if value is None else None
    try:
        try:
            k = _decode_key(key)
        except msgspec.ValidationError:
            ck = _decode_campaigns_key(key)
            c = _decode_campaigns(value)
            source = (ck.topic, ck.partition)
            return campaigns.apply(source, c.offset, c.latest, c.parts) if campaigns else False
        source = (k.topic, k.partition)
        v = _decode_value(value)
        return view.apply(
            PublishedBucket(
                source, k.brand, k.bucket, v.offset, v.latest, v.counts, v.heavy, v.filtered
            )
        )
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError, RuntimeError):
        return None  # not our format, or sketches that do not deserialise


class TrendPublisher:
    """Sends the changed trend buckets of owned partitions, at most every few seconds."""

    def __init__(self, topic: str, producer: AIOKafkaProducer, signals: Signals) -> None:
        self.topic = topic
        self._signals = signals
        self._out = TopicPublisher(
            topic,
            producer,
            log=log,
            what="trend bucket",
            plural="trend buckets",
            retry="retried with the next",
            wait_seconds=SEND_TIMEOUT_SECONDS,
            replace=True,
            batches=False,
            every_seconds=PUBLISH_EVERY_SECONDS,
        )
        # The campaign parts last queued per partition: sent again only when they change.
        self._campaigns: dict[Source, list[CampaignPart]] = {}
        self.published = 0
        self.failures = 0

    def collect(self, sources: Iterable[Source]) -> None:
        """Take the changed buckets and campaign parts of ``sources``.

        A newer version of a key replaces one queued. A partition's campaign parts are sent
        the first time and whenever they change (an empty list too: its campaigns ended).
        """
        for source in sorted(sources):
            resume = self._signals.resume_offset(source)
            if resume is None:
                continue
            latest = self._signals.latest_of(source)
            for brand, index, counts, heavy, filtered in self._signals.trend_updates(source):
                bucket = PublishedBucket(
                    source, brand, index, resume - 1, latest, counts, heavy, filtered
                )
                self._out.put(source, *encode_bucket(bucket))
            parts = self._signals.campaign_parts(source)
            if parts != self._campaigns.get(source):
                key, value = encode_campaigns(source, resume - 1, latest, parts)
                self._out.put(source, key, value)
                self._campaigns[source] = parts

    async def publish(self, sources: Iterable[Source], force: bool = False) -> None:
        """Collect and send, when ``PUBLISH_EVERY_SECONDS`` passed (or ``force``); never raises."""
        if not self._out.due(force):
            return
        self.collect(sources)
        landed, failed = await self._out.send()
        self.published += landed
        if failed:
            self.failures += 1


class TrendReader:
    """Reads every partition of the trends topic into a ``FleetTrends`` view, in its own task."""

    def __init__(
        self,
        topic: str,
        client_options: dict[str, Any],
        view: FleetTrends,
        create: TopicSpec | None,
        on_caught_up: Callable[[], None] = lambda: None,
        campaigns: FleetCampaigns | None = None,
    ) -> None:
        """``on_caught_up`` is called once the topic is read to where it ended when opened.

        Until then the view is partial: the worker's trends stay its own partitions'. Campaign
        parts go to ``campaigns`` (skipped without one).
        """
        self.topic = topic
        self._view = view
        self._campaigns = campaigns
        self._create = create
        self._on_caught_up = on_caught_up
        self._reader = TopicReader(topic, client_options)
        self._producer: AIOKafkaProducer | None = None
        self.unreadable = 0
        self.caught_up = False
        self._warned = False
        self._next_expire = 0.0

    def start(self, producer: AIOKafkaProducer) -> None:
        """Learn partitions through ``producer``'s client; ``run`` connects."""
        self._producer = producer

    async def _partitions(self) -> set[int] | None:
        assert self._producer is not None, "start() first"  # noqa: S101 - programming error
        partitions, self._create = await self._reader.partitions_via(
            self._producer, self._create, self._missing
        )
        return partitions

    def _missing(self) -> None:
        if not self._warned:
            self._warned = True
            log.error(
                "trends topic %r is missing: trends are this worker's partitions' until it "
                "exists (create it, see README, Signals, or set kafka.create_topics: true)",
                self.topic,
            )

    async def _check_caught_up(self) -> None:
        if self.caught_up or not await self._reader.reached_start_ends():
            return
        self.caught_up = True
        log.info("trends topic %s read to its end: trends are the fleet's", self.topic)
        self._on_caught_up()

    async def stop(self) -> None:
        """Close the consumer; safe to call twice."""
        await self._reader.stop()

    async def run(self, stop: asyncio.Event) -> None:
        """Apply published buckets until ``stop``; a broker outage is waited out."""
        self._next_expire = 0.0
        await self._reader.follow(
            stop,
            self._partitions,
            self._handle,
            log=log,
            what="trends",
            max_records=500,
            wait_seconds=1.0,
        )

    async def _handle(self, batch: Batch) -> None:
        await apply_sliced(batch, self._apply)
        await self._check_caught_up()
        mono = time.monotonic()
        if mono >= self._next_expire:
            self._view.expire()
            self._next_expire = mono + EXPIRE_EVERY_SECONDS

    def _apply(self, r: Record) -> None:
        if apply_record(self._view, r.key, r.value, self._campaigns) is None:
            self.unreadable += 1
            if self.unreadable == 1:
                log.error("trends topic %s offset %d is unreadable; skipped", self.topic, r.offset)
