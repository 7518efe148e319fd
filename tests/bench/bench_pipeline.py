"""Benchmark: the pure pipeline's throughput and state memory beside the unavoidable baseline.

The baseline is the work no implementation can skip: parse every record's JSON and score every
mention with ``vaderSentiment``'s ``polarity_scores``. socialpulse adds validation, dedup, brand
matching and every window KPI on top; the gap between the two lines is our own overhead.
The signals stage (spam verdicts, trends) is timed on and off in the same run (CPU time), each
partition's part of a poll fed as one pipeline batch, as the worker does, to both pipelines in
turn.

Run with ``make bench`` (or ``python tests/bench/bench_pipeline.py --help``).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from socialpulse.core import neardup
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.sentiment import score_texts
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.demo.generator import DemoTraffic
from socialpulse.settings import Settings


def _records(count: int, now: float) -> list[tuple[str, tuple[str, int], bytes]]:
    """Demo traffic over the last hour: (stream, source, value)."""
    rng = random.Random(5)
    demo = DemoTraffic(DEMO_BRANDS, rng)
    out: list[tuple[str, tuple[str, int], bytes]] = []
    for n in range(count):
        at = datetime.fromtimestamp(now - 3600 + 3600 * n / count, tz=UTC)
        stream, key, value = demo.encoded_next(at)
        out.append((stream, (stream, hash(key) % 4), value))
    return out


def _baseline(records: list[tuple[str, tuple[str, int], bytes]]) -> float:
    vader = SentimentIntensityAnalyzer()
    gc.collect()
    t0 = time.process_time()
    for stream, _, value in records:
        doc = json.loads(value)
        if stream == "mentions":
            vader.polarity_scores(doc["text"])
    return time.process_time() - t0


POLL = 2000  # records a poll batch holds (kafka.max_batch_records)
ROUNDS = 3  # runs of the interleaved pipelines, summed


def _pipeline(*, signals: bool = True, native: bool = True) -> Pipeline:
    """A pipeline over the demo brands.

    ``signals=False`` turns the spam heuristics and trend counting off; ``native=False``
    fingerprints, looks bands up and tokenises with the Python code even when the compiled
    module is built (the spam detectors, made as partitions appear, follow the hasher).
    """
    settings = Settings(
        brands=[b.model_dump() for b in DEMO_BRANDS],
        metrics_port=0,
        spam={"enabled": signals},
        trends={"enabled": signals},
    )
    pipeline = Pipeline(settings)
    if not native:
        pipeline.signals.hasher.native = False
        pipeline.signals.tokeniser._compiled = None
    return pipeline


def _batches(
    records: list[tuple[str, tuple[str, int], bytes]],
) -> Iterator[tuple[tuple[str, int], list[tuple[int, bytes | None]]]]:
    """As the worker feeds them: each partition's part of a poll is one pipeline batch."""
    for lo in range(0, len(records), POLL):
        parts: dict[tuple[str, int], list[tuple[int, bytes | None]]] = {}
        for offset, (_, source, value) in enumerate(records[lo : lo + POLL], lo):
            parts.setdefault(source, []).append((offset, value))
        yield from parts.items()


def _interleaved(
    records: list[tuple[str, tuple[str, int], bytes]], now: float, pipelines: list[Pipeline]
) -> list[float]:
    """CPU seconds each pipeline spends on every record, the pipelines taking turns per batch.

    Each batch goes to every pipeline, in an order that rotates, timed call by call: whatever
    the shared machine does meanwhile falls on all of them alike, where whole runs one after
    the other were seen to differ by a fifth.
    """
    gc.collect()  # every run starts from the same heap, the previous run's garbage gone
    spent = [0.0] * len(pipelines)
    clock = time.process_time
    for turn, (source, part) in enumerate(_batches(records)):
        for k in range(len(pipelines)):
            i = (turn + k) % len(pipelines)
            t0 = clock()
            pipelines[i].process_batch(source[0], part, source, now)  # type: ignore[arg-type]
            spent[i] += clock() - t0
    return spent


def _traced(records: list[tuple[str, tuple[str, int], bytes]], now: float) -> tuple[int, Pipeline]:
    """Peak traced memory of one pipeline over every record."""
    pipeline = _pipeline()
    gc.collect()
    tracemalloc.start()
    for source, part in _batches(records):
        pipeline.process_batch(source[0], part, source, now)  # type: ignore[arg-type]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, pipeline


