"""Benchmark: socialpulse, a naive aiokafka loop and the faust peer through one Apache Kafka.

    .venv/bin/python tests/bench/bench_throughput.py [--events 200000] [--events-1000 60000]
        [--texts corpus|pairs]

One run, one table. A fresh Apache Kafka 4.1 (``deploy/kafka/kafka.sh``) holds input topics of
4 partitions preloaded with tweets of the VADER ICWSM-2014 corpus, each naming exactly one brand
(half mentions, half impressions and likes of a brand), at 3 brands and at 1,000 brands (two
terms, a handle and an exclusion each). Every implementation runs as an OS process reading the
same topics with a group of its own:

* socialpulse: ``socialpulse run`` (its default four windows), ``/metrics`` scraped every second;
* sp-nosignals: ``socialpulse run`` with its signals stage off (``spam.enabled`` and
  ``trends.enabled`` false): the stage's cost through the broker, measured in the same run;
* socialpulse-2: two ``socialpulse run`` processes in one consumer group, their scrapes summed;
* naive: ``getmany``, ``json.loads``, stock vaderSentiment ``polarity_scores``, one labelled
  prometheus-client counter increment per event (this file run as ``naive``);
* faust: the faust-streaming agent peer ``tests/peer/faust_app.py`` (its default exactly-once).

Throughput counts events as they become visible in each process's ``/metrics`` (the 1 h
mentions, impressions and engagements; the naive counter), scraped every second, from the last
scrape showing none to the one showing all: events/s over that span, CPU µs per event (the
process's user + system time over the same span, /proc), and peak RSS (VmHWM). Then latency:
probe events created at a steady rate while the backlog is gone, p99 of event creation → the
scrape (every 0.25 s) whose count includes it (for naive: → processed). Each phase is bounded
by ``--limit`` seconds; an implementation that does not finish shows what it reached.

``--baseline DIR`` (another revision's ``services/``) adds ``sp-baseline``, that revision's
``socialpulse run``, and ``--rounds N`` runs each implementation N times, the two revisions
alternating (which goes first swaps every round) on the same broker and topics, each run with a
group of its own; the table then shows every run and the medians with their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import aiohttp
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

REPO: Final = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from ports import free_port  # noqa: E402 - needs the path above
from socialpulse.core.brands import BrandMatcher  # noqa: E402
from socialpulse.demo.brands import DEMO_BRANDS  # noqa: E402
from socialpulse.kafka.topics import TopicSpec, ensure_topics  # noqa: E402
from socialpulse.settings import BrandSettings  # noqa: E402
from vader_corpus import read_corpus  # noqa: E402 - needs the path above

KAFKA_SH: Final = REPO / "deploy" / "kafka" / "kafka.sh"
PARTITIONS: Final = 4
IMPLS: Final = ("socialpulse", "sp-nosignals", "socialpulse-2", "naive", "faust")
# ``socialpulse run`` of the revision ``--baseline`` names, beside this one's.
BASELINE: Final = "sp-baseline"
# socialpulse-2: two `socialpulse run` processes in one consumer group (one core each).
WORKERS: Final = {"socialpulse-2": 2}
SCRAPE_SECONDS: Final = 1.0
PROBE_SCRAPE_SECONDS: Final = 0.25
VISIBLE: Final = ("socialpulse_mentions{", "socialpulse_impressions{", "socialpulse_engagements{")
TICKS: Final = os.sysconf("SC_CLK_TCK")


def machine() -> str:
    """Cores and CPU model, from /proc/cpuinfo."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def many_brands(n: int) -> list[BrandSettings]:
    """``n`` roasters, each with two terms, a handle, an exclusion and two competitors."""
    if n <= len(DEMO_BRANDS):
        return list(DEMO_BRANDS[:n])
    ids = [f"r{i:04d}" for i in range(n)]
    return [
        BrandSettings(
            id=b,
            name=f"Roaster {b}",
            terms=(f"Roaster {b}", f"roaster{b}"),
            handles=(f"@roaster{b}",),
            exclude=(f"roaster {b} jobs",),
            competitors=tuple(ids[(i + j) % n] for j in (1, 2)),
            followers=10_000 + i,
        )
        for i, b in enumerate(ids)
    ]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


