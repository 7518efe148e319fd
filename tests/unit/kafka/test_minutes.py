"""The minutes publisher: changed minutes and moved watermarks once acknowledged, else again."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka.errors import KafkaTimeoutError

from builders import POS, mention, off
from socialpulse.core.alerts.build import events_of
from socialpulse.core.alerts.samples import SampleReservoir
from socialpulse.core.anomaly.detector import Detector, Transition
from socialpulse.core.anomaly.fleet import (
    Contribution,
    Samples,
    Watermark,
    decode_record,
    samples_key,
)
from socialpulse.core.clock import rfc3339
from socialpulse.core.joins import JoinView
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.windows.store import WindowStore
from socialpulse.kafka.minutes import MinutePublisher
from socialpulse.settings import BrandSettings, Settings

BRANDS = (BrandSettings(id="a", name="A", terms=("alpha",)),)
M0 = 28_800_000
MENTIONS = ("m", 0)
INTERACTIONS = ("i", 0)


class Producer:
    """Acknowledges every send, or fails them while ``down``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes | None]] = []
        self.down = False

    async def send(self, topic: str, value: bytes | None, key: bytes) -> asyncio.Future[None]:
        f: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.down:
            f.set_exception(KafkaTimeoutError())
        else:
            self.sent.append((topic, key, value))
            f.set_result(None)
        return f


def _publisher(store: WindowStore, producer: Producer, now: list[float]) -> MinutePublisher:
    p: Any = producer
    return MinutePublisher("g.minutes", "m", store, p, lambda: now[0], lambda _: True, 10.0)


async def test_changed_minutes_and_moved_watermarks_are_published_once() -> None:
    store = WindowStore(BRANDS, {"1h": 3600})
    producer = Producer()
    now = [M0 * 60 + 75.0]  # 15 s into the next minute: M0 is closed (grace 10 s)
    pub = _publisher(store, producer, now)
    store.add_mention(MENTIONS, "a", mention(M0 * 60 + 5), POS, False, off())
    pub.collect([MENTIONS, INTERACTIONS])
    assert await pub.flush()
    records = [decode_record(v or b"") for t, _, v in producer.sent if t == "g.minutes"]
    assert records[0] == Contribution("m", 0, M0, records[0].brands)  # type: ignore[union-attr,arg-type]
    assert records[1:] == [Watermark("m", 0, M0)]
    assert {(r.topic, r.partition) for r in records} == {MENTIONS}  # interactions: none
    store.take_dirty(MENTIONS)  # the state flush took them
    producer.sent.clear()
    pub.collect([MENTIONS])
    assert await pub.flush()
    assert producer.sent == []  # nothing changed, the watermark did not move
    now[0] += 60
    pub.collect([MENTIONS])
    assert await pub.flush()
    assert [decode_record(v or b"") for _, _, v in producer.sent] == [Watermark("m", 0, M0 + 1)]


async def test_a_failed_publish_keeps_its_minutes_for_the_next_checkpoint() -> None:
    store = WindowStore(BRANDS, {"1h": 3600})
    producer = Producer()
    pub = _publisher(store, producer, [M0 * 60 + 75.0])
    store.add_mention(MENTIONS, "a", mention(M0 * 60 + 5), POS, False, off())
    producer.down = True
    pub.collect([MENTIONS])
    assert not await pub.flush()
    assert pub.stats.publish_failures == 1
    store.take_dirty(MENTIONS)  # even if the dirty set moved on, the publisher kept them
    producer.down = False
    pub.collect([MENTIONS])
    assert await pub.flush()
    kinds = [type(decode_record(v or b"")).__name__ for _, _, v in producer.sent]
    assert kinds == ["Contribution", "Watermark"]


