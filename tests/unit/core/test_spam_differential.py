"""Differential tests: the spam detector and MinHash against plain reference implementations.

The production code is written for speed (numpy passes over a batch, locals, a shared empty
verdict); these references are the straightforward versions the tests hold it to.
"""

from __future__ import annotations

import random

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import mention
from socialpulse.core import neardup
from socialpulse.core.events import Mention
from socialpulse.core.neardup import (
    Fingerprint,
    MinHasher,
    NearDuplicateIndex,
    _Entry,
    normalise,
    similarity,
)
from socialpulse.core.spam import NO_CLUSTER, Cluster, SpamDetector, SpamReason, Verdict
from socialpulse.settings import SpamSettings

T0 = 1_767_225_600.0
M64 = 2**64 - 1
M32 = 2**32 - 1
PRIME = 1_099_511_628_211


def reference_fingerprint(hasher: MinHasher, text: str) -> tuple[str, list[int], list[int]]:
    """Normalised text, signature and band keys, one shingle and one hash at a time."""
    k, bands, rows = hasher._shingle, hasher._bands, hasher._rows
    norm = normalise(text)
    data = norm.encode().ljust(k, b"\0")
    folded = []
    for i in range(len(data) - k + 1):
        h = data[i]
        for byte in data[i + 1 : i + k]:
            h = (h * PRIME + byte) & M64
        folded.append((h ^ (h >> 32)) & M32)
    a, b = hasher._a[:, 0].tolist(), hasher._b[:, 0].tolist()
    signature = [min((ai * f + bi) & M32 for f in folded) for ai, bi in zip(a, b, strict=True)]
    keys = []
    for band in range(bands):
        key = ((band + 1) * PRIME + signature[band * rows]) & M64
        for j in range(1, rows):
            key = (key * PRIME + signature[band * rows + j]) & M64
        keys.append(key)
    return norm, signature, keys


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(alphabet="ab cdé😀@h:/.1Z", max_size=80), min_size=1, max_size=8),
    st.sampled_from([(5, 8, 4), (3, 4, 2), (7, 2, 5)]),
)
def test_signatures_equal_the_reference(texts: list[str], shape: tuple[int, int, int]) -> None:
    hasher = MinHasher(*shape, cache_entries=0)
    for text, fp in zip(texts, hasher.fingerprints(texts), strict=True):
        norm, signature, keys = reference_fingerprint(hasher, text)
        assert fp.text == norm
        assert fp.signature.tolist() == signature
        assert list(fp.bands) == keys


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.text(alphabet="ab cdé😀@h:/.1Z", max_size=80), min_size=1, max_size=8),
    st.integers(1, 400),
)
def test_signatures_in_smaller_blocks_of_hashes_equal_the_reference(
    texts: list[str], values: int
) -> None:
    """A large batch hashes fewer functions per numpy call (down to one at a time)."""
    hasher = MinHasher(5, 8, 4, cache_entries=0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(neardup, "_BLOCK_VALUES", values)
        fps = hasher.fingerprints(texts)
    for text, fp in zip(texts, fps, strict=True):
        _, signature, keys = reference_fingerprint(hasher, text)
        assert fp.signature.tolist() == signature
        assert list(fp.bands) == keys


class ReferenceIndex(NearDuplicateIndex):
    """The LSH index written plainly: a Python loop over the bands, ``similarity`` per candidate."""

    def nearest(self, fp: Fingerprint, threshold: float) -> tuple[int, float] | None:
        best: tuple[int, float] | None = None
        seen: set[int] = set()
        for band in fp.bands:
            entry = self._by_band.get(band)
            if entry is None or entry.post in seen:
                continue
            seen.add(entry.post)
            sim = similarity(fp.signature, entry.signature)
            if sim >= threshold and (best is None or sim > best[1]):
                best = (entry.post, sim)
        return best

    def add(self, post: int, ts: float, fp: Fingerprint) -> int:
        entry = _Entry(ts, post, fp.signature, fp.bands)
        self._entries.append(entry)
        for band in fp.bands:
            self._by_band[band] = entry
        return len(self)

    def expire(self, now: float) -> list[int]:
        gone = []
        while self._entries and (
            self._entries[0].ts <= now - self.window or len(self._entries) > self.max_posts
        ):
            entry = self._entries.popleft()
            gone.append(entry.post)
            for band in entry.bands:
                if self._by_band.get(band) is entry:
                    del self._by_band[band]
        return gone


class ReferenceDetector(SpamDetector):
    """The verdict rules written plainly, one reason set per mention (the reference)."""

    def __init__(self, settings: SpamSettings) -> None:
        super().__init__(settings)
        self.index = ReferenceIndex(settings.window_seconds, settings.max_posts, native=False)

    def judge(self, mention: Mention, fp: Fingerprint, ts: float) -> Verdict:  # noqa: C901
        s = self.settings
        assert ts == mention.created_at.timestamp()
        if ts > self._now:
            self._now = ts
            self._expire(ts)
        reasons: set[SpamReason] = set()
        author = mention.author
        recent = self._posting_times(author.id, ts)
        if len(recent) >= s.bot_rate_posts:
            reasons.add("bot_rate")
        if (
            not author.verified
            and author.followers <= s.new_account_max_followers
            and len(recent) >= s.new_account_burst_posts
        ):
            reasons.add("new_account_burst")
        if len(fp.text) < s.min_text_chars:
            return Verdict(frozenset(reasons), NO_CLUSTER)
        post = self._next
        self._next += 1
        exact = self._texts.get(fp.text)
        if exact is not None and exact[0] in self._clusters:
            cluster = self._clusters[exact[0]]
            if exact[1] != author.id:
                reasons.add("exact_repost")
        else:
            near = self.index.nearest(fp, s.near_duplicate_similarity)
            cluster_id = self._post_cluster.get(near[0]) if near is not None else None
            found = self._clusters.get(cluster_id) if cluster_id is not None else None
            if found is None:
                found = self._clusters[post] = Cluster(post, fp.text, ts, ts, author.id)
            cluster = found
            self._texts[fp.text] = (cluster.id, author.id)
        self.index.add(post, ts, fp)
        self._post_cluster[post] = cluster.id
        cluster.live += 1  # before any eviction, so the post's own cluster outlives it
        if len(self.index) > s.max_posts:
            self._expire(self._now)
        cluster.posts += 1
        cluster.last_seen = max(cluster.last_seen, ts)
        cluster.add_account(author.id)
        if cluster.posts >= s.near_duplicate_min_posts and "exact_repost" not in reasons:
            if exact is None or exact[1] == author.id:
                reasons.add("near_duplicate")
        if self._is_campaign(cluster):
            reasons.add("campaign")
        return Verdict(frozenset(reasons), cluster.id)


def _stream(seed: int, n: int) -> list[Mention]:
    """Copies, small edits, reposts, bursts of few accounts and distinct texts, in time order."""
    rng = random.Random(seed)
    words = ["".join(rng.choices("abcdefgh", k=rng.randint(2, 6))) for _ in range(30)]
    bases = [" ".join(rng.sample(words, 8)) for _ in range(6)]
    out = []
    ts = T0
    for _ in range(n):
        ts += rng.choice([0.0, 0.5, 3.0, 40.0])
        kind = rng.random()
        if kind < 0.4:
            text = rng.choice(bases)
        elif kind < 0.7:
            ws = rng.choice(bases).split()
            ws[rng.randrange(len(ws))] = rng.choice(words)
            text = " ".join(ws)
        elif kind < 0.8:
            text = "short"
        else:
            text = " ".join(rng.sample(words, 9))
        author = f"u{rng.randrange(12)}"
        out.append(mention(ts, author, rng.choice([1, 5, 500]), text=text))
    return out


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([100, 150]), st.sampled_from([120, 3600]))
def test_verdicts_equal_the_reference(seed: int, max_posts: int, window: int) -> None:
    """Small windows and caps, so expiry, eviction and the text compaction all happen."""
    s = SpamSettings(
        window_seconds=window,
        max_posts=max_posts,
        max_authors=100,
        bot_rate_posts=6,
        new_account_burst_posts=3,
        near_duplicate_min_posts=3,
        campaign_min_posts=8,
        campaign_min_accounts=4,
    )
    mentions = _stream(seed, 1500)
    ours, ref = SpamDetector(s), ReferenceDetector(s)
    got = [ours.classify(m) for m in mentions]
    want = [ref.classify(m) for m in mentions]
    assert got == want
    assert any(v.flagged for v in want)
    assert [c.id for c in ours.campaigns()] == [c.id for c in ref.campaigns()]
    # The whole memory too (the index's band map included), as the state topic would get it.
    assert msgspec.msgpack.encode(ours.state()) == msgspec.msgpack.encode(ref.state())
    _same_band_map(ours.index, ref.index)


