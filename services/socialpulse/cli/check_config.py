"""``socialpulse check-config``: the brands as configured and what each matches on sample texts."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from socialpulse.settings import BrandSettings, Settings

if TYPE_CHECKING:
    from rich.console import Console

NEEDS_BRANDS = True


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``check-config``."""
    p = sub.add_parser(
        "check-config",
        help="validate the settings; show each brand and what it matches on sample texts",
        description=(
            "Validate the settings (exit status 2 naming the bad field), then print each brand's "
            "terms, handles, exclusions and competitors, and which brands match each sample "
            "text. Samples come from --sample, else from standard input (one per line) when it "
            "is not a terminal and not empty, else from each brand's own terms, handles and "
            "exclusions."
        ),
    )
    p.add_argument(
        "--sample",
        action="append",
        default=None,
        metavar="TEXT",
        help="a text to match (repeatable)",
    )


def builtin_samples(brands: Sequence[BrandSettings]) -> list[str]:
    """Texts built from each brand's own words: every term, every handle, a vetoed use."""
    samples: list[str] = []
    for b in brands:
        samples.extend(f"just tried {term}, not bad" for term in b.terms)
        samples.extend(f"thanks {handle} for the quick reply" for handle in b.handles)
        samples.extend(f"{b.terms[0]} and {excluded}" for excluded in b.exclude)
    return list(dict.fromkeys(samples))


def report(settings: Settings, samples: Sequence[str], console: Console) -> None:
    """Print the brands table and the sample matches table."""
    from rich import box
    from rich.table import Table

    from socialpulse.core.brands import BrandMatcher

    brands = Table(title="Brands", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("id", "name", "terms", "handles", "exclude", "competitors"):
        brands.add_column(column, overflow="fold")  # never hide part of a term
    for b in settings.brands:
        brands.add_row(
            b.id,
            b.name,
            "\n".join(b.terms),
            "\n".join(b.handles) or "-",
            "\n".join(b.exclude) or "-",
            "\n".join(b.competitors) or "-",
        )
    console.print(brands)
    matcher = BrandMatcher(settings.brands)
    matches = Table(title="Sample matches", box=box.SIMPLE_HEAD, title_justify="left")
    matches.add_column("sample")
    matches.add_column("matches (* = tagged)")
    for text in samples:
        found = matcher.match(text)
        shown = ", ".join(f"{m.brand}{'*' if m.tagged else ''}" for m in found)
        matches.add_row(text, shown or "-", style=None if found else "dim")
    console.print(matches)
    console.print(
        f"configuration OK: {len(settings.brands)} brands, windows {', '.join(settings.windows)}"
    )


def main(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``check-config``."""
    from socialpulse.cli.output import console

    samples = list(args.sample or ())
    if not samples and not sys.stdin.isatty():
        samples = [line.rstrip("\r\n") for line in sys.stdin if line.strip()]
    if not samples:
        samples = builtin_samples(settings.brands)
    report(settings, samples, console())
    return 0
