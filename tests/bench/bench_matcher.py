"""Benchmark: brand matching per mention at 3 and 1,000 brands, the per-brand regexes beside it.

Each brand has two terms, a handle and an exclusion, like the demo's. Each brand set gets demo
traffic about its own brands (``DemoTraffic``: the demo corpus's templates in five languages,
competitor comparisons, exclusions, noise), so texts name a brand as often at 1,000 brands as at
3. Timed per mention: ``BrandMatcher.match`` plus ``BrandAccounts.owners`` of the author, as the
pipeline calls them, against the matcher as it was (``brands_reference``, one search per brand).
Both must agree on every text. Goal: the cost at 1,000 brands is at most 1.3x the cost at 3.

Run with ``make bench`` (or ``python tests/bench/bench_matcher.py --help``).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from brands_reference import ReferenceBrandAccounts, ReferenceBrandMatcher  # noqa: E402
from socialpulse.core.brands import BrandAccounts, BrandMatcher  # noqa: E402
from socialpulse.demo.brands import DEMO_BRANDS  # noqa: E402
from socialpulse.demo.generator import DemoTraffic  # noqa: E402
from socialpulse.settings import BrandSettings  # noqa: E402

_SYLLABLES = ("ka", "lo", "mi", "ru", "sen", "ta", "vo", "bri", "del", "fa", "gor", "hu", "nix")
_KINDS = ("Coffee", "Roasters", "Brew", "Tea", "Bakery", "Foods", "Kitchen", "Market")
_NOUNS = ("giveaway", "opening", "borealis", "recall", "lottery", "rumour", "meme", "parody")

Mention = tuple[str, bool, str]  # text, tagged flag, author handle


def _brands(count: int) -> list[BrandSettings]:
    """The demo's brands, then invented ones shaped like them (two terms, handle, exclusion)."""
    brands = list(DEMO_BRANDS[:count])
    names = ("".join(p) for n in (2, 3, 4) for p in itertools.product(_SYLLABLES, repeat=n))
    rng = random.Random(count)
    for name in names:
        if len(brands) == count:
            break
        kind = rng.choice(_KINDS)
        slug = f"{name}{kind.lower()}"
        brands.append(
            BrandSettings(
                id=slug[:64],
                name=f"{name.title()} {kind}",
                terms=(f"{name.title()} {kind}", slug),
                handles=(f"@{slug}",),
                exclude=(f"{name} {rng.choice(_NOUNS)}",),
            )
        )
    assert len(brands) == count, f"only {len(brands)} brand names"
    return brands


def _mentions(brands: Sequence[BrandSettings], count: int) -> list[Mention]:
    """Public demo mentions about ``brands`` (their opening owned posts left out)."""
    demo = DemoTraffic(brands, random.Random(11))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    records = [demo.mention(now) for _ in range(4 * len(brands) + count)][4 * len(brands) :]
    return [(r["text"], r["tagged"], r["author"]["handle"]) for r in records]


def _time(match: Callable[[str, bool], object], owners: Callable[[str], object],
          mentions: Sequence[Mention]) -> float:  # fmt: skip
    """CPU microseconds per mention (CPU time, as the machine may be shared)."""
    gc.collect()
    t0 = time.process_time()
    for text, tagged, author in mentions:
        match(text, tagged)
        owners(author)
    return (time.process_time() - t0) / len(mentions) * 1e6


@dataclass
class _Case:
    """One brand count: its traffic, both matchers and both account lookups, and timings."""

    brands: int
    mentions: list[Mention]
    ours: BrandMatcher
    accounts: BrandAccounts
    reference: ReferenceBrandMatcher
    ref_accounts: ReferenceBrandAccounts
    ours_us: float = float("inf")
    ref_us: float = float("inf")

    def agree(self) -> float:
        """Assert both matchers give the same on every mention; the share that matched a brand."""
        matched = 0
        for text, tagged, author in self.mentions:
            got = [(m.brand, m.tagged) for m in self.ours.match(text, tagged)]
            want = [(m.brand, m.tagged) for m in self.reference.match(text, tagged)]
            assert got == want, f"the matchers disagree on {text!r}"
            assert self.accounts.owners(author) == self.ref_accounts.owners(author), author
            matched += bool(got)
        return matched / len(self.mentions)


def _case(count: int, mentions: int) -> _Case:
    brands = _brands(count)
    return _Case(
        count,
        _mentions(brands, mentions),
        BrandMatcher(brands),
        BrandAccounts(brands),
        ReferenceBrandMatcher(brands),
        ReferenceBrandAccounts(brands),
    )


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=20_000)
    parser.add_argument("--reference-mentions", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    cases = [_case(count, args.mentions) for count in (3, 1000)]
    shares = [case.agree() for case in cases]
    # Interleaved, best of each: a shared machine's load drifts alike over both brand counts.
    for run in range(args.repeat):
        for case in cases:
            case.ours_us = min(case.ours_us, _time(case.ours.match, case.accounts.owners,
                                                   case.mentions))  # fmt: skip
            if run < 3:
                sample = case.mentions[: args.reference_mentions]
                us = _time(case.reference.match, case.ref_accounts.owners, sample)
                case.ref_us = min(case.ref_us, us)
    print(f"\nbrand matcher benchmark: CPU µs per mention (match + owners), best of {args.repeat}")  # noqa: T201
    print(f"  {'brands':>6} {'per-brand regexes':>18} {'single pass':>12} {'speed-up':>9}  matched")  # noqa: T201
    for case, share in zip(cases, shares, strict=True):
        print(  # noqa: T201
            f"  {case.brands:>6,} {case.ref_us:>18.1f} {case.ours_us:>12.1f} "
            f"{case.ref_us / case.ours_us:>8.0f}x  {share:.0%}"
        )
    ratio = cases[1].ours_us / cases[0].ours_us
    print(f"  single pass, 1,000 brands ÷ 3 brands: {ratio:.2f}x (goal ≤ 1.30x)")  # noqa: T201


if __name__ == "__main__":
    main()
