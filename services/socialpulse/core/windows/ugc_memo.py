"""ugc_memo: a join view's UGC engagements per bucket, kept between reads while they hold.

UGC engagements join each engagement to the mention it is on, wherever that mention is, so a
read used to look up every engaged post of the longest window: a week of them at every scrape,
seconds per brand at the demo's rate. The count at one bucket index (a minute, or a rolled hour;
summed over the sources) changes only when a bucket there changes (``changed``), when a post it
found leaves the window (its oldest ``relied`` minute), or when a mention arrives for a post it
could not find (``pending``). A post id mentioned more than once (a copy read from two
partitions) is rarer and costs more: which mention a lookup finds can change when it arrives and
again when one of them is archived, so either recounts the brand (``dups``). Those are all
tracked, so a read recounts only the buckets they touch and gives the same counts as a full
recount.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Final

from socialpulse.core.windows.timeline import Source

# Mentions noted since the last read, per brand, past which the brand is recounted whole
# (a store nobody reads keeps no such list beyond it).
FRESH_CAP: Final = 100_000
_NEVER: Final = 2**62


class Block:
    """The UGC engagements at one bucket index, and what the count relied on."""

    __slots__ = ("by_idx", "oldest", "relied", "unresolved")

    def __init__(self, oldest: int) -> None:
        self.by_idx: dict[int, int] = {}
        self.oldest = oldest  # the window start it was read at
        self.relied = _NEVER  # the oldest minute of a post it found
        self.unresolved: list[str] = []  # engaged posts it did not find

    def found(self, minute: int) -> None:
        """Note a post found at ``minute``: the count holds while that minute is in the window."""
        if minute < self.relied:
            self.relied = minute


class UgcMemo:
    """Per brand and bucket index, the UGC engagements last read."""

    __slots__ = ("_blocks", "_dups", "_fresh", "_pending")

    def __init__(self) -> None:
        self._blocks: dict[str, dict[int, Block]] = {}
        # brand -> engaged post not found -> the bucket indexes that looked for it
        self._pending: dict[str, dict[str, set[int]]] = {}
        # brand -> (source, post id, minute) of mentions noted since the last read
        self._fresh: dict[str, list[tuple[Source, str, int]]] = {}
        # brand -> post id mentioned more than once -> the newest minute it was mentioned in
        self._dups: dict[str, dict[str, int]] = {}

    def changed(self, brand: str, block: int) -> None:
        """A bucket at index ``block`` changed, came or went: recount it at the next read."""
        blocks = self._blocks.get(brand)
        if blocks:
            gone = blocks.pop(block, None)
            if gone is not None:
                self._unlink(brand, block, gone)

    def forget(self, brand: str | None = None) -> None:
        """Recount every bucket of ``brand`` (of every brand when None) at the next read."""
        for b in [brand] if brand is not None else list(self._blocks):
            self._blocks.pop(b, None)
            self._pending.pop(b, None)
            self._fresh.pop(b, None)

    def mention(self, brand: str, source: Source, post: str, minute: int, held_here: bool) -> None:
        """A mention of ``post`` was indexed (``held_here``: its source held that id already)."""
        if held_here:
            self._dup(brand, post, minute)
            self.forget(brand)
            return
        if not self._blocks.get(brand):
            return  # nothing counted that it could change (copies are found at archiving)
        fresh = self._fresh.setdefault(brand, [])
        fresh.append((source, post, minute))
        if len(fresh) > FRESH_CAP:
            self.forget(brand)

    def archived(self, brand: str, posts: Iterable[str]) -> None:
        """Posts of ``brand`` moved to its archive: recount if a copy is among them."""
        dups = self._dups.get(brand)
        if dups and any(post in dups for post in posts):
            self.forget(brand)

    def expire(self, oldest: int) -> None:
        """Forget copies whose every mention left the window."""
        for dups in self._dups.values():
            for post in [p for p, minute in dups.items() if minute < oldest]:
                del dups[post]

    def _dup(self, brand: str, post: str, minute: int) -> None:
        dups = self._dups.setdefault(brand, {})
        dups[post] = max(minute, dups.get(post, minute))

    def valid(
        self,
        brand: str,
        oldest: int,
        held_elsewhere: Callable[[Sequence[tuple[Source, str, int]]], list[tuple[str, int]]],
    ) -> dict[int, Block]:
        """The brand's counts that still hold for a read whose window starts at ``oldest``.

        ``held_elsewhere`` gives the fresh mentions whose id another source or the archive
        holds too (post, minute): then what a lookup finds may have changed anywhere.
        """
        fresh = self._fresh.pop(brand, None)
        if fresh:
            pending = self._pending.get(brand, {})
            for _, post, _ in fresh:
                looked = pending.pop(post, None)
                for block in looked or ():
                    self.changed(brand, block)
            copies = held_elsewhere(fresh)
            if copies:
                for post, minute in copies:
                    self._dup(brand, post, minute)
                self.forget(brand)
        blocks = self._blocks.get(brand, {})
        stale = [
            k for k, b in blocks.items() if b.oldest > oldest or b.relied < oldest or k < oldest
        ]
        for k in stale:
            self.changed(brand, k)
        return blocks

    def keep(self, brand: str, counted: dict[int, Block]) -> None:
        """Hold the counts a read just made."""
        if not counted:
            return
        blocks = self._blocks.setdefault(brand, {})
        pending = self._pending.setdefault(brand, {})
        for k, b in counted.items():
            old = blocks.pop(k, None)
            if old is not None:
                self._unlink(brand, k, old)
            blocks[k] = b
            for post in b.unresolved:
                pending.setdefault(post, set()).add(k)

    def _unlink(self, brand: str, block: int, gone: Block) -> None:
        pending = self._pending.get(brand)
        if not pending:
            return
        for post in gone.unresolved:
            looked = pending.get(post)
            if looked is not None:
                looked.discard(block)
                if not looked:
                    del pending[post]

    def held(self) -> int:
        """Counts held, for tests and measures."""
        return sum(len(b) for b in self._blocks.values())
