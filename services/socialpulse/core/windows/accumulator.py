"""Accumulation: buckets summed over a window, and the summed counts frozen into KPIs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, cast

from socialpulse.core.catalogue import BUCKET_ONLY_KINDS, MEASURES
from socialpulse.core.events import ENGAGEMENT_TYPES, INTERACTION_TYPES
from socialpulse.core.kpis import SENTIMENTS, WindowKpis
from socialpulse.core.windows.bucket import AuthorTally, Bucket
from socialpulse.core.windows.measures import CODE, add_counts
from socialpulse.core.windows.timeline import bucket_of

# The measures merged over a window, in catalogue order.
_MERGED: Final = tuple(m for m in MEASURES if m.kind not in BUCKET_ONLY_KINDS)
# The measures that read as one number over the window, and how.
_NUMBERS: Final = tuple((m.name, read) for m in _MERGED if (read := CODE[m.kind].read) is not None)


def _merge_source() -> tuple[str, dict[str, Any]]:
    """Source of ``Accumulator.add`` written out from the catalogue, and the merges it calls.

    Numbers are summed inline; any other measure is merged by its kind unless the bucket left it
    empty. Written out (as ``dataclasses`` writes ``__init__``) because a loop over the measures
    cost a third more per bucket merged than hand-written code; this costs no more than it.
    """
    lines = ["def add(self, b):"]
    merges: dict[str, Any] = {}
    for m in _MERGED:
        if not m.name.isidentifier():
            raise ValueError(f"measure name {m.name!r} is not an identifier")
        merge = CODE[m.kind].merge
        if merge is None:
            lines.append(f"    self.{m.name} += b.{m.name}")
        else:
            merges[f"merge_{m.name}"] = merge
            lines.append(f"    if b.{m.name}:")
            lines.append(f"        merge_{m.name}(self.{m.name}, b.{m.name})")
    return "\n".join(lines), merges


def _compile_merge() -> Callable[[Accumulator, Bucket | Accumulator], None]:
    source, namespace = _merge_source()
    exec(source, namespace)  # noqa: S102 - source built above from catalogue identifiers only
    return cast(Callable[["Accumulator", "Bucket | Accumulator"], None], namespace["add"])


_merge: Final = _compile_merge()


class Accumulator:
    """Sums buckets (or other accumulators) newest to oldest, so nested windows take one pass.

    It has one attribute per merged measure of the catalogue, named like ``Bucket``'s fields,
    so a bucket and an accumulator merge alike: an hour of buckets is summed once into an
    accumulator and cached until one of them changes. Each measure merges by its kind
    (``windows.measures``).
    """

    __slots__ = tuple(m.name for m in _MERGED)

    def __init__(self) -> None:
        for m in _MERGED:
            setattr(self, m.name, CODE[m.kind].zero())

    def add(self, b: Bucket | Accumulator) -> None:
        """Merge a bucket or another accumulator into this one (newer before older)."""
        _merge(self, b)

    def numbers(self) -> dict[str, int | float]:
        """Every measure that reads as one number (counts, sums, distinct counts, estimates)."""
        return {name: read(getattr(self, name)) for name, read in _NUMBERS}

    def _get(self, name: str) -> Any:
        return getattr(self, name)

    def tallies(self) -> dict[str, AuthorTally]:
        """Mention authors and what the window saw of each."""
        return cast(dict[str, AuthorTally], self._get("authors"))

    def engagement(
        self, lookup: Callable[[str], tuple[str, bool] | None]
    ) -> tuple[dict[str, int], int]:
        """Engagement received per mention author, and engagement on UGC mentions."""
        per_author: dict[str, int] = {}
        ugc = 0
        for post, n in cast(dict[str, int], self._get("post_engagements")).items():
            found = lookup(post)
            if found is None:
                continue
            author, is_ugc = found
            per_author[author] = per_author.get(author, 0) + n
            if is_ugc:
                ugc += n
        return per_author, ugc

    def responses(self) -> list[tuple[int, float]]:
        """(bucket of the first reply, seconds from the message to it) of each answered DM."""
        opened: dict[str, float] = self._get("dm_opened")
        replies: dict[str, float] = self._get("dm_replies")
        return [
            (bucket_of(at), max(0.0, at - opened[dm])) for dm, at in replies.items() if dm in opened
        ]

    def followers_at(self, ts: float) -> int | None:
        """Followers in the latest snapshot at or before ``ts`` (ties: the larger count)."""
        snapshots: list[tuple[float, int]] = self._get("snapshots")
        before = [s for s in snapshots if s[0] <= ts]
        return max(before)[1] if before else None

    def freeze(self, ugc_engagements: int, lifetime_windows: float) -> WindowKpis:
        """The window as it is now; DM times and followers are filled in by the caller."""
        authors = self.tallies()
        return window_kpis(
            self.numbers(),
            {name: self._get(name) for name in LABELLED},
            potential_reach=sum(t.followers for t in authors.values()),
            unique_authors=len(authors),
            # Share of voice counts genuine mentions only: the filtered ones are volume, not voice.
            voiced=sum(t.followers for t in authors.values() if t.mentions > t.filtered),
            ugc_engagements=ugc_engagements,
            lifetime_windows=lifetime_windows,
        )


# The label counts a window's KPIs read (``window_kpis``).
LABELLED: Final = (
    "mentions_by_platform",
    "mentions_by_kind",
    "mentions_by_language",
    "interactions",
)


def window_kpis(
    numbers: dict[str, int | float],
    labels: Mapping[str, Mapping[str, int]],
    *,
    potential_reach: int,
    unique_authors: int,
    voiced: int,
    ugc_engagements: int,
    lifetime_windows: float,
    followers_at_window_start: int | None = None,
    dm_first_response_seconds: Sequence[float] = (),
) -> WindowKpis:
    """A window's KPIs from what was summed over it (merged buckets, or running totals).

    ``voiced``: followers of the authors with a mention the spam heuristics did not flag.
    """
    interactions = dict.fromkeys(INTERACTION_TYPES, 0)
    add_counts(interactions, labels["interactions"])
    engagements = sum(interactions[t] for t in ENGAGEMENT_TYPES)
    genuine = sum(numbers[s] for s in SENTIMENTS)
    base = {
        "mentions": float(genuine),
        "reach": float(voiced),
        "engagement": float(engagements),
        "positive": float(numbers["positive"]),
        "negative": float(numbers["negative"]),
    }
    return WindowKpis(
        numbers=numbers,
        mentions_by_platform=dict(sorted(labels["mentions_by_platform"].items())),
        mentions_by_kind=dict(labels["mentions_by_kind"]),
        mentions_by_language=dict(sorted(labels["mentions_by_language"].items())),
        potential_reach=potential_reach,
        unique_authors=unique_authors,
        interactions=interactions,
        followers_at_window_start=followers_at_window_start,
        ugc_engagements=ugc_engagements,
        dm_first_response_seconds=dm_first_response_seconds,
        customer_lifetime_windows=lifetime_windows,
        share_of_voice_base=base,
        share_of_voice_set_base=base,  # replaced once every brand is known
    )
