"""Benchmark: language detection per mention (py3langid over the configured languages), one core.

Cost per text in µs of the benchmark thread's CPU time on the VADER paper's 4,200 tweets and
its other ground-truth files (all English), on demo mentions (five languages, with emoji), and on
short posts (a few words), with the detector's cache off; then how many of the English corpus
texts are detected as English, as another language, or ``unknown`` below the threshold.
Detection runs only for mentions without a ``language`` field.

Run with ``make bench`` (or ``python tests/bench/bench_language.py``).
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from socialpulse.core.language import LanguageDetector
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.demo.generator import DemoTraffic
from socialpulse.settings import DEFAULT_LANGUAGE_MIN_CONFIDENCE, DEFAULT_LANGUAGES

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vader_corpus import read_corpus  # noqa: E402

CORPORA = (
    "tweets_GroundTruth.txt",
    "amazonReviewSnippets_GroundTruth.txt",
    "movieReviewSnippets_GroundTruth.txt",
    "nytEditorialSnippets_GroundTruth.txt",
)
SHORT = ("lol", "so good", "ok 👍", "gracias!", "merci", "danke", "worst ever", "meh", "wow 😍")


def _us_per_text(detector: LanguageDetector, texts: list[str], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.thread_time()
        for text in texts:
            detector.detect(text)
        best = min(best, (time.thread_time() - start) / len(texts))
    return best * 1e6


def _us_per_text_batched(
    detector: LanguageDetector, texts: list[str], batch: int = 1000, rounds: int = 3
) -> float:
    """``detect_many`` over batches of ``batch`` texts, as the pipeline calls it per poll."""
    best = float("inf")
    for _ in range(rounds):
        start = time.thread_time()
        for i in range(0, len(texts), batch):
            detector.detect_many(texts[i : i + batch])
        best = min(best, (time.thread_time() - start) / len(texts))
    return best * 1e6


def _all_languages() -> tuple[str, ...]:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return tuple(LanguageIdentifier.from_model_file(MODEL_FILE).labels)


def main() -> None:
    """Print the cost per text and the English corpus' detected languages."""
    started = time.perf_counter()
    detector = LanguageDetector(DEFAULT_LANGUAGES, DEFAULT_LANGUAGE_MIN_CONFIDENCE, 0)
    load = time.perf_counter() - started
    demo = DemoTraffic(DEMO_BRANDS, random.Random(7))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    posts = [str(demo.mention(at)["text"]) for _ in range(4000)]
    print(f"model load {load:.2f} s; candidates {', '.join(DEFAULT_LANGUAGES)}")  # noqa: T201
    print("| texts | count | mean chars | µs per text | batched |")  # noqa: T201
    print("| --- | --- | --- | --- | --- |")  # noqa: T201
    found: Counter[str] = Counter()
    for name in CORPORA:
        texts = [text for _, text in read_corpus(name)]
        found.update(detector.detect(t) for t in texts)
        chars = sum(map(len, texts)) / len(texts)
        us, many = _us_per_text(detector, texts), _us_per_text_batched(detector, texts)
        print(f"| {name} | {len(texts):,} | {chars:.0f} | {us:.0f} | {many:.0f} |")  # noqa: T201
    for label, texts in (("demo mentions", posts), ("short posts", list(SHORT) * 200)):
        chars = sum(map(len, texts)) / len(texts)
        us, many = _us_per_text(detector, texts), _us_per_text_batched(detector, texts)
        print(f"| {label} | {len(texts):,} | {chars:.0f} | {us:.0f} | {many:.0f} |")  # noqa: T201
    # The same tweets over every language the model knows, as an unrestricted detector would.
    every = LanguageDetector(_all_languages(), DEFAULT_LANGUAGE_MIN_CONFIDENCE, 0)
    tweets = [text for _, text in read_corpus(CORPORA[0])]
    us = _us_per_text(every, tweets)
    wrong = sum(every.detect(t) not in ("en", "unknown") for t in tweets) / len(tweets)
    print(  # noqa: T201
        f"tweets over all {len(_all_languages())} languages: {us:.0f} µs per text, "
        f"{wrong:.1%} detected as another language"
    )
    total = sum(found.values())
    shares = ", ".join(f"{lang} {n / total:.1%}" for lang, n in found.most_common())
    print(f"English corpus texts detected as: {shares}")  # noqa: T201


if __name__ == "__main__":
    main()
