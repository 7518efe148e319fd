"""Epochs order state writers; a restore picks the newest version whose parts are all there."""

from __future__ import annotations

from socialpulse.kafka.changelog import ERA, _newest_whole, next_epoch


def test_a_newer_generation_is_the_epoch() -> None:
    assert next_epoch(0, 1) == 1
    assert next_epoch(5, 6) == 6
    assert next_epoch(ERA * 3 + 5, 9) == ERA * 3 + 9


def test_a_reset_group_moves_to_the_next_era() -> None:
    # Generations started again (the group was deleted): the new owner must still outrank.
    assert next_epoch(40, 1) == ERA + 1
    assert next_epoch(40, 40) == ERA + 40
    assert next_epoch(ERA + 7, 3) == 2 * ERA + 3


def test_without_a_generation_every_restore_moves_on() -> None:
    first = next_epoch(0, -1)
    second = next_epoch(first, -1)
    assert 0 < first < second


def test_newest_whole_version_wins() -> None:
    live = {
        (5, 0, 0): (b"a", 1, 3),
        (6, 2, 0): (b"b", 2, 3),
        (6, 2, 1): (b"c", 2, 3),
        (6, 3, 0): (b"d", 3, 3),  # parts 1 and 2 never landed
        (6, 3, 2): (b"f", 3, 3),
    }
    assert _newest_whole(live) == ((6, 2), 2)
    del live[(6, 2, 1)]
    assert _newest_whole(live) == ((5, 0), 1)
    assert _newest_whole({(1, 1, 1): (b"x", 2, 3)}) is None


def test_parts_of_different_sizes_are_not_one_version() -> None:
    live = {(2, 4, 0): (b"a", 2, 3), (2, 4, 1): (b"b", 3, 3)}
    assert _newest_whole(live) is None
