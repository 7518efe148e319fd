"""Spam verdicts for the oracles: the core signals stage run over each input partition alone.

The spam heuristics are not restated here: which mentions are filtered, and under which reason,
comes from ``socialpulse.core.signals`` (the heuristics the README documents) fed as the
pipeline feeds it. Each partition's records in offset order, each event id once per partition
(a re-sent copy is a duplicate), the mentions that name a brand only, a brand's own posts
exempt. A partition's verdicts depend on its own records alone (README: Signals), so they are
those of any worker, restarted or not, that holds it; the oracles need only where the broker
put each record.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from socialpulse.core.brands import BrandAccounts, BrandMatcher
from socialpulse.core.decode import Decoder
from socialpulse.core.events import Mention
from socialpulse.core.signals import FILTER_REASONS, Signals
from socialpulse.settings import Settings


@dataclass
class Verdicts:
    """What the spam heuristics filtered."""

    reasons: dict[str, str] = field(default_factory=dict)  # event id -> the reason counted
    # brand -> reason -> mentions filtered: ``socialpulse_mentions_filtered_total``.
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def spam_verdicts(
    records: Iterable[tuple[int, int, bytes]],
    settings: Settings,
    accepted: Callable[[Mention], bool] = lambda _: True,
) -> Verdicts:
    """The verdicts on the mentions among ``records`` ((partition, offset, value) each).

    ``settings`` are the service's (brands and ``spam.*``); ``accepted`` says which decoded
    mentions the service counts at all (those it rejects, late or ahead of the clock, are never
    judged).
    """
    signals = Signals(settings)
    matcher = BrandMatcher(settings.brands)
    accounts = BrandAccounts(settings.brands)
    decode = Decoder(settings.max_event_bytes).mention
    by_partition: dict[int, list[tuple[int, bytes]]] = defaultdict(list)
    for partition, offset, value in records:
        by_partition[partition].append((offset, value))
    out = Verdicts(counts={b.id: dict.fromkeys(FILTER_REASONS, 0) for b in settings.brands})
    for partition, rs in sorted(by_partition.items()):
        seen: set[str] = set()
        for offset, value in sorted(rs):
            m = decode(value)
            if not isinstance(m, Mention) or m.event_id in seen or not accepted(m):
                continue
            seen.add(m.event_id)
            matches = matcher.match(m.text, m.tagged)
            if not matches:
                continue
            owned = bool(accounts.owners(m.author.handle))
            brands = [b.brand for b in matches]
            reason = signals.check(("mentions", partition), offset, m, brands, owned)
            if reason is not None:
                out.reasons[m.event_id] = reason
                for brand in brands:
                    out.counts[brand][reason] += 1
    return out