def _same_band_map(ours: NearDuplicateIndex, ref: NearDuplicateIndex) -> None:
    """Every band key of every post held names the same post in both, or none in both.

    Read by lookups of one key at a time (the compiled index keeps its map in C).
    """
    for _, _, signature, bands in ref.entries():
        for band in bands:
            entry = ref._by_band.get(band)
            sig = np.frombuffer(signature, dtype=np.uint32) if entry is None else entry.signature
            probe = Fingerprint("", sig, (band,) * len(bands))
            found = ours.nearest(probe, 0.0)
            assert (found[0] if found else None) == (entry.post if entry else None), band


def test_reference_sees_every_reason() -> None:
    """The differential stream exercises every reason, so the comparison covers each rule."""
    s = SpamSettings(
        window_seconds=600, max_posts=150, max_authors=100, bot_rate_posts=6,
        new_account_burst_posts=3, near_duplicate_min_posts=3, campaign_min_posts=8,
        campaign_min_accounts=4,
    )  # fmt: skip
    ref = ReferenceDetector(s)
    seen: set[SpamReason] = set()
    for m in _stream(1, 600):
        seen |= ref.classify(m).reasons
    assert seen == {"bot_rate", "new_account_burst", "exact_repost", "near_duplicate", "campaign"}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="ab cdé😀@h:/.1Z", max_size=60), max_size=12), st.integers(0, 6))
def test_texts_prepared_ahead_give_the_fingerprints_computed_alone(
    texts: list[str], entries: int
) -> None:
    """``prepare`` caches at most ``cache_entries`` texts, each as ``fingerprints`` gives it."""
    hasher = MinHasher(5, 8, 4, cache_entries=entries)
    hasher.prepare(texts)
    assert len(hasher._cache) <= entries
    alone = MinHasher(5, 8, 4, cache_entries=0)
    for text in texts:
        want, got = alone.fingerprints([text])[0], hasher.fingerprint(text)
        assert (got.text, got.signature.tolist(), got.bands) == (
            want.text,
            want.signature.tolist(),
            want.bands,
        )
