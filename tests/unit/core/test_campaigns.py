"""Copy-paste campaigns fleet-wide: a campaign in several partitions is one incident."""

from __future__ import annotations

import random
import zlib

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import ALPHA_BETA, encoded, mention
from socialpulse.core import campaigns
from socialpulse.core.campaigns import CampaignPart, PartGrouping, campaign_key, group_parts
from socialpulse.core.neardup import MinHasher, similarity
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.windows.timeline import Source
from socialpulse.settings import Settings

NOW = 1_800_000_000.0
SETTINGS = Settings(brands=ALPHA_BETA)
GIFT = "alpha gave me a free gift card for testing the new phone, claim yours at the link"
VOTE = "vote for alpha in the awards tonight, every single vote counts so share this now"
HASHER = MinHasher(
    SETTINGS.spam.shingle_chars, SETTINGS.spam.minhash_bands, SETTINGS.spam.minhash_rows
)
THRESHOLD = SETTINGS.spam.near_duplicate_similarity


def _part(
    partition: int, text: str, first: float, brand: str = "a", posts: int = 30
) -> CampaignPart:
    sig = HASHER.fingerprint(text).signature.tobytes()
    return CampaignPart("mentions", partition, 7, brand, text, first, first + 60, posts, 12, sig)


def test_parts_of_one_text_in_two_partitions_are_one_campaign_keyed_by_the_first_minute() -> None:
    found = group_parts([_part(1, GIFT + " wow", NOW + 130), _part(0, GIFT, NOW + 5)], THRESHOLD)
    assert len(found) == 1
    (c,) = found
    assert (c.posts, c.accounts, c.first_seen, c.last_seen) == (60, 24, NOW + 5, NOW + 190)
    assert c.key == campaign_key("a", NOW + 5, GIFT)
    assert c.text == GIFT and len(c.parts) == 2


def test_distinct_texts_or_brands_are_distinct_campaigns() -> None:
    parts = [_part(0, GIFT, NOW), _part(1, VOTE, NOW), _part(2, GIFT, NOW, brand="b")]
    found = group_parts(parts, THRESHOLD)
    assert sorted((c.brand, c.text) for c in found) == [("a", GIFT), ("a", VOTE), ("b", GIFT)]
    assert len({c.key for c in found}) == 3  # one brand, one minute, two texts: two keys


def test_an_announced_campaign_keeps_its_key_when_an_earlier_part_joins() -> None:
    late = _part(1, GIFT, NOW + 600)
    (first,) = group_parts([late], THRESHOLD)
    known = {late.id: first.key}
    (joined,) = group_parts([late, _part(0, GIFT, NOW)], THRESHOLD, known)
    assert joined.key == first.key and joined.posts == 60


def _campaign_records(texts: list[str], partitions: int) -> dict[Source, list[tuple[int, bytes]]]:
    """Each text posted 80 times with small edits by 40 new accounts, keyed by author."""
    rng = random.Random(5)
    out: dict[Source, list[tuple[int, bytes]]] = {("mentions", p): [] for p in range(partitions)}
    for t, text in enumerate(texts):
        for n in range(80):
            words = text.split()
            words.insert(rng.randrange(len(words)), rng.choice(["wow", "omg", "pls"]))
            author = f"new{t}-{n % 40}"
            src = ("mentions", zlib.crc32(author.encode()) % partitions)
            m = mention(NOW - 1800 + t * 7 + n, author, 2, text=" ".join(words))
            out[src].append((len(out[src]), encoded(m)))
    return out


def _workers(texts: list[str]) -> list[Pipeline]:
    """Two workers holding one partition each, each reading the other's published parts."""
    records = _campaign_records(texts, 2)
    pods = []
    for p in range(2):
        pod = Pipeline(SETTINGS)
        pod.process_batch("mentions", records[("mentions", p)], ("mentions", p), NOW)
        pods.append(pod)
    for pod in pods:
        pod.signals.new_fleet()
        for other in pods:
            for src in other.signals.partitions:
                parts = other.signals.campaign_parts(src)
                latest = other.signals.latest_of(src)
                pod.signals.fleet_campaigns.apply(src, 10**6, latest, parts)
    return pods


def test_one_campaign_over_two_workers_is_one_incident_of_the_lead() -> None:
    pods = _workers([GIFT])
    # Each worker's own partition holds a campaign cluster of it.
    assert all(len(pod.signals.campaign_parts(pod.signals.partitions[0])) == 1 for pod in pods)
    views = [[(c.key, c.posts, c.accounts) for c in pod.signals.campaigns("a")] for pod in pods]
    assert views[0] == views[1] and len(views[0]) == 1
    assert views[0][0][1:] == (80, 40)
    pods[1].signals.lead_campaigns(False)
    transitions = [
        t for pod in pods if pod.signals.campaign_lead for t in pod.signals.campaign_transitions()
    ]
    assert [(t.brand, t.state, t.key) for t in transitions] == [("a", "firing", views[0][0][0])]


def test_two_campaigns_over_two_workers_are_two_incidents() -> None:
    pods = _workers([GIFT, VOTE])
    firing = pods[0].signals.campaign_transitions()
    assert len(firing) == 2 and all(t.observed >= 0.9 * 80 for t in firing)
    assert len({t.key for t in firing}) == 2
    assert {c.key for c in pods[1].signals.campaigns()} == {t.key for t in firing}


