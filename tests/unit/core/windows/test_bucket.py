"""Buckets' reach sketches: accurate at a million users, and unioned exactly after a restore."""

from __future__ import annotations

import math
import random

from socialpulse.core.windows.bucket import Bucket, new_reach_sketch, reach_union


def test_restored_reach_sketches_union_exactly_like_the_originals() -> None:
    """A restart must not move exported reach by a single user."""
    rng = random.Random(3)
    for _ in range(5):
        buckets = []
        for _ in range(60):
            sketch = new_reach_sketch()
            for _ in range(rng.randrange(1, 400)):
                sketch.update(f"u{rng.randrange(5000)}")
            buckets.append(Bucket(reach=sketch))
        restored = [Bucket.from_bytes(b.to_bytes()) for b in buckets]
        twice = [Bucket.from_bytes(b.to_bytes()) for b in restored]
        want = reach_union(b.reach for b in buckets)
        assert reach_union(b.reach for b in restored) == want
        assert reach_union(b.reach for b in twice) == want


def test_reach_sketch_error_at_one_million_users() -> None:
    """1,000,000 distinct users spread over 60 one-minute sketches, unioned: error ≤ 2 %."""
    sketches = [new_reach_sketch() for _ in range(60)]
    rng = random.Random(7)
    for n in range(1_000_000):
        sketches[rng.randrange(60)].update(f"user-{n}")
    estimate = reach_union(sketches)
    error = abs(estimate - 1_000_000) / 1_000_000
    assert error <= 0.02, error
    small = new_reach_sketch()
    for n in range(100):
        small.update(f"u{n}")
        small.update(f"u{n}")
    assert reach_union([small]) == 100  # small sets are exact after rounding
    assert math.isclose(reach_union([]), 0)
