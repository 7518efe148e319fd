"""``socialpulse score``: VADER scores, class and matched brands of texts, as the pipeline has them.

With no TEXT it is a filter: one text per line in, one JSON object per line out, streamed in
batches so a million lines cost the scoring and little else.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO, Final

import msgspec

from socialpulse.cli.output import print_line
from socialpulse.settings import Settings

if TYPE_CHECKING:
    from socialpulse.core.brands import BrandMatcher
    from socialpulse.core.sentiment import Scorer

NEEDS_BRANDS = True
# Lines scored between two writes when reading a pipe: big enough to amortise the write.
BATCH_LINES: Final = 1024


class Scored(msgspec.Struct, gc=False):
    """One output line of ``score`` reading standard input."""

    compound: float
    pos: float
    neu: float
    neg: float
    label: str
    brands: list[str]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``score``."""
    p = sub.add_parser(
        "score",
        help="sentiment scores, class and matched brands of a text (or of stdin lines, as JSON)",
        description=(
            "Score TEXT with the pipeline's sentiment scorer (VADER: compound, pos, neu, neg; "
            "class positive at compound >= 0.05, negative at <= -0.05) and match it against the "
            "configured brands. Without TEXT, read one text per line from standard input and "
            "write one JSON object per line: "
            '{"compound", "pos", "neu", "neg", "label", "brands"}. '
            "Input that is not UTF-8 is read with replacement characters."
        ),
    )
    p.add_argument("text", nargs="?", metavar="TEXT", help="the text to score")


def _tools(settings: Settings) -> tuple[Scorer, BrandMatcher]:
    """The pipeline's English scorer (VADER) and the brand matcher of ``settings``."""
    from socialpulse.core.brands import BrandMatcher
    from socialpulse.core.sentiment import SentimentScorer

    return SentimentScorer(), BrandMatcher(settings.brands)


def score_one(settings: Settings, text: str) -> Scored:
    """Scores, class and matched brands of ``text``."""
    scorer, matcher = _tools(settings)
    return _scored(scorer, matcher, text)


def _scored(scorer: Scorer, matcher: BrandMatcher, text: str) -> Scored:
    s = scorer.score(text)
    brands = [m.brand for m in matcher.match(text)]
    return Scored(s.compound, s.pos, s.neu, s.neg, s.label, brands)


def _texts(stream: BinaryIO) -> Iterator[str]:
    for raw in stream:
        yield raw.decode("utf-8", errors="replace").rstrip("\r\n")


def score_lines(settings: Settings, source: BinaryIO, sink: BinaryIO, interactive: bool) -> int:
    """Score every line of ``source`` into ``sink``; return the number of lines.

    ``interactive`` (a person typing) writes each answer at once; otherwise lines are
    written in batches of ``BATCH_LINES`` and flushed only at the end.
    """
    scorer, matcher = _tools(settings)
    encoder = msgspec.json.Encoder()
    batch: list[Scored] = []
    count = 0
    for text in _texts(source):
        batch.append(_scored(scorer, matcher, text))
        count += 1
        if interactive or len(batch) >= BATCH_LINES:
            sink.write(encoder.encode_lines(batch))
            batch.clear()
            if interactive:
                sink.flush()
    if batch:
        sink.write(encoder.encode_lines(batch))
    sink.flush()
    return count


def main(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``score``."""
    if args.text is None:
        try:
            score_lines(settings, sys.stdin.buffer, sys.stdout.buffer, sys.stdin.isatty())
        except BrokenPipeError:  # `socialpulse score < in | head`: the reader has gone
            return 0
        return 0
    s = score_one(settings, args.text)
    for name in ("compound", "pos", "neu", "neg"):
        print_line(f"{name:<9}{getattr(s, name)}")
    print_line(f"{'label':<9}{s.label}")
    print_line(f"{'brands':<9}{', '.join(s.brands) or '-'}")
    return 0