def worst_cases(now: float) -> list[tuple[str, int, float, float]]:
    """Generated costly mentions: (case, characters, ms on the loop, ms on one line of work).

    CPU milliseconds of this thread (median of 5). "On the loop" is what the consume loop pays:
    ``long_texts`` and ``process_batch`` with the long texts' scores computed off the loop; "in
    line" scores them on the loop too.
    Texts over ``max_text_chars`` are rejected as oversized (their cost is the rejection).
    """
    settings = Settings(brands=[b.model_dump() for b in DEMO_BRANDS], metrics_port=0)
    term = DEMO_BRANDS[0].terms[0]
    cases = {
        "10k emoji": "😍" * (9_999 - len(term)) + f" {term}",
        "50k chars": (f"{term} great coffee but not good at all " * 1_300)[:50_000],
        "5k words ALL CAPS": " ".join(["GREAT", "good", "BAD", "NOT", "bad"] * 1_000) + f" {term}",
        "2k words ALL CAPS": " ".join(["GREAT", "good", "BAD", "NOT", "bad"] * 400) + f" {term}",
        "many 'but's": f"{term} " + " ".join(["good but bad"] * 760),
        "10k chars of words": (f"{term} so very good, but not great!!! " * 400)[:9_999],
    }
    out = []
    for n, (case, text) in enumerate(cases.items()):
        doc = {
            "event_id": f"worst-{n}",
            "platform": "x",
            "created_at": datetime.fromtimestamp(now - 5, tz=UTC).isoformat(),
            "author": {"id": "w", "handle": "@w", "followers": 1},
            "text": text,
            "kind": "post",
            "language": "en",  # scored by VADER whatever detection would say
        }
        raw = json.dumps(doc).encode()
        timings = []
        for off_loop in (True, False):
            runs = []
            for _ in range(5):  # CPU time of this thread, median of 5: the machine is shared
                p = Pipeline(settings)
                p.process_batch("mentions", [(0, b"{}")], ("m", 0), now)  # warm
                long = p.long_texts("mentions", [raw]) if off_loop else []
                scored = dict(zip(long, score_texts(long), strict=True))
                t0 = time.thread_time()
                p.long_texts("mentions", [raw])
                p.process_batch("mentions", [(1, raw)], ("m", 0), now, scored)
                runs.append((time.thread_time() - t0) * 1e3)
            timings.append(sorted(runs)[2])
        out.append((case, len(text), timings[0], timings[1]))
    return out


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    now = time.time()
    records = _records(args.events, now)
    mentions = sum(1 for s, _, _ in records if s == "mentions")
    base = _baseline(records)
    # In CPU time of this process, the signals stage on, off (and all in Python) taking turns
    # batch by batch, summed over ROUNDS runs of fresh pipelines.
    native = neardup.NATIVE
    ours = without = python = 0.0
    filtered = 0
    for _ in range(ROUNDS):
        pipelines = [_pipeline(), _pipeline(signals=False)]
        if native:
            pipelines.append(_pipeline(native=False))
        spent = _interleaved(records, now, pipelines)
        ours, without = ours + spent[0], without + spent[1]
        python += spent[2] if native else 0.0
        filtered = sum(sum(r.values()) for r in pipelines[0].signals.filtered.values())
        del pipelines
    ours, without, python = ours / ROUNDS, without / ROUNDS, python / ROUNDS
    peak, pipeline = _traced(records, now)
    t0 = time.perf_counter()
    pipeline.store.snapshot(now)
    snap = time.perf_counter() - t0
    # The fleet's campaigns (every 5 s and at a scrape): every partition's near-duplicate
    # clusters joined, then judged against the thresholds.
    parts = sum(len(pipeline.signals.campaign_parts(s)) for s in pipeline.signals.partitions)
    t0 = time.process_time()
    live = len(pipeline.signals.campaigns())
    grouped = time.process_time() - t0
    # Asked again with no part changed (the next scrape): the live parts read, not grouped.
    t0 = time.process_time()
    pipeline.signals.campaigns()
    unchanged = time.process_time() - t0
    n = len(records)
    head = f"{n:,} demo events ({mentions:,} mentions), one core, CPU time"
    turns = f"signals stage on and off taking turns batch by batch, mean of {ROUNDS} runs"
    print(f"\npipeline benchmark: {head}; {turns}")  # noqa: T201
    us_base, us_ours = base / n * 1e6, ours / n * 1e6
    us_off, us_added = without / n * 1e6, (ours - without) / n * 1e6
    rows = [
        ("baseline: json + vaderSentiment", f"{n / base:10,.0f} ev/s", f"{us_base:6.1f} us/ev"),
        ("socialpulse Pipeline.process", f"{n / ours:10,.0f} ev/s", f"{us_ours:6.1f} us/ev"),
        ("socialpulse relative to baseline", f"{base / ours:10.2f} x", ""),
        ("  signals off (spam, trends)", f"{n / without:10,.0f} ev/s", f"{us_off:6.1f} us/ev"),
        ("  signals stage adds", f"{ours / without - 1:10.1%}", f"{us_added:6.1f} us/ev"),
        ("  fingerprint, bands, terms in C", f"{'yes' if native else 'no (not built)':>10}", ""),
        *(
            [("  signals stage adds, all Python", f"{python / without - 1:10.1%}",
              f"{(python - without) / n * 1e6:6.1f} us/ev")]
            if native else []
        ),
        ("  mentions filtered (demo traffic)", f"{filtered / max(mentions, 1):10.1%}", ""),
        ("state memory, peak (1 h of events)", f"{peak / 1e6:10.1f} MB", f"{peak / n:6.0f} B/ev"),
        ("one scrape's snapshot of all KPIs", f"{snap * 1e3:10.1f} ms", ""),
        (f"campaigns of {parts:,} cluster parts", f"{grouped * 1e3:10.1f} ms", f"{live:6} live"),
        ("  again, no part changed", f"{unchanged * 1e3:10.1f} ms", ""),
    ]  # fmt: skip
    for label, a, b in rows:
        print(f"  {label:<38} {a} {b}")  # noqa: T201
    print("\nworst cases: one mention each, ms of the consume loop (goal ≤ 5 ms)")  # noqa: T201
    worst = worst_cases(now)
    for case, chars, on_loop, inline in worst:
        line = f"  {case:<22}{chars:>7,} chars {on_loop:8.2f} ms  (scored in line: {inline:.2f} ms)"
        print(line)  # noqa: T201
    print(f"  max per text on the loop {max(w[2] for w in worst):.2f} ms")  # noqa: T201


if __name__ == "__main__":
    main()