class Events:
    """Mentions (a corpus tweet naming one brand) and interactions, alternately.

    ``pairs``: each mention's text is two tweets drawn apart, so texts are distinct (about 17
    million pairs) and organic to the spam detector, where one tweet each repeats the corpus'
    4,200 and most mentions are reposts (filtered, never scored).
    """

    def __init__(self, brands: Sequence[BrandSettings], seed: int, pairs: bool = False) -> None:
        self._pairs = pairs
        self._brands = list(brands)
        matcher = BrandMatcher(brands)
        tweets = [t for _, t in read_corpus("tweets_GroundTruth.txt")]
        self._tweets = [t for t in tweets if not matcher.match(t, False)]
        self._matcher = matcher
        self._rng = random.Random(seed)
        self._n = 0

    def next(self, prefix: str) -> tuple[str, bytes, bytes]:
        """(stream, key, value) of the next event, created now."""
        r = self._rng
        self._n += 1
        brand = r.choice(self._brands)
        event_id = f"{prefix}-{self._n}"  # the naive loop knows its probes by the prefix
        if self._n % 2:
            term = brand.terms[self._n // 2 % len(brand.terms)]
            user = f"u{r.randrange(50_000)}"
            doc: dict[str, Any] = {
                "event_id": event_id,
                "platform": "x",
                "created_at": _now_iso(),
                "author": {"id": user, "handle": f"@{user}", "followers": r.randrange(10_000)},
                "text": f"{self._text(r)} {term}",
                "kind": "post",
            }
            return "mentions", user.encode(), json.dumps(doc).encode()
        user = f"v{r.randrange(50_000)}"
        doc = {
            "event_id": event_id,
            "platform": "x",
            "created_at": _now_iso(),
            "type": "impression" if self._n % 4 else "like",
            "brand": brand.id,
            "user_id": user,
        }
        return "interactions", user.encode(), json.dumps(doc).encode()

    def _text(self, r: random.Random) -> str:
        if self._pairs:
            return f"{r.choice(self._tweets)} {r.choice(self._tweets)}"
        return r.choice(self._tweets)

    def check(self, value: bytes) -> None:
        """Each mention must name exactly one brand, so every event counts exactly once."""
        text = json.loads(value)["text"]
        assert len(self._matcher.match(text, False)) == 1, text  # noqa: S101 - a bench check


@dataclass
class Result:
    """One implementation at one brand count."""

    impl: str
    brands: int
    events: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    rss_bytes: int = 0
    p99_seconds: float | None = None
    # The event loop's longest hold over the run, as the bucket bound of the service's
    # histogram (``socialpulse_event_loop_hold_seconds``) that holds it; None without one.
    hold_seconds: float | None = None
    finished: bool = False

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def us_per_event(self) -> float:
        return 1e6 * self.cpu_seconds / self.events if self.events else 0.0


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


HOLD_BUCKET: Final = "socialpulse_event_loop_hold_seconds_bucket{"


def longest_hold(text: str) -> float | None:
    """The smallest bucket bound of the loop-hold histogram holding every tick (None: absent)."""
    buckets = []
    for line in text.splitlines():
        if line.startswith(HOLD_BUCKET):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(le), float(line.rsplit(" ", 1)[1])))
    if not buckets:
        return None
    buckets.sort()
    return next(le for le, n in buckets if n >= buckets[-1][1])


def visible(text: str, impl: str) -> int:
    """Events the scrape shows processed (a fast line scan, not a full parse)."""
    total = 0.0
    if impl == "naive":
        for line in text.splitlines():
            if line.startswith("naive_events_total{"):
                total += float(line.rsplit(" ", 1)[1])
        return int(total)
    for line in text.splitlines():
        if line.startswith(VISIBLE) and 'window="1h"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


