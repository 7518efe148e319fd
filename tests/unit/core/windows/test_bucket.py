"""Buckets' reach sketches: accurate, unioned exactly after a restore and after a roll-up."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from socialpulse.core.windows.accumulator import Accumulator
from socialpulse.core.windows.bucket import Bucket, new_reach_sketch, reach_union
from socialpulse.core.windows.measures import roll_into


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


# (worker, minute, user) triples: users seen by some worker in some minute of one hour.
_SEEN = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 59), st.integers(0, 3000)), max_size=600
)


@settings(max_examples=60, deadline=None)
@given(_SEEN)
def test_reach_merged_over_minutes_hours_and_workers_is_the_sketch_of_the_union(
    seen: list[tuple[int, int, int]],
) -> None:
    """However the ids are split (minutes, a rolled hour, workers) the estimate is the same.

    The same estimate as one sketch of every id, and exact below a few hundred users.
    """
    minutes: dict[tuple[int, int], Bucket] = {}
    for worker, minute, user in seen:
        b = minutes.setdefault((worker, minute), Bucket(reach=new_reach_sketch()))
        assert b.reach is not None
        b.reach.update(f"u{user}")
    whole = new_reach_sketch()
    for _, _, user in seen:
        whole.update(f"u{user}")
    want = reach_union([whole])
    by_minute = Accumulator()
    for key in sorted(minutes, key=lambda k: -k[1]):
        by_minute.add(minutes[key])
    hours: dict[int, Bucket] = {}
    for (worker, _), b in sorted(minutes.items(), key=lambda kv: -kv[0][1]):
        into = hours.setdefault(worker, Bucket(minutes=60))
        roll_into(into, Bucket.from_bytes(b.to_bytes()))
    rolled = [Bucket.from_bytes(h.to_bytes()) for h in hours.values()]
    fleet = Accumulator()
    for h in rolled:  # each worker's hour, merged as the fleet's readers merge them
        fleet.add(h)
    assert by_minute.numbers()["reach"] == want
    assert fleet.numbers()["reach"] == want
    assert reach_union(h.reach for h in rolled) == want
    distinct = len({user for _, _, user in seen})
    if distinct < 300:
        assert want == distinct
