"""The per-text caches' bound: over it, the newest half is kept, in order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from socialpulse.core.language import _Lru
from socialpulse.core.textcache import trimmed


def test_a_cache_within_its_bound_is_left_as_it_is() -> None:
    cache = {"a": 1, "b": 2}
    assert trimmed(cache, 2) is cache


@given(st.integers(0, 50), st.integers(0, 200))
def test_a_cache_over_its_bound_keeps_its_newest_half_in_order(entries: int, held: int) -> None:
    cache = {f"t{i}": i for i in range(held)}
    kept = trimmed(cache, entries)
    assert len(kept) <= entries
    assert list(kept.items()) == list(cache.items())[len(cache) - len(kept) :]
    if held > entries:
        assert len(kept) == entries // 2


def test_the_language_cache_keeps_what_was_used_last() -> None:
    lru = _Lru(4)
    for text in "abcd":
        lru.put(text, "en")
    assert lru.get("a") == "en"  # used: now the newest
    lru.put("e", "de")  # over the bound: the newest half stays
    assert [lru.get(t) for t in "abcde"] == ["en", None, None, None, "de"]
    assert len(lru._d) == 2