class Bench:
    """The broker, the topics of one brand count, and runs of each implementation on them."""

    def __init__(
        self, workdir: Path, limit: float, service_path: str, profile: str = "", baseline: str = ""
    ) -> None:
        self.workdir = workdir
        self.profile = profile
        self.limit = limit
        self.service_path = service_path
        self.baseline = baseline
        self.runs = 0
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.pidfile = workdir / "kafka.pid"
        self.expected = 0
        self.prefix = ""
        self.brands: list[BrandSettings] = []
        self.events: Events | None = None
        self.texts = "corpus"  # or "pairs": see ``Events``
        self.producer: AIOKafkaProducer | None = None

    def kafka(self, *args: str) -> str:
        out = subprocess.run(  # noqa: S603 - our own script, fixed arguments
            ["bash", str(KAFKA_SH), *args],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
            stdin=subprocess.DEVNULL,
            timeout=240,
        )
        return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""

    def start_kafka(self) -> None:
        self.kafka(
            "start",
            "--port",
            str(self.port),
            "--controller-port",
            str(free_port()),
            "--data",
            str(self.workdir / "kafka"),
            "--pidfile",
            str(self.pidfile),
        )

    def stop_kafka(self) -> None:
        self.kafka("stop", "--pidfile", str(self.pidfile))

    async def prepare(self, brands: list[BrandSettings], count: int) -> float:
        """New topics holding ``count`` events naming ``brands``; seconds the preload took."""
        self.brands = brands
        self.prefix = f"bench-{len(brands)}-{uuid.uuid4().hex[:6]}-"
        self.events = Events(brands, seed=len(brands), pairs=self.texts == "pairs")
        self.expected = 0
        spec = TopicSpec(partitions=PARTITIONS)
        await ensure_topics(
            {"bootstrap_servers": self.bootstrap},
            {f"{self.prefix}mentions": spec, f"{self.prefix}interactions": spec},
        )
        if self.producer is None:
            self.producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap, linger_ms=20, max_batch_size=256 * 1024
            )
            await self.producer.start()
        t0 = time.perf_counter()
        pending: list[asyncio.Future[Any]] = []
        for n in range(count):
            await self._send("pre", check=n < 200, pending=pending)
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        return time.perf_counter() - t0

    async def _send(self, prefix: str, *, check: bool, pending: list[asyncio.Future[Any]]) -> None:
        assert self.events is not None and self.producer is not None  # noqa: S101
        stream, key, value = self.events.next(prefix)
        if check and stream == "mentions":
            self.events.check(value)
        pending.append(await self.producer.send(f"{self.prefix}{stream}", value, key=key))
        self.expected += 1

    def _command(self, impl: str, port: int, member: int = 0) -> tuple[list[str], dict[str, str]]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SOCIALPULSE_", "PEER_"))}
        group = f"{self.prefix}{impl}-{self.runs}"
        mentions, interactions = f"{self.prefix}mentions", f"{self.prefix}interactions"
        if impl.startswith(("socialpulse", "sp-")):
            cfg = self.workdir / f"{group}-{member}.yaml"
            cfg.write_text(
                yaml.safe_dump(
                    {
                        "kafka": {
                            "bootstrap_servers": self.bootstrap,
                            "group_id": group,
                            "mentions_topic": mentions,
                            "interactions_topic": interactions,
                            "dlq_topic": f"{self.prefix}dlq",
                            "create_topics": True,
                        },
                        "brands": [b.model_dump(mode="json") for b in self.brands],
                        "demo": False,
                        "metrics_host": "127.0.0.1",
                        "metrics_port": port,
                        **(
                            {"spam": {"enabled": False}, "trends": {"enabled": False}}
                            if impl == "sp-nosignals"
                            else {}
                        ),
                    }
                )
            )
            path = self.baseline if impl == BASELINE else self.service_path
            if path:
                env["PYTHONPATH"] = path
            run = ["-m", "socialpulse.cli", "--config", str(cfg), "run"]
            if self.profile:  # cProfile writes its file when the service exits on SIGTERM
                name = f"{impl}-{len(self.brands)}-{member}-{self.runs}"
                out = Path(self.profile) / f"{name}.prof"
                run = ["-m", "cProfile", "-o", str(out), *run]
            return [sys.executable, *run], env
        if impl == "naive":
            args = [self.bootstrap, group, mentions, interactions, str(port), "probenaive-"]
            return [sys.executable, __file__, "naive", *args, str(self.workdir / group)], env
        brands_file = self.workdir / f"{group}-brands.json"
        brands_file.write_text(json.dumps([b.model_dump(mode="json") for b in self.brands]))
        datadir = self.workdir / f"{group}-faust"
        datadir.mkdir()
        env |= {
            "PEER_BROKER": self.bootstrap,
            "PEER_APP_ID": group,
            "PEER_MENTIONS_TOPIC": mentions,
            "PEER_INTERACTIONS_TOPIC": interactions,
            "PEER_METRICS_PORT": str(port),
            "PEER_DATA_DIR": str(datadir),
            "PEER_BRANDS_FILE": str(brands_file),
            "PYTHONPATH": str(REPO),
        }
        cmd = [sys.executable, "-m", "tests.peer.faust_app", "worker", "-l", "warn"]
        return [*cmd, "--without-web"], env

    async def run(self, impl: str) -> Result:
        """Start ``impl``, time it through the backlog, then probe its latency; stop it."""
        self.runs += 1
        ports = [free_port() for _ in range(WORKERS.get(impl, 1))]
        procs: list[asyncio.subprocess.Process] = []
        logs = []
        for member, port in enumerate(ports):
            cmd, env = self._command(impl, port, member)
            log_path = self.workdir / f"{self.prefix}{impl}-{member}-{self.runs}.log"
            logs.append((log_path, log_path.open("wb")))
            procs.append(
                await asyncio.create_subprocess_exec(
                    *cmd, env=env, cwd=REPO, stdout=logs[-1][1], stderr=asyncio.subprocess.STDOUT
                )
            )
        result = Result(impl, len(self.brands))
        pids = [p.pid for p in procs]
        try:
            async with aiohttp.ClientSession() as http:
                await self._throughput(impl, pids, ports, http, result)
                if result.finished:
                    result.p99_seconds = await self._latency(impl, ports, http)
                    holds = [longest_hold(await self._text(http, port) or "") for port in ports]
                    if impl != "naive" and None not in holds:
                        result.hold_seconds = max(h for h in holds if h is not None)
        except FileNotFoundError as e:  # /proc/<pid> gone: a process died
            tails = []
            for proc, (log_path, _) in zip(procs, logs, strict=True):
                if proc.returncode is not None or not os.path.exists(f"/proc/{proc.pid}"):  # noqa: ASYNC240, PTH110
                    await proc.wait()
                    tail = log_path.read_text(errors="replace").splitlines()[-20:]  # noqa: ASYNC240
                    tails.append(f"{impl} exited with {proc.returncode}:\n" + "\n".join(tail))
            raise RuntimeError("\n".join(tails) or str(e)) from e
        finally:
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            for _, log in logs:
                log.close()
        if impl == "naive" and result.finished:
            out = self.workdir / f"{self.prefix}naive-{self.runs}"
            lat = sorted(json.loads(out.read_text()))
            result.p99_seconds = lat[int(0.99 * (len(lat) - 1))] if lat else None
        return result

    async def _text(self, http: aiohttp.ClientSession, port: int) -> str | None:
        """One scrape's text (None if it did not answer)."""
        try:
            async with http.get(
                f"http://127.0.0.1:{port}/metrics", timeout=aiohttp.ClientTimeout(total=30)
            ) as r:
                return await r.text()
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def _scrape(self, http: aiohttp.ClientSession, ports: list[int], impl: str) -> int | None:
        """Events visible over every process of ``impl`` (None if one did not answer)."""
        total = 0
        for port in ports:
            text = await self._text(http, port)
            if text is None:
                return None
            total += visible(text, impl)
        return total

    async def _throughput(
        self,
        impl: str,
        pids: list[int],
        ports: list[int],
        http: aiohttp.ClientSession,
        result: Result,
    ) -> None:
        # From the last scrape that showed nothing (when it was sent): a lower bound on the rate
        # even when a whole backlog is done between two scrapes.
        first: tuple[float, int, float] | None = None
        idle = (time.monotonic(), 0, sum(map(_cpu, pids)))
        deadline = time.monotonic() + self.limit + 60  # start-up and group join on top
        tick = time.monotonic()
        while time.monotonic() < deadline:
            sent, cpu_sent = time.monotonic(), sum(map(_cpu, pids))
            count = await self._scrape(http, ports, impl)
            t = time.monotonic()
            if count is not None and first is None and count == 0:
                idle = (sent, 0, cpu_sent)
            if count:
                cpu = sum(map(_cpu, pids))
                if first is None:
                    first = idle
                    deadline = t + self.limit
                result.events = count - first[1]
                result.seconds = t - first[0]
                result.cpu_seconds = cpu - first[2]
                result.rss_bytes = sum(map(_hwm, pids))
                if count >= self.expected:
                    result.finished = True
                    return
            tick += SCRAPE_SECONDS
            await asyncio.sleep(max(0.0, tick - time.monotonic()))

    async def _latency(
        self, impl: str, ports: list[int], http: aiohttp.ClientSession
    ) -> float | None:
        """p99 seconds from creating each probe event to the first scrape that counts it."""
        base = self.expected
        rate, seconds = 500.0, 10.0
        created: list[float] = []
        seen: list[tuple[float, int]] = []
        done = asyncio.Event()

        async def produce() -> None:
            pending: list[asyncio.Future[Any]] = []
            t0 = time.monotonic()
            for n in range(int(rate * seconds)):
                await asyncio.sleep(max(0.0, t0 + n / rate - time.monotonic()))
                created.append(time.time())
                await self._send(f"probe{impl}", check=False, pending=pending)
            await asyncio.gather(*pending)

        async def watch() -> None:
            end = time.monotonic() + seconds + self.limit
            while time.monotonic() < end and not done.is_set():
                count = await self._scrape(http, ports, impl)
                if count is not None:
                    seen.append((time.time(), count - base))
                    if count >= base + int(rate * seconds):
                        return
                await asyncio.sleep(PROBE_SCRAPE_SECONDS)

        await asyncio.gather(produce(), watch())
        if impl == "naive":
            return None  # the loop measures its own (creation → processed)
        lat: list[float] = []
        j = 0
        for k, c in enumerate(created):
            while j < len(seen) and seen[j][1] < k + 1:
                j += 1
            if j == len(seen):
                return None  # never all visible within the limit
            lat.append(seen[j][0] - c)
        lat.sort()
        return lat[int(0.99 * (len(lat) - 1))]


