"""Benchmark: emerging-term and spam detectors on constructed streams, beside the pipeline.

Trends: the VADER tweet corpus replayed as one brand's organic traffic (tweets drawn at random,
``--rate`` a minute, for a day after an hour of warm-up) counts false trends per brand-day; a
term planted at a background rate that jumps 20× must reach the top 3 within 5 minutes.
Spam: 500 small edits of one post from 200 new accounts among 500 distinct corpus tweets from
genuine accounts give precision and recall; the whole corpus from distinct accounts gives the
false-positive rate. Cost: µs per mention of both detectors against ``Pipeline.process`` on the
same demo traffic in the same run.

Run with ``make bench`` (or ``python tests/bench/bench_signals.py --help``).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from builders import mention  # noqa: E402
from socialpulse.core.brands import BrandMatcher  # noqa: E402
from socialpulse.core.events import Mention  # noqa: E402
from socialpulse.core.pipeline import Pipeline  # noqa: E402
from socialpulse.core.spam import SpamDetector  # noqa: E402
from socialpulse.core.terms import Tokeniser, brand_terms  # noqa: E402
from socialpulse.core.trends import BrandTrends, TrendDetector  # noqa: E402
from socialpulse.demo.brands import DEMO_BRANDS  # noqa: E402
from socialpulse.demo.generator import DemoTraffic  # noqa: E402
from socialpulse.settings import Settings, SpamSettings, TrendSettings  # noqa: E402
from vader_corpus import read_corpus  # noqa: E402

PLANTED = "#zephyrlaunch"
# Demo traffic of the cost run spans two hours, so trends are evaluated on a full baseline.
SPAN = 7200
POLL_MENTIONS = 500
T0 = 1_767_225_600.0  # 2026-01-01T00:00Z


def _trend_day(
    tweets: list[str], seed: int, rate: float, burst_at: float | None
) -> tuple[int, float | None, int, float]:
    """One brand-day: (false trends, minutes to top 3 of the planted term, memory, ms a read)."""
    s = TrendSettings()
    rng = random.Random(seed)
    tok = Tokeniser(s.languages)
    state = BrandTrends(s, brand_terms(["alpha"], ["@alpha"]))
    warmup = (s.baseline_buckets + s.recent_buckets) * s.bucket_seconds
    end = T0 + warmup + 86_400
    background = 0.5  # planted term a minute before the burst; 20× after it
    ts, minute = T0, T0 + warmup
    trending: set[str] = set()
    false_episodes = 0
    found_at: float | None = None
    peak_mem = 0
    reading = 0.0
    reads = 0
    while minute < end:
        minute += 60
        while ts < minute:
            ts += rng.expovariate(rate / 60)
            state.add(ts, tok.terms(rng.choice(tweets)))
        burst = burst_at is not None and minute > burst_at
        p_rate = background * (20 if burst else 1)
        t = minute - 60
        while True:
            t += rng.expovariate(p_rate / 60)
            if t >= minute:
                break
            state.add(t, tok.terms(f"{rng.choice(tweets)} {PLANTED}"))
        t_read = time.perf_counter()
        top = state.trends(minute)
        reading += time.perf_counter() - t_read
        reads += 1
        terms = {x.term for x in top}
        if burst_at is not None and found_at is None and minute > burst_at:
            if PLANTED in [x.term for x in top[:3]]:
                found_at = (minute - burst_at) / 60
        false_episodes += len((terms - {PLANTED}) - trending)
        trending = terms
        if int(minute) % 3600 == 0:
            peak_mem = max(peak_mem, state.memory_bytes())
    return false_episodes, found_at, peak_mem, reading / reads * 1e3


def _edit(rng: random.Random, text: str) -> str:
    words = text.split()
    for _ in range(rng.randint(1, 2)):
        i = rng.randrange(len(words))
        op = rng.random()
        if op < 0.4:
            words[i] = words[i].upper() if rng.random() < 0.5 else words[i] + "!"
        elif op < 0.7:
            words.insert(i, rng.choice(["wow", "omg", "so", "really", "pls"]))
        else:
            del words[i]
    return (
        " ".join(words)
        + f" https://bit.ly/{rng.randrange(10**6)} @{rng.choice(['alpha', 'alpha_help'])}"
    )


CAMPAIGN = (
    "Alpha just gave me a free 500 dollar gift card for testing their new phone, claim yours "
    "before midnight at the link"
)


def _spam(tweets: list[str]) -> dict[str, float]:
    rng = random.Random(11)
    det = SpamDetector(SpamSettings())
    stream: list[tuple[float, Mention, bool]] = []
    for n in range(500):
        ts = T0 + rng.uniform(0, 1800)
        acct = f"new{n % 200}"
        stream.append((ts, mention(ts, acct, rng.randint(0, 5), text=_edit(rng, CAMPAIGN)), True))
    for n, text in enumerate(rng.sample(sorted(set(tweets)), 500)):
        ts = T0 + rng.uniform(0, 1800)
        stream.append((ts, mention(ts, f"fan{n}", rng.randint(50, 5000), text=text), False))
    stream.sort(key=lambda r: r[0])
    tp = fp = fn = 0
    for _, m, spam in stream:
        flagged = det.classify(m).flagged
        tp += flagged and spam
        fp += flagged and not spam
        fn += (not flagged) and spam
    campaigns = det.campaigns()
    organic = SpamDetector(SpamSettings())
    flagged_organic = 0
    for n, text in enumerate(tweets):
        ts = T0 + 3600 * n / len(tweets)  # the whole corpus within one window: the harder case
        flagged_organic += organic.classify(mention(ts, f"user{n}", 200, text=text)).flagged
    return {
        "precision": tp / max(tp + fp, 1),
        "recall": tp / max(tp + fn, 1),
        "campaigns": len(campaigns),
        "campaign_posts": campaigns[0].posts if campaigns else 0,
        "campaign_accounts": campaigns[0].account_count if campaigns else 0,
        "organic_fpr": flagged_organic / len(tweets),
    }


def _cost(count: int) -> Cost:
    """Pipeline and detector costs on the same demo traffic, in the same run."""
    now = time.time()
    rng = random.Random(5)
    demo = DemoTraffic(DEMO_BRANDS, rng)
    records = []
    for n in range(count):
        at = datetime.fromtimestamp(now - SPAN + SPAN * n / count, tz=UTC)
        stream, key, value = demo.encoded_next(at)
        records.append((stream, (stream, hash(key) % 4), value))
    settings = Settings(brands=[b.model_dump() for b in DEMO_BRANDS], metrics_port=0)
    # The pipeline without its signals stage: the detectors are timed on their own below.
    pipeline = Pipeline(
        settings.model_copy(
            update={
                "spam": settings.spam.model_copy(update={"enabled": False}),
                "trends": settings.trends.model_copy(update={"enabled": False}),
            }
        )
    )
    t0 = time.perf_counter()
    for offset, (stream, source, value) in enumerate(records):
        pipeline.process(stream, value, source, now, offset)
    pipe = time.perf_counter() - t0
    # The detectors' inputs as the pipeline has them: decoded mentions and their brands.
    matcher = BrandMatcher(settings.brands)
    mentions = [msgspec.json.decode(v, type=Mention) for s, _, v in records if s == "mentions"]
    brands_of = [(m, [x.brand for x in matcher.match(m.text, m.tagged)]) for m in mentions]
    matched = [(m, b) for m, b in brands_of if b]
    tok = Tokeniser(settings.trends.languages)
    trends = TrendDetector(
        settings.trends, {b.id: brand_terms(b.terms, b.handles) for b in settings.brands}
    )
    spam = SpamDetector(settings.spam)
    evaluate_every = settings.trends.bucket_seconds
    next_eval = now - SPAN + evaluate_every
    reads = flagged = 0
    t_spam = t_add = t_read = 0.0
    clock = time.perf_counter
    # Mentions arrive in the consumer's poll batches (2000 records: about 500 mentions).
    for lo in range(0, len(matched), POLL_MENTIONS):
        batch = matched[lo : lo + POLL_MENTIONS]
        t0 = clock()
        verdicts = spam.classify_batch([m for m, _ in batch])
        t_spam += clock() - t0
        flagged += sum(v.flagged for v in verdicts)
        for (m, brands), verdict in zip(batch, verdicts, strict=True):
            if verdict.flagged:  # as in the service: filtered mentions never trend
                continue
            ts = m.created_at.timestamp()
            t0 = clock()
            terms = tok.terms(m.text, m.language)
            for b in brands:
                trends.add(b, ts, terms)
            t_add += clock() - t0
            if ts >= next_eval:  # once a bucket: every brand's trends, as a scrape reads them
                next_eval += evaluate_every
                t0 = clock()
                for b in trends.brands:
                    trends.trends(b, ts)
                    reads += 1
                t_read += clock() - t0
    assert reads > 0
    n = len(matched)
    return Cost(
        pipeline_us=pipe / count * 1e6,
        spam_us=t_spam / n * 1e6,
        trends_us=t_add / n * 1e6,
        read_ms=t_read / reads * 1e3,
        mentions_per_event=n / count,
        flagged=flagged / n,
        brands=len(trends.brands),
    )


@dataclass(frozen=True)
class Cost:
    """Costs on demo traffic: per event, per brand mention, per trend read."""

    pipeline_us: float
    spam_us: float
    trends_us: float
    read_ms: float
    mentions_per_event: float
    flagged: float
    brands: int

    def added(self, events_per_second: float) -> float:
        """Detector cost over pipeline cost at ``events_per_second`` (reads are per minute)."""
        per_event = (self.spam_us + self.trends_us) * self.mentions_per_event
        reads = self.brands * self.read_ms * 1e3 / (events_per_second * 60)
        return (per_event + reads) / self.pipeline_us


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3, help="brand-days of organic replay")
    parser.add_argument("--rate", type=float, default=20.0, help="organic mentions a minute")
    parser.add_argument("--events", type=int, default=100_000, help="demo events for the cost")
    args = parser.parse_args()
    tweets = [t for _, t in read_corpus("tweets_GroundTruth.txt")]
    s = TrendSettings()
    warm = (s.baseline_buckets + s.recent_buckets) * s.bucket_seconds
    falses, delays, mems, reads = [], [], [], []
    for day in range(args.days):
        burst_at = T0 + warm + 6 * 3600 + day * 3600
        f, d, mem, read = _trend_day(tweets, day, args.rate, burst_at)
        reads.append(read)
        falses.append(f)
        delays.append(d)
        mems.append(mem)
    sp = _spam(tweets)
    cost = _cost(args.events)
    rate = Settings().demo_events_per_second
    rows = [
        f"signals benchmark: {len(tweets):,} corpus tweets, one core",
        f"  trends: corpus as organic traffic, {args.rate:g} mentions/min, {args.days} brand-days",
        f"    false trends per brand-day           {falses}",
        f"    planted 20x burst: minutes to top 3  {delays}",
        f"    sketch memory per brand (peak)       {max(mems) / 1e3:,.0f} kB",
        f"    one brand's trends, read once a bucket {max(reads):.2f} ms",
        "  spam: 500 campaign posts (200 new accounts) among 500 genuine ones",
        f"    precision / recall                   {sp['precision']:.3f} / {sp['recall']:.3f}",
        f"    campaigns found                      {sp['campaigns']:.0f} "
        f"({sp['campaign_posts']:.0f} posts, {sp['campaign_accounts']:.0f} accounts)",
        f"    corpus as organic traffic, flagged   {sp['organic_fpr']:.2%}",
        f"  cost on {args.events:,} demo events, same run",
        f"    Pipeline.process, signals off        {cost.pipeline_us:6.2f} us/event",
        f"    spam verdict (poll batches)          {cost.spam_us:6.2f} us/brand mention",
        f"    trend counting                       {cost.trends_us:6.2f} us/brand mention",
        f"    brand mentions per event             {cost.mentions_per_event:6.2f}",
        f"    one brand's trends, read once a bucket {cost.read_ms:.2f} ms",
        f"    demo mentions flagged                {cost.flagged:6.1%}",
        f"    added at {rate:g} events/s               {cost.added(rate):6.1%}",
        f"    added at 2,000 events/s              {cost.added(2000):6.1%}",
    ]
    print("\n" + "\n".join(rows))  # noqa: T201


if __name__ == "__main__":
    main()
