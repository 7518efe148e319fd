"""Benchmark: vaderSentiment's ``polarity_scores`` beside socialpulse's scorer, same run, one core.

Throughput on demo mentions (short social posts in five languages, with emoji) and on the VADER
paper's 4,200 tweets; the worst single text on posts of 500 emoji (random ones, and 😍, whose
description holds a lexicon word) and on a 10,000-character text (tweets joined: the service's
``max_text_chars``), and for socialpulse alone on 10,000 emoji (the most words that limit lets in:
each emoji becomes a description of several words; vaderSentiment, quadratic, took 104 s of CPU).
The fast scorer runs without its cache except in the "+ cache" column, where demo traffic's
repeated posts hit it. Times are the benchmark thread's CPU time (``time.thread_time``), so other
jobs on a shared machine slow the wall clock but not the figures.

Run with ``make bench`` (or ``python tests/bench/bench_sentiment.py --help``).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from socialpulse.core.sentiment import SentimentScorer, VaderScorer
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.demo.generator import DemoTraffic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vader_corpus import read_corpus  # noqa: E402

Score = Callable[[str], object]


def _demo_posts(count: int) -> list[str]:
    demo = DemoTraffic(DEMO_BRANDS, random.Random(7))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return [str(demo.mention(at)["text"]) for _ in range(count)]


def _emoji_post(count: int) -> str:
    emoji = sorted(e for e in SentimentIntensityAnalyzer().emojis if len(e) == 1)
    rng = random.Random(3)
    return "".join(rng.choice(emoji) for _ in range(count))


def _long_text(tweets: list[str], chars: int) -> str:
    out: list[str] = []
    size = 0
    for tweet in tweets:
        if size + len(tweet) + 1 > chars:
            break
        out.append(tweet)
        size += len(tweet) + 1
    return " ".join(out).ljust(chars, "!")


def _rate(score: Score, texts: list[str], seconds: float) -> float:
    """Texts per second over whole passes, at least ``seconds`` long."""
    done = 0
    t0 = time.thread_time()
    while True:
        for text in texts:
            score(text)
        done += len(texts)
        elapsed = time.thread_time() - t0
        if elapsed >= seconds:
            return done / elapsed


def _worst_ms(score: Score, text: str, repeat: int) -> float:
    """The fastest of ``repeat`` runs: the text's own cost, not the machine's noise."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.thread_time()
        score(text)
        best = min(best, time.thread_time() - t0)
    return best * 1e3


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000, help="demo mentions to score")
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum time per rate")
    args = parser.parse_args()
    posts = _demo_posts(args.posts)
    tweets = [text for _, text in read_corpus("tweets_GroundTruth.txt")]
    emoji = _emoji_post(500)
    long = _long_text(tweets, 10_000)
    stock = VaderScorer().score
    fast = SentimentScorer(cache_entries=0).score
    cached = SentimentScorer().score
    for text in (emoji, long, "\U0001f60d" * 500, *posts[:200], *tweets[:200]):
        assert stock(text) == fast(text), text

    rows: list[tuple[str, float, float, float]] = []
    for label, many in (("demo posts", posts), ("VADER tweets", tweets)):
        a, b, c = (_rate(score, many, args.seconds) for score in (stock, fast, cached))
        rows.append((f"{label} (texts/s)", a, b, c))
    worst = (
        ("500 random emoji", emoji),
        ("500 x U+1F60D", "\U0001f60d" * 500),
        ("10,000-char text", long),
    )
    for label, one in worst:
        a, b = (_worst_ms(score, one, 5) for score in (stock, fast))
        rows.append((f"{label} (ms)", a, b, float("nan")))
    rows.append(
        (
            "10,000 x U+1F602 (ms)",
            float("nan"),
            _worst_ms(fast, "\U0001f602" * 10_000, 3),
            float("nan"),
        )
    )

    print(f"\nsentiment benchmark: {len(posts):,} demo posts, {len(tweets):,} tweets, one core")  # noqa: T201
    head = f"  {'':<28} {'vaderSentiment':>15} {'socialpulse':>12} {'+ cache':>10} {'speed-up':>9}"
    print(head)  # noqa: T201
    for label, a, b, c in rows:
        ratio = a / b if label.endswith("(ms)") else b / a
        stock_col = "-" if math.isnan(a) else f"{a:15,.1f}"
        extra = "" if math.isnan(c) else f"{c:10,.0f}"
        speedup = "" if math.isnan(ratio) else f"{ratio:8.1f}x"
        print(f"  {label:<28} {stock_col:>15} {b:12,.1f} {extra:>10} {speedup:>9}")  # noqa: T201


if __name__ == "__main__":
    main()