def _median_run(runs: list[Result]) -> Result:
    """The run of median rate (the lower one of an even count): ratios from a run that was."""
    return sorted(runs, key=lambda r: r.rate)[(len(runs) - 1) // 2]


def table(results: list[Result]) -> str:
    """Every run, then the ratios between implementations' median runs (``--rounds``)."""
    head = (
        f"{'brands':>6}  {'implementation':<17}{'events':>9}{'events/s':>11}{'CPU µs/ev':>11}"
        f"{'p99 s':>8}{'hold s':>8}{'RSS MiB':>9}"
    )
    lines = [head, "-" * len(head)]
    for n in sorted({r.brands for r in results}):
        rows = {
            impl: _median_run([r for r in results if (r.brands, r.impl) == (n, impl)])
            for impl in {r.impl for r in results if r.brands == n}
        }
        runs = [
            r for impl in (*IMPLS, BASELINE) for r in results if (r.brands, r.impl) == (n, impl)
        ]
        for r in runs:
            impl = r.impl
            p99 = f"{r.p99_seconds:.3f}" if r.p99_seconds is not None else "—"
            hold = f"≤{r.hold_seconds:g}" if r.hold_seconds is not None else "—"
            note = "" if r.finished else "  (limit reached)"
            lines.append(
                f"{n:>6}  {impl:<17}{r.events:>9}{r.rate:>11,.0f}{r.us_per_event:>11,.0f}"
                f"{p99:>8}{hold:>8}{r.rss_bytes / 2**20:>9,.0f}{note}"
            )
        ours, naive, two = rows.get("socialpulse"), rows.get("naive"), rows.get("socialpulse-2")
        off = rows.get("sp-nosignals")
        if ours and off and off.us_per_event and off.rate:
            lines.append(
                f"{n:>6}  {'signals adds':<14}{'':>9}{off.rate / ours.rate - 1:>10.1%} "
                f"{ours.us_per_event / off.us_per_event - 1:>10.1%}"
            )
        if ours and two and ours.rate:
            lines.append(f"{n:>6}  {'sp-2 ÷ sp':<14}{'':>9}{two.rate / ours.rate:>10.2f}×")
        if ours and naive and naive.rate and ours.us_per_event:
            lines.append(
                f"{n:>6}  {'sp ÷ naive':<14}{'':>9}{ours.rate / naive.rate:>10.2f}×"
                f"{ours.us_per_event / naive.us_per_event:>10.2f}×"
                f"{'':>8}{ours.rss_bytes / naive.rss_bytes:>8.2f}×"
            )
    return "\n".join(lines)


def _order(impls: list[str], round_: int) -> list[str]:
    """``impls`` in order, this revision and the baseline swapped every other round."""
    if round_ % 2 and "socialpulse" in impls and BASELINE in impls:
        i, j = impls.index("socialpulse"), impls.index(BASELINE)
        impls = list(impls)
        impls[i], impls[j] = impls[j], impls[i]
    return impls


def rounds_table(results: list[Result]) -> str:
    """Every run of this revision and the baseline, then the medians and their ratio."""
    lines = []
    for n in sorted({r.brands for r in results}):
        ours = [r for r in results if r.brands == n and r.impl == "socialpulse"]
        base = [r for r in results if r.brands == n and r.impl == BASELINE]
        if not ours or not base:
            continue
        cells = "  ".join(
            f"{a.us_per_event:.1f}/{b.us_per_event:.1f}" for a, b in zip(ours, base, strict=False)
        )
        lines.append(f"{n:>6}  CPU µs/event per round (this/baseline): {cells}")
        mine = statistics.median(r.us_per_event for r in ours)
        theirs = statistics.median(r.us_per_event for r in base)
        p99s = [r.p99_seconds for r in ours if r.p99_seconds is not None]
        p99b = [r.p99_seconds for r in base if r.p99_seconds is not None]
        lines.append(
            f"{n:>6}  median CPU µs/event {mine:.1f} vs {theirs:.1f}: {mine / theirs:.3f}×; "
            f"median p99 s {statistics.median(p99s) if p99s else float('nan'):.3f} vs "
            f"{statistics.median(p99b) if p99b else float('nan'):.3f}"
        )
    return "\n".join(lines)


async def bench(args: argparse.Namespace) -> None:
    """Start Kafka, preload each size, run every implementation, print the table."""
    print(f"machine: {machine()}")  # noqa: T201
    only = args.only.split(",")
    impls = [i for i in (*IMPLS, BASELINE) if i in only or (i == BASELINE and args.baseline)]
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        b = Bench(Path(tmp), args.limit, args.service_path, args.profile, args.baseline)
        b.texts = args.texts
        b.start_kafka()
        results: list[Result] = []
        try:
            for n, count in ((3, args.events), (1000, args.events_1000)):
                if not count:
                    continue
                took = await b.prepare(many_brands(n), count)
                print(f"{n} brands: preloaded {count:,} events in {took:.1f} s", flush=True)  # noqa: T201
                for round_ in range(args.rounds):
                    for impl in _order(impls, round_):
                        r = await b.run(impl)
                        results.append(r)
                        print(  # noqa: T201
                            f"  {impl}: {r.events:,} events in {r.seconds:.1f} s, "
                            f"{r.us_per_event:.1f} µs/event, p99 {r.p99_seconds}",
                            flush=True,
                        )
        finally:
            if b.producer is not None:
                await b.producer.stop()
            b.stop_kafka()
    print()  # noqa: T201
    print(  # noqa: T201
        f"events/s and CPU µs/event over the backlog (scrapes every {SCRAPE_SECONDS:g} s); "
        f"p99: creation → /metrics scrape every {PROBE_SCRAPE_SECONDS:g} s "
        "(naive: → processed), 500 ev/s probes; hold: the event loop's longest hold over the "
        "run (backlog and probes), as the bound of socialpulse_event_loop_hold_seconds' bucket"
    )
    print(table(results))  # noqa: T201
    if args.baseline:
        print(rounds_table(results))  # noqa: T201


async def naive(argv: Sequence[str]) -> None:
    """The loop a first version would be: decode, score, count, nothing else."""
    from prometheus_client import CollectorRegistry, Counter, start_http_server
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    bootstrap, group, mentions, interactions, port, probe, out = argv
    registry = CollectorRegistry()
    events = Counter("naive_events", "Events", ["stream", "label"], registry=registry)
    start_http_server(int(port), addr="127.0.0.1", registry=registry)
    vader = SentimentIntensityAnalyzer()
    consumer = AIOKafkaConsumer(
        mentions,
        interactions,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    latencies: list[float] = []
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            for tp, records in batch.items():
                for r in records:
                    doc = json.loads(r.value)
                    if tp.topic == mentions:
                        c = vader.polarity_scores(doc["text"])["compound"]
                        label = "positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral"
                        events.labels("mentions", label).inc()
                    else:
                        events.labels("interactions", doc["type"]).inc()
                    if doc["event_id"].startswith(probe):
                        ts = datetime.fromisoformat(doc["created_at"]).timestamp()
                        latencies.append(time.time() - ts)
    finally:
        Path(out).write_text(json.dumps(latencies))  # noqa: ASYNC240 - once, at exit
        await consumer.stop()


def main() -> None:
    """Parse arguments and run the benchmark (or, as ``naive``, the naive loop)."""
    if len(sys.argv) > 1 and sys.argv[1] == "naive":
        asyncio.run(naive(sys.argv[2:]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events at 3 brands")
    parser.add_argument("--events-1000", type=int, default=60_000, help="events at 1,000 brands")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds per phase at most")
    parser.add_argument("--only", default=",".join(IMPLS), help="implementations, comma-separated")
    parser.add_argument(
        "--service-path",
        default="",
        help="import socialpulse from here (e.g. another revision's services/) for its process",
    )
    parser.add_argument(
        "--profile", default="", help="write a cProfile of each socialpulse run into this folder"
    )
    parser.add_argument(
        "--baseline",
        default="",
        help="also run socialpulse from here (another revision's services/), alternating",
    )
    parser.add_argument("--rounds", type=int, default=1, help="runs of each implementation")
    parser.add_argument(
        "--texts",
        choices=("corpus", "pairs"),
        default="corpus",
        help="mention texts: a corpus tweet (mostly reposts), or two (distinct, organic)",
    )
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
