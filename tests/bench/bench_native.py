"""Benchmark: the fingerprint, the trend terms and the LSH index, compiled beside the Python code.

Distinct demo mention texts (no cache hits): fingerprints in poll-partition batches as the
signals stage sees them and one text alone, terms a text at a time (the Python tokeniser's
per-word cache warm after the first round); CPU time, the two alternated, best of five each.
Without the compiled module only the Python figures are printed.

Run with ``python tests/bench/bench_native.py`` (``--help``).
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from socialpulse.core import neardup
from socialpulse.core.neardup import Fingerprint, MinHasher, NearDuplicateIndex
from socialpulse.core.terms import Tokeniser
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.demo.generator import DemoTraffic
from socialpulse.settings import SpamSettings

Compute = Callable[[Sequence[str]], list[Fingerprint] | list[tuple[str, ...]]]


def _best(compute: Compute, batches: list[list[str]]) -> float:
    t0 = time.process_time()
    for batch in batches:
        compute(batch)
    return time.process_time() - t0


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=250, help="texts per pipeline batch")
    args = parser.parse_args()
    demo = DemoTraffic(DEMO_BRANDS, random.Random(7))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    texts = list(dict.fromkeys(str(demo.mention(at)["text"]) for _ in range(args.texts)))
    s = SpamSettings()
    hasher = MinHasher(s.shingle_chars, s.minhash_bands, s.minhash_rows)
    ways: dict[str, Compute] = {"python": hasher._compute_python}
    if neardup.NATIVE:
        ways["compiled"] = hasher._compute_native
    tokeniser = Tokeniser(["en", "es", "pt", "fr", "de", "it", "nl"])
    terms: dict[str, Compute] = {
        "python": lambda b: [tokeniser._terms_python(t, "en") for t in b],
    }
    if tokeniser._compiled is not None:
        native, stop = tokeniser._compiled, tokeniser._stop["en"]
        terms["compiled"] = lambda b: [native(t, stop) for t in b]
    batches = [texts[i : i + args.batch] for i in range(0, len(texts), args.batch)]
    shapes = {
        f"fingerprint, batches of {args.batch}": (ways, batches),
        "fingerprint, one text alone": (ways, [[t] for t in texts[:5000]]),
        "terms, a text at a time": (terms, batches),
    }
    print(f"\ncompiled benchmark: {len(texts):,} distinct demo texts, CPU time, best of 5")  # noqa: T201
    for shape, (ways, batches) in shapes.items():
        count = sum(len(b) for b in batches)
        best = dict.fromkeys(ways, float("inf"))
        for _ in range(5):
            for name, compute in ways.items():
                best[name] = min(best[name], _best(compute, batches))
        line = "  ".join(f"{name} {best[name] / count * 1e6:6.2f} us/text" for name in ways)
        ratio = f"  ({best['python'] / best['compiled']:.1f}x)" if "compiled" in best else ""
        print(f"  {shape:<30} {line}{ratio}")  # noqa: T201
    _index(hasher.fingerprints(texts), s)


def _index(fps: list[Fingerprint], s: SpamSettings) -> None:
    """The LSH index of a window: memory per post held and the cost of a post, both indexes.

    Every fingerprint looked up, added and the window expired, as ``SpamDetector.judge`` does,
    one post a second into a window of ``spam.max_posts``; memory by tracemalloc (the compiled
    index's arrays are allocated with ``PyMem_Malloc``, which it traces), beyond the
    fingerprints themselves, which both share.
    """
    kinds = {"python": False, **({"compiled": True} if neardup.NATIVE else {})}
    memory: dict[str, float] = {}
    best = dict.fromkeys(kinds, float("inf"))

    def fill(native: bool) -> NearDuplicateIndex:
        index = NearDuplicateIndex(s.window_seconds, s.max_posts, native=native)
        for post, fp in enumerate(fps):
            index.nearest(fp, s.near_duplicate_similarity)
            index.add(post, float(post), fp)
            index.expire(float(post))
        return index

    for _ in range(5):
        for name, native in kinds.items():
            gc.collect()
            t0 = time.process_time()
            fill(native)
            best[name] = min(best[name], time.process_time() - t0)
    for name, native in kinds.items():
        gc.collect()
        tracemalloc.start()
        index = fill(native)
        memory[name] = tracemalloc.get_traced_memory()[0] / len(index)
        tracemalloc.stop()
        del index
    line = "  ".join(f"{n} {best[n] / len(fps) * 1e6:6.2f} us/post" for n in kinds)
    ratio = f"  ({best['python'] / best['compiled']:.1f}x)" if "compiled" in best else ""
    print(f"  {'index: look up, add, expire':<30} {line}{ratio}")  # noqa: T201
    line = "  ".join(f"{n} {memory[n]:6.0f} B/post" for n in kinds)
    ratio = f"  ({memory['python'] / memory['compiled']:.1f}x)" if "compiled" in memory else ""
    print(f"  {'index: memory a post held':<30} {line}{ratio}")  # noqa: T201


if __name__ == "__main__":
    main()
