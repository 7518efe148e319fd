"""The trends topic: every worker's trend buckets merged into one view, the same on every pod."""

from __future__ import annotations

import asyncio
import random
import zlib
from dataclasses import dataclass, field

import msgspec

from builders import ALPHA_BETA, encoded, mention
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.signals import PART_TEXT_CHARS, PARTS_PER_PARTITION
from socialpulse.core.trends import FleetTrends, PublishedBucket
from socialpulse.core.windows.timeline import Source
from socialpulse.export.collector import _signal_metrics
from socialpulse.kafka.trends import TrendPublisher, apply_record, encode_bucket, encode_campaigns
from socialpulse.settings import Settings

NOW = 1_800_000_000.0
PARTITIONS = 4
SETTINGS = Settings(
    brands=ALPHA_BETA, trends={"baseline_buckets": 2, "recent_buckets": 1, "min_count": 3}
)
WORDS = "morning latte queue store barista sunday cold brew cake music seat window".split()


@dataclass
class FakeProducer:
    """Keeps every record sent, in order, as a one-partition topic would."""

    log: list[tuple[bytes, bytes]] = field(default_factory=list)
    fail: bool = False

    async def send(self, topic: str, value: bytes, key: bytes) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail:
            fut.set_exception(TimeoutError("no broker"))
        else:
            self.log.append((key, value))
            fut.set_result(None)
        return fut


def _records(seed: int = 1) -> dict[Source, list[tuple[int, bytes]]]:
    """Fans' distinct posts over three minutes, then a burst of #alphafest, keyed by author."""
    rng = random.Random(seed)
    out: dict[Source, list[tuple[int, bytes]]] = {("mentions", p): [] for p in range(PARTITIONS)}
    events = [(NOW - 240 + n * 2, f"fan{n}", "") for n in range(90)]
    events += [(NOW - 50 + n, f"fest{n}", " #alphafest") for n in range(40)]
    for ts, author, tag in events:
        text = "alpha " + " ".join(rng.sample(WORDS, 6)) + tag
        src = ("mentions", zlib.crc32(author.encode()) % PARTITIONS)
        out[src].append((len(out[src]), encoded(mention(ts, author, 500, text=text))))
    return out


def _fed(
    sources: list[Source],
    records: dict[Source, list[tuple[int, bytes]]],
    settings: Settings = SETTINGS,
) -> Pipeline:
    p = Pipeline(settings)
    for s in sources:
        p.process_batch("mentions", records[s], s, NOW)
    return p


async def _through_topic(pods: list[Pipeline]) -> list[FleetTrends]:
    """Every pod publishes its partitions' buckets and campaign parts; every pod reads them all."""
    topic = FakeProducer()
    for pod in pods:
        await TrendPublisher("t", topic, pod.signals).publish(pod.signals.partitions)
    assert topic.log
    fleets = []
    for pod in pods:
        fleet = pod.signals.new_fleet()
        for key, value in topic.log:
            assert apply_record(fleet, key, value, pod.signals.fleet_campaigns)
        fleets.append(fleet)
    return fleets


async def test_every_pod_reads_the_trends_of_the_whole_fleet() -> None:
    records = _records()
    alone = _fed(sorted(records), records)  # one worker with every partition
    want = alone.signals.trends_of("a", NOW - 1)
    assert "#alphafest" in [t.term for t in want]
    pods = [_fed([("mentions", 0), ("mentions", 3)], records), _fed([("mentions", 1)], records)]
    pods.append(_fed([("mentions", 2)], records))
    # Without the fleet view a pod sees its own partitions' share only.
    assert all(pod.signals.trends_of("a", NOW - 1) != want for pod in pods)
    await _through_topic(pods)
    for pod in pods:
        assert pod.signals.trends_of("a", NOW - 1) == want
        assert pod.signals.trends_ready("a", NOW - 1)
        assert pod.signals.event_time == alone.signals.event_time


async def test_only_changed_buckets_are_sent_and_a_failed_send_is_retried() -> None:
    records = _records()
    p = _fed([("mentions", 0)], records)
    topic = FakeProducer(fail=True)
    pub = TrendPublisher("t", topic, p.signals)
    await pub.publish([("mentions", 0)])
    assert pub.failures == 1 and not topic.log
    topic.fail = False
    await pub.publish([("mentions", 0)], force=True)  # the failed ones, nothing new
    sent = len(topic.log)
    assert sent == pub.published > 0
    await pub.publish([("mentions", 0)], force=True)
    assert len(topic.log) == sent  # nothing changed since