async def test_a_backfilled_day_old_hour_is_published_minute_by_minute() -> None:
    """Events a day old reach the detector as each minute's own totals, never an hour's.

    The window store rolls old minutes into hours; a minute must stay whole until a watermark
    closed it, and a rolled hour is not published as its first minute.
    """
    store = WindowStore(BRANDS, {"7d": 7 * 86400})
    producer = Producer()
    now = M0 * 60 + 86400.0
    p: Any = producer
    behind = MinutePublisher("g.minutes", "m", store, p, lambda: now, lambda _: False, 10.0)
    store.expire(now)
    for m in range(120):  # two hours, a day ago, two mentions a minute
        for k in range(2):
            at = (M0 + m) * 60 + 10 + 20 * k
            store.add_mention(MENTIONS, "a", mention(at, f"u{m}"), POS, False, off())
        if m % 25 == 24 or m == 119:  # now and then a checkpoint, then the periodic expiry
            behind.collect([MENTIONS])
            assert await behind.flush()
            store.take_dirty(MENTIONS)
            store.expire(now)
    latest: dict[int, int] = {}  # what compaction keeps: the last contribution of each minute
    for _, _, v in producer.sent:
        r = decode_record(v or b"")
        if isinstance(r, Contribution):
            latest[r.minute] = r.brands["a"].positive
    assert latest == {M0 + m: 2 for m in range(120)}
    assert store.bucket_count() <= 3  # settled minutes rolled up: two hours and the open minute


async def test_a_spike_on_another_workers_partition_still_quotes_its_posts_and_authors() -> None:
    """Evidence at N workers: the evaluator sees none of the spike's posts on its own partition.

    Worker B owns the partition the spike's mentions are on; its publisher sends their samples
    with the watermark that closes the minute, and its join inputs reach every worker's join
    view: the evaluator's alert quotes B's posts and names B's authors.
    """
    settings = Settings(
        brands=[{"id": "a", "name": "Alpha", "terms": ["alpha"]}],
        demo=False,
        spam={"enabled": False},
    )
    now = (M0 + 1) * 60 + 40.0  # minute M0 closed (grace 30 s)
    b = Pipeline(settings)
    b.join_inputs = []
    spike = [
        json.dumps(
            {
                "event_id": f"spike-{i}",
                "platform": "x",
                "created_at": rfc3339(M0 * 60 + 5 + i),
                "author": {"id": f"crowd{i}", "handle": f"@crowd{i}", "followers": 1000 + i},
                "text": f"alpha is terrible, my order {i} broke again",
                "kind": "post",
                "language": "en",
                "url": f"https://x.example/{i}",
            }
        ).encode()
        for i in range(12)
    ]
    assert b.process_batch("mentions", list(enumerate(spike)), ("m", 1), now) == []
    producer = Producer()
    p: Any = producer
    grace = settings.anomaly.grace_seconds
    pub = MinutePublisher(
        "g.minutes", "m", b.store, p, lambda: now, lambda _: True, grace, b.samples
    )
    pub.collect([("m", 1)])
    assert await pub.flush()

    # The evaluator: its own partition 0 had nothing of the spike.
    view = JoinView(settings.brands, settings.window_lengths)
    for j in b.join_inputs:
        view.apply(j, now)
    a = Pipeline(settings)
    a.store.join_from(view.store)
    fleet = SampleReservoir(
        settings.alerts.samples_per_minute, settings.alerts.sample_text_chars, 5
    )
    for _, _, value in producer.sent:
        r = decode_record(value or b"")
        if isinstance(r, Samples):
            for brand, posts in r.brands.items():
                for post in posts:
                    fleet.keep(brand, post)
    t = Transition("a", "negative_share", "firing", M0, M0, "k", 0.9, 0.1, 0.0, 0.2, 9.0)
    detector = Detector(settings.anomaly, ["a"])
    [event] = events_of([t], detector, a.store, fleet, settings.alerts)
    samples = event.evidence.samples
    assert len(samples) == settings.alerts.sample_posts
    assert all(s.event_id.startswith("spike-") and s.sentiment == "negative" for s in samples)
    authors = [x.handle for x in event.evidence.top_authors]
    assert authors and all(h.startswith("@crowd") for h in authors)
    assert authors[0] == "@crowd11"  # the most followers
    # From the evaluator's own reservoir alone, there would be nothing to quote.
    [alone] = events_of([t], detector, a.store, a.samples, settings.alerts)
    assert alone.evidence.samples == []
    # Once older than any alert window, the texts leave the compacted topic: a tombstone.
    producer.sent.clear()
    now += 60 * fleet.keep_minutes
    pub.collect([("m", 1)])
    assert await pub.flush()
    assert [(k, v) for _, k, v in producer.sent if v is None] == [(samples_key(("m", 1), M0), None)]
