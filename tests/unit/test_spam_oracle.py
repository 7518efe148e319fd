"""The oracles' spam verdicts (tests/spam_oracle.py) are the pipeline's, however it is fed."""

from __future__ import annotations

import random
import zlib

import msgspec

from builders import ALPHA_BETA, encoded, mention
from socialpulse.core.pipeline import Pipeline
from socialpulse.settings import Settings
from spam_oracle import spam_verdicts

NOW = 1_800_000_000.0
SETTINGS = Settings(brands=ALPHA_BETA)
GIFT = "alpha gave me a free gift card for testing the new phone, claim yours at the link"


def _records() -> list[tuple[int, int, bytes]]:
    """A campaign of small edits, a bot, genuine posts and the brand's own, over 3 partitions."""
    rng = random.Random(3)
    events = []
    for n in range(60):
        words = GIFT.split()
        words.insert(rng.randrange(len(words)), rng.choice(["wow", "omg", "pls"]))
        events.append(mention(NOW - 900 + n, f"new{n % 25}", 2, text=" ".join(words)))
    for n in range(40):
        text = f"alpha {' '.join(rng.sample(GIFT.split(), 8))} beta"
        events.append(mention(NOW - 800 + n * 3, f"fan{n}", 500, text=text))
    events += [mention(NOW - 700 + n, "bot", 50, text=f"alpha deal number {n}") for n in range(35)]
    events += [mention(NOW - 600 + n, "brand", 9, text=GIFT, handle="@alpha") for n in range(30)]
    rng.shuffle(events)
    offsets = [0, 0, 0]
    out = []
    for m in events:
        partition = zlib.crc32(m.author.id.encode()) % 3
        out.append((partition, offsets[partition], encoded(m)))
        offsets[partition] += 1
    # A re-sent copy in the same partition is a duplicate: never judged twice.
    out.append((out[0][0], offsets[out[0][0]], out[0][2]))
    return out


def test_the_verdicts_and_counts_are_those_of_the_pipeline() -> None:
    records = _records()
    pipeline = Pipeline(SETTINGS)
    for partition in range(3):
        batch = [(offset, value) for p, offset, value in records if p == partition]
        pipeline.process_batch("mentions", batch, ("mentions", partition), NOW)
    verdicts = spam_verdicts(reversed(records), SETTINGS)  # any order: placed by offset
    assert verdicts.counts == pipeline.signals.filtered
    reasons = {r for counts in verdicts.counts.values() for r, n in counts.items() if n}
    assert {"campaign", "near_duplicate", "bot_rate"} <= reasons
    kpis = pipeline.store.snapshot(NOW)["a"]["1h"]
    assert kpis.filtered == sum(verdicts.counts["a"].values())
    assert len(verdicts.reasons) == kpis.filtered  # one per mention, each naming alpha
    own = {msgspec.json.decode(v)["event_id"] for _, _, v in records if b'"@alpha"' in v}
    assert own and not own & set(verdicts.reasons)  # the brand's own posts are never judged


def test_mentions_the_service_rejects_are_not_judged() -> None:
    records = _records()
    none = spam_verdicts(records, SETTINGS, accepted=lambda m: m.author.id.startswith("fan"))
    assert none.reasons == {}