def test_an_older_version_never_replaces_a_newer_one() -> None:
    p = _fed(sorted(_records()), _records())
    bucket = p.signals.brand_trends("a")  # this process's partitions
    fleet = p.signals.new_fleet()
    assert bucket is not None
    index = max(bucket.buckets)
    counts, heavy = bucket.buckets[index].serialized()
    empty = Pipeline(SETTINGS).signals.new_fleet().brand("a")
    assert empty is not None and not empty.buckets
    src = ("mentions", 0)
    assert apply_record(
        fleet, *encode_bucket(PublishedBucket(src, "a", index, 10, NOW, counts, heavy))
    )
    blank_counts, blank_heavy = empty._merged(0, 0).serialized()
    assert not apply_record(
        fleet, *encode_bucket(PublishedBucket(src, "a", index, 9, NOW, blank_counts, blank_heavy))
    )
    assert fleet.stale == 1
    merged = fleet.brand("a")
    assert merged is not None
    assert merged.buckets[index].serialized()[0] == counts
    assert apply_record(fleet, b"\x93", b"junk") is None
    assert not apply_record(
        fleet, *encode_bucket(PublishedBucket(src, "zzz", index, 11, NOW, counts, heavy))
    )


def test_restored_buckets_are_announced_again() -> None:
    records = _records()
    p = _fed([("mentions", 1)], records)
    first = p.signals.trend_updates(("mentions", 1))
    assert first and not p.signals.trend_updates(("mentions", 1))
    q = Pipeline(SETTINGS)
    q.signals.restore(("mentions", 1), p.signals.snapshot(("mentions", 1)))
    again = q.signals.trend_updates(("mentions", 1))
    assert [(b, i) for b, i, *_ in again] == [(b, i) for b, i, *_ in first]


def _campaign_records(
    partitions: int, posts: int = 80, accounts: int = 40
) -> dict[Source, list[tuple[int, bytes]]]:
    """One copy-paste campaign, ``posts`` small edits by ``accounts`` new ones, keyed by author."""
    rng = random.Random(8)
    text = "alpha gave me a free gift card for testing the new phone, claim yours at the link"
    out: dict[Source, list[tuple[int, bytes]]] = {("mentions", p): [] for p in range(partitions)}
    for n in range(posts):
        words = text.split()
        words.insert(rng.randrange(len(words)), rng.choice(["wow", "omg", "pls"]))
        author = f"new{n % accounts}"
        src = ("mentions", zlib.crc32(author.encode()) % partitions)
        m = mention(NOW - 600 + n, author, 2, text=" ".join(words))
        out[src].append((len(out[src]), encoded(m)))
    return out


def _gauge(pod: Pipeline) -> dict[str, float]:
    (_, family) = list(_signal_metrics(pod.signals))
    return {s.labels["brand"]: s.value for s in family.samples}


async def test_a_campaign_over_two_workers_is_one_through_the_topic() -> None:
    records = _campaign_records(2)
    pods = [_fed([("mentions", p)], records) for p in range(2)]
    # Before either reads the topic, each sees its own part: two campaigns, two incidents.
    assert sum(_gauge(pod)["a"] for pod in pods) == 2
    fleet = (await _through_topic(pods))[-1]
    keys = [[c.key for c in pod.signals.campaigns("a")] for pod in pods]
    assert keys[0] == keys[1] and len(keys[0]) == 1
    (campaign,) = pods[1].signals.campaigns("a")
    assert (campaign.posts, campaign.accounts) == (80, 40)
    pods[1].signals.lead_campaigns(False)  # the owner of partition 0 announces
    assert [_gauge(pod)["a"] for pod in pods] == [1, 0]
    # A re-send taken at an older offset never replaces the newer parts.
    src = ("mentions", 1)
    assert not apply_record(
        fleet, *encode_campaigns(src, 0, NOW, []), pods[1].signals.fleet_campaigns
    )
    assert pods[1].signals.fleet_campaigns.stale == 1


async def test_filtered_counts_are_the_fleets_through_the_topic() -> None:
    """Each pod's partitions filter their share of a campaign; every pod reports the sum."""
    wide = Settings(brands=ALPHA_BETA, trends={"baseline_buckets": 2, "recent_buckets": 30})
    records = _campaign_records(2)
    alone = _fed(sorted(records), records, wide)
    at = alone.signals.event_time
    want = alone.signals.filtered_of("a", at)
    assert sum(want.values()) == sum(alone.signals.filtered["a"].values()) > 0
    pods = [_fed([("mentions", p)], records, wide) for p in range(2)]
    own = [pod.signals.filtered_of("a", at) for pod in pods]
    assert all(0 < sum(o.values()) < sum(want.values()) for o in own)
    assert {r: own[0][r] + own[1][r] for r in want} == want
    await _through_topic(pods)
    for pod in pods:
        assert pod.signals.filtered_of("a", at) == want
        assert sum(pod.signals.filtered_of("b", at).values()) == 0