def test_a_campaign_over_partitions_of_one_worker_is_one() -> None:
    records = _campaign_records([GIFT], 4)
    pod = Pipeline(SETTINGS)
    for src, recs in records.items():
        pod.process_batch("mentions", recs, src, NOW)
    parts = [p for s in pod.signals.partitions for p in pod.signals.campaign_parts(s)]
    assert len(parts) > 1
    (c,) = pod.signals.campaigns()
    assert c.posts == sum(p.posts for p in parts) and len(c.parts) == len(parts)


def test_the_thresholds_judge_the_joined_parts() -> None:
    parts = [_part(p, GIFT, NOW + p, posts=8) for p in range(3)]  # 8 posts, 12 accounts each
    (joined,) = group_parts(parts, THRESHOLD, min_posts=20, min_accounts=10)
    assert (joined.posts, joined.accounts) == (24, 36)
    assert group_parts(parts[:2], THRESHOLD, min_posts=20, min_accounts=10) == []
    assert group_parts(parts, THRESHOLD, min_posts=20, min_accounts=37) == []


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the calls of ``group_parts`` (each a real grouping) from here on."""
    calls: list[int] = []
    real = campaigns.group_parts

    def counted(*args: object, **kwargs: object) -> list[campaigns.Campaign]:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(campaigns, "group_parts", counted)
    return calls


def test_unchanged_parts_are_not_grouped_again_and_a_changed_part_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _counting(monkeypatch)
    grouping = PartGrouping(THRESHOLD, min_posts=20, min_accounts=10)
    parts = [_part(p, GIFT, NOW + p, posts=8) for p in range(3)]
    (first,) = grouping(parts)
    assert grouping(list(parts)) == [first] and len(calls) == 1  # equal parts, not the same list
    grown = [*parts[:2], msgspec.structs.replace(parts[2], posts=9)]
    (again,) = grouping(grown)
    assert len(calls) == 2 and again.posts == first.posts + 1
    assert grouping(grown[:2]) == [] and len(calls) == 3  # a part gone: under the thresholds
    # Known keys are an input too: the campaign keeps the key it was announced under.
    (kept,) = grouping(grown, {grown[2].id: "announced"})
    assert kept.key == "announced" and len(calls) == 4
    assert grouping(grown, {grown[2].id: "announced"}) == [kept] and len(calls) == 4


def test_the_fleets_campaigns_are_grouped_again_only_when_a_part_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pods = _workers([GIFT])
    signals = pods[0].signals
    calls = _counting(monkeypatch)
    (first,) = signals.campaigns()
    assert signals.campaigns() == [first] and signals.campaigns("a") == [first]
    assert len(calls) == 1
    # The other partition's record arrives again, its cluster grown by a post.
    src = pods[1].signals.partitions[0]
    (part,) = pods[1].signals.campaign_parts(src)
    grown = msgspec.structs.replace(part, posts=part.posts + 1)
    assert signals.fleet_campaigns.apply(src, 10**6 + 1, signals.latest_of(src), [grown])
    (again,) = signals.campaigns()
    assert len(calls) == 2 and again.posts == first.posts + 1
    # A mention in a partition held here changes its live part.
    own = signals.partitions[0]
    m = mention(NOW - 100, "new0-99", 2, text=GIFT + " omg wow")
    pods[0].process_batch("mentions", [(10**5, encoded(m))], own, NOW)
    (latest,) = signals.campaigns()
    assert len(calls) == 3 and latest.posts == again.posts + 1
    assert signals.campaigns() == [latest] and len(calls) == 3


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(GIFT.split() + VOTE.split()), min_size=3, max_size=16),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from([0.3, 0.5, 0.6, 0.625, 0.8, 1.0]),
)
def test_parts_are_joined_as_by_the_similarity_of_each_pair(
    texts: list[list[str]], threshold: float
) -> None:
    """The numpy comparison in blocks joins what ``neardup.similarity`` pair by pair would."""
    parts = [_part(n, " ".join(words) + " alpha", NOW + n) for n, words in enumerate(texts)]
    sigs = [np.frombuffer(p.signature, dtype=np.uint32) for p in parts]
    root = list(range(len(parts)))

    def find(i: int) -> int:
        while root[i] != i:
            i = root[i]
        return i

    for i in range(len(parts)):
        for j in range(i + 1, len(parts)):
            if similarity(sigs[i], sigs[j]) >= threshold:
                root[max(find(i), find(j))] = min(find(i), find(j))
    want = {frozenset(n for n in range(len(parts)) if find(n) == r) for r in set(map(find, root))}
    got = {frozenset(p[1] for p in c.parts) for c in group_parts(parts, threshold)}
    assert got == want


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(GIFT.split()[:8] + VOTE.split()[:8]), min_size=3, max_size=10),
        min_size=2,
        max_size=24,
    ),
    st.lists(st.lists(st.booleans(), min_size=24, max_size=24), min_size=1, max_size=6),
    st.sampled_from([0.3, 0.5, 0.6, 1.0]),
)
def test_remembered_similarities_group_each_call_as_a_fresh_comparison(
    texts: list[list[str]], present: list[list[bool]], threshold: float
) -> None:
    """Calls with parts coming and going: the pairs remembered join what comparing anew joins."""
    pool = [
        _part(n, " ".join(words), NOW + n, brand="ab"[n % 2], posts=1 + n)
        for n, words in enumerate(texts)
    ]
    pool += [msgspec.structs.replace(pool[0], partition=99), _part(98, "", NOW)]  # twin, empty
    similar = campaigns.SimilarSignatures(threshold)
    for mask in present:
        parts = [p for p, keep in zip(pool, mask + [True, True], strict=False) if keep]
        want = group_parts(parts, threshold)
        assert group_parts(parts, threshold, similar=similar) == want