def test_a_bucket_record_of_an_older_release_is_read_with_nothing_filtered() -> None:
    p = _fed(sorted(_records()), _records())
    state = p.signals.brand_trends("a")
    assert state is not None
    index = max(state.buckets)
    counts, heavy = state.buckets[index].serialized()
    key, _ = encode_bucket(PublishedBucket(("mentions", 0), "a", index, 5, NOW, counts, heavy))
    old = msgspec.msgpack.encode([5, NOW, counts, heavy])  # the value before filtered counts
    fleet = p.signals.new_fleet()
    assert apply_record(fleet, key, old)
    merged = fleet.brand("a")
    assert merged is not None and merged.buckets[index].serialized()[0] == counts
    assert merged.filtered(NOW) == {}
    # And a reader of that release reads a record with them (the trailing field skipped).
    _, new = encode_bucket(
        PublishedBucket(("mentions", 0), "a", index, 6, NOW, counts, heavy, {"campaign": 3})
    )
    before = msgspec.msgpack.decode(new, type=_OlderValue)
    assert (before.offset, before.counts, before.heavy) == (6, counts, heavy)
    assert apply_record(fleet, key, new)
    merged = fleet.brand("a")
    assert merged is not None and merged.filtered(index * 60.0) == {"campaign": 3}


class _OlderValue(msgspec.Struct, array_like=True):
    """A bucket's value as the release before filtered counts reads it."""

    offset: int
    latest: float
    counts: bytes
    heavy: bytes


async def _three_pods(posts: int, accounts: int) -> list[Pipeline]:
    """A campaign over three partitions, one pod each, every pod reading the others' parts."""
    records = _campaign_records(3, posts, accounts)
    pods = [_fed([("mentions", p)], records) for p in range(3)]
    await _through_topic(pods)
    return pods


async def test_a_campaign_below_the_thresholds_in_every_partition_is_one_fleet_wide() -> None:
    """36 posts from 18 accounts over 3 partitions: about 12 from 6 in each, under 20 and 10."""
    pods = await _three_pods(36, 18)
    spam = SETTINGS.spam
    shares = []
    for pod in pods:
        (source,) = pod.signals.partitions
        part = pod.signals._partitions[source]  # noqa: SLF001 - the partition's own detector
        (cluster,) = part.spam.near_duplicates(10)
        assert cluster.posts < spam.campaign_min_posts or (
            cluster.account_count < spam.campaign_min_accounts
        )
        assert not part.spam.campaigns()
        # A mention's verdict is its partition's: near-duplicates here, never ``campaign``.
        assert pod.signals.filtered["a"]["campaign"] == 0
        assert pod.signals.filtered["a"]["near_duplicate"] > 0
        shares.append((cluster.posts, cluster.account_count))
    views = [[(c.key, c.posts, c.accounts) for c in pod.signals.campaigns("a")] for pod in pods]
    assert views[0] == views[1] == views[2]
    [(key, posts, accounts)] = views[0]
    assert (posts, accounts) == tuple(map(sum, zip(*shares, strict=True))) == (36, 18)
    for pod in pods[1:]:
        pod.signals.lead_campaigns(False)
    assert [_gauge(pod)["a"] for pod in pods] == [1, 0, 0]
    [incident] = pods[0].signals.campaign_transitions()
    assert (incident.state, incident.key, incident.observed) == ("firing", key, 36)


async def test_near_duplicates_below_the_thresholds_fleet_wide_are_no_campaign() -> None:
    pods = await _three_pods(15, 8)
    assert all(pod.signals.campaigns() == [] for pod in pods)
    assert all(sum(_gauge(pod).values()) == 0 for pod in pods)
    assert all(pod.signals.campaign_transitions() == [] for pod in pods)


async def test_a_partitions_campaign_record_is_bounded() -> None:
    """More near-duplicate clusters of long texts than a record holds: the largest, cut."""
    rng = random.Random(4)
    records: list[tuple[int, bytes]] = []
    for c in range(PARTS_PER_PARTITION + 40):
        words = [f"{rng.choice('bcdfghjklmnprstvz')}{rng.choice('aeiou')}x{c}" for _ in range(400)]
        base = "alpha " + " ".join(words)
        for n in range(3 + c % 5):
            m = mention(NOW - 900 + c, f"w{c}-{n}", 500, text=f"{base} {n}")
            records.append((len(records), encoded(m)))
    pod = Pipeline(SETTINGS)
    pod.process_batch("mentions", records, ("mentions", 0), NOW)
    parts = pod.signals.campaign_parts(("mentions", 0))
    assert len(parts) == PARTS_PER_PARTITION
    assert all(len(p.text) == PART_TEXT_CHARS for p in parts)
    assert min(p.posts for p in parts) >= max(
        c.posts
        for c in pod.signals._partitions[("mentions", 0)].spam.near_duplicates(10**6)  # noqa: SLF001
        if c.id not in {p.cluster for p in parts}
    )
    topic = FakeProducer()
    await TrendPublisher("t", topic, pod.signals).publish(pod.signals.partitions)
    assert max(len(v) for _, v in topic.log) < 250_000
