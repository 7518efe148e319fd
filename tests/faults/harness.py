"""Fault-test harness: worker processes, a steady event feeder, /metrics scraping, broker control.

Both implementations under test run as real OS processes and are measured the same way, through
the Prometheus text they export: ``socialpulse`` (``python -m socialpulse.cli run``) and the
faust-streaming reference peer (``python -m tests.peer.faust_app worker``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import aiohttp
import yaml
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from ports import free_port
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.demo.generator import DemoTraffic
from socialpulse.kafka.topics import TopicSpec, ensure_topics

REPO: Final = Path(__file__).resolve().parents[2]
KAFKA_SH: Final = REPO / "deploy" / "kafka" / "kafka.sh"
IMPLS: Final = ("socialpulse", "faust")
PARTITIONS: Final = 4
WINDOW: Final = "1h"
# Event times are drawn from this many seconds before "now" so all land in the 1 h window and
# stay there for the few minutes a test takes.
DEFAULT_AGE_RANGE: Final = (60.0, 40 * 60.0)
EVENTS_ENV: Final = "SOCIALPULSE_FAULT_EVENTS"
DEFAULT_EVENTS: Final = 20_000
RATE_ENV: Final = "SOCIALPULSE_FAULT_RATE"
DEFAULT_RATE: Final = 1000.0
# Where the socialpulse workers import socialpulse from (e.g. a worktree's ``services`` to measure
# another revision); unset: the installed package.
SERVICE_PATH_ENV: Final = "SOCIALPULSE_FAULT_SERVICE_PATH"

# The brand settings every socialpulse revision knows (newer optional fields are left out).
BRAND_FIELDS: Final = {"id", "name", "terms", "handles", "exclude", "competitors", "followers"}
# (brand, kpi) -> value; kpi in KPIS.
Kpis = dict[tuple[str, str], int]
KPIS: Final = (
    "mentions",
    "positive",
    "neutral",
    "negative",
    "unscored",
    "impressions",
    "engagements",
)
# The KPIs that count events once each (sentiment classes split the mentions again).
EVENT_KPIS: Final = ("mentions", "impressions", "engagements")
Source = tuple[str, int]


def fault_events() -> int:
    """Events streamed by each fault test (``SOCIALPULSE_FAULT_EVENTS``)."""
    return int(os.environ.get(EVENTS_ENV, DEFAULT_EVENTS))


def fault_rate() -> float:
    """Events per second the feeder produces (``SOCIALPULSE_FAULT_RATE``)."""
    return float(os.environ.get(RATE_ENV, DEFAULT_RATE))


def clean_env() -> dict[str, str]:
    """The test process's environment without any ``SOCIALPULSE_*`` or ``PEER_*`` variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SOCIALPULSE_", "PEER_"))}


@dataclass(frozen=True)
class Scenario:
    """Topics and consumer group of one test run, unique to it."""

    bootstrap: str
    prefix: str
    workdir: Path

    @property
    def mentions_topic(self) -> str:
        return f"{self.prefix}mentions"

    @property
    def interactions_topic(self) -> str:
        return f"{self.prefix}interactions"

    @property
    def dlq_topic(self) -> str:
        return f"{self.prefix}dlq"

    @property
    def group_id(self) -> str:
        return f"{self.prefix}group"

    @property
    def input_partitions(self) -> set[Source]:
        return {
            (t, p)
            for t in (self.mentions_topic, self.interactions_topic)
            for p in range(PARTITIONS)
        }

    async def create_topics(self) -> None:
        """The input topics with 4 partitions, the dead-letter topic with 1."""
        spec = TopicSpec(partitions=PARTITIONS)
        await ensure_topics(
            {"bootstrap_servers": self.bootstrap},
            {
                self.mentions_topic: spec,
                self.interactions_topic: spec,
                self.dlq_topic: TopicSpec(partitions=1),
            },
        )


def new_scenario(bootstrap: str, workdir: Path, name: str) -> Scenario:
    """A scenario with topic and group names no other run uses."""
    return Scenario(bootstrap, f"fault-{name}-{uuid.uuid4().hex[:8]}-", workdir)


@dataclass
class Scrape:
    """What one worker's /metrics said: 1 h KPIs, consumer lag, rejects and every KPI sample."""

    kpis: Kpis
    lag: dict[Source, int]
    rejected: dict[str, float]
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]
    # Samples without labels by name, e.g. ``socialpulse_state_flush_failures_total``.
    counters: dict[str, float] = field(default_factory=dict)


def parse_metrics(text: str) -> Scrape:
    """Read the KPIs of the 1 h window and the service gauges out of Prometheus text."""
    kpis: Kpis = defaultdict(int)
    lag: dict[Source, int] = {}
    rejected: dict[str, float] = {}
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    counters: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = s.labels
            if not labels:
                counters[s.name] = s.value
            if "brand" in labels and labels.get("window") in (WINDOW, "24h"):
                samples[(s.name, tuple(sorted(labels.items())))] = s.value
            if s.name == "socialpulse_consumer_lag_records":
                lag[(labels["topic"], int(labels["partition"]))] = int(s.value)
            elif s.name == "socialpulse_events_rejected_total":
                rejected[labels["reason"]] = s.value
            if labels.get("window") != WINDOW:
                continue
            brand = labels.get("brand", "")
            if s.name == "socialpulse_mentions":
                kpis[(brand, "mentions")] += int(s.value)
            elif s.name == "socialpulse_mentions_by_sentiment":
                kpis[(brand, labels["sentiment"])] += int(s.value)
            elif s.name == "socialpulse_impressions":
                kpis[(brand, "impressions")] += int(s.value)
            elif s.name == "socialpulse_engagements":
                kpis[(brand, "engagements")] += int(s.value)
    return Scrape(dict(kpis), lag, rejected, samples, counters)


async def scrape(port: int) -> Scrape | None:
    """One worker's metrics, or None while it does not answer."""
    try:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                if resp.status != 200:
                    return None
                text = await resp.text()
    except (aiohttp.ClientError, OSError, TimeoutError):
        return None
    return parse_metrics(text)


def sum_kpis(scrapes: Iterable[Scrape]) -> Kpis:
    """Totals across workers: each exports only the partitions it owns."""
    total: Kpis = defaultdict(int)
    for s in scrapes:
        for k, v in s.kpis.items():
            total[k] += v
    return dict(total)


class WorkerProcess:
    """One worker of either implementation, as an OS process with its own metrics port."""

    def __init__(
        self,
        impl: str,
        scenario: Scenario,
        name: str,
        *,
        kafka: Mapping[str, Any] | None = None,
        brands: Sequence[Mapping[str, Any]] | None = None,
        bootstrap: str | None = None,
        spam: bool = False,
    ) -> None:
        """A worker of ``impl``; ``bootstrap`` overrides the scenario's broker address.

        ``kafka`` adds socialpulse ``kafka.*`` settings and ``brands`` replaces the demo brands
        (socialpulse only: the faust peer has its own fixed configuration). ``spam`` turns the
        spam heuristics on (the oracle then judges each partition with the core signals stage).
        """
        if impl not in IMPLS:
            raise ValueError(f"unknown implementation {impl!r}")
        self.impl = impl
        self.spam = spam
        self.scenario = scenario
        self.name = name
        self.kafka_settings = dict(kafka or {})
        self.brands = (
            [dict(b) for b in brands]
            if brands is not None
            else [b.model_dump(mode="json", include=BRAND_FIELDS) for b in DEMO_BRANDS]
        )
        self.bootstrap = bootstrap or scenario.bootstrap
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.log = scenario.workdir / f"{name}.log"
        self.starts = 0
        self.started_at = 0.0

    def _command(self) -> tuple[list[str], dict[str, str]]:
        sc = self.scenario
        env = clean_env()
        if self.impl == "socialpulse":
            cfg = sc.workdir / f"{self.name}.yaml"
            cfg.write_text(
                yaml.safe_dump(
                    {
                        "kafka": {
                            "bootstrap_servers": self.bootstrap,
                            "group_id": sc.group_id,
                            "mentions_topic": sc.mentions_topic,
                            "interactions_topic": sc.interactions_topic,
                            "dlq_topic": sc.dlq_topic,
                            "create_topics": True,
                            **self.kafka_settings,
                        },
                        "brands": self.brands,
                        "demo": False,
                        "metrics_host": "127.0.0.1",
                        "metrics_port": self.port,
                        "windows": ["5m", "1h", "24h"],
                        # Off unless asked: the oracle judges spam only when told to.
                        "spam": {"enabled": self.spam},
                        "summary_interval_seconds": 30,
                    }
                )
            )
            if os.environ.get(SERVICE_PATH_ENV):
                env["PYTHONPATH"] = os.environ[SERVICE_PATH_ENV]
            return [sys.executable, "-m", "socialpulse.cli", "--config", str(cfg), "run"], env
        datadir = sc.workdir / f"{self.name}-faust-data"
        datadir.mkdir(exist_ok=True)
        env |= {
            "PEER_BROKER": self.bootstrap,
            "PEER_APP_ID": sc.group_id,
            "PEER_MENTIONS_TOPIC": sc.mentions_topic,
            "PEER_INTERACTIONS_TOPIC": sc.interactions_topic,
            "PEER_METRICS_PORT": str(self.port),
            "PEER_DATA_DIR": str(datadir),
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
        }
        cmd = [sys.executable, "-m", "tests.peer.faust_app", "worker", "-l", "warn"]
        return [*cmd, "--without-web"], env

    async def start(self) -> None:
        """Start (or restart) the process; its output goes to ``<name>.log``."""
        assert self.proc is None or self.proc.returncode is not None, "already running"
        cmd, env = self._command()
        with self.log.open("ab") as log:
            log.write(f"\n===== start {self.starts + 1} at {time.time():.3f}\n".encode())
            log.flush()
            self.proc = await asyncio.create_subprocess_exec(
                *cmd, env=env, cwd=REPO, stdout=log, stderr=asyncio.subprocess.STDOUT
            )
        self.starts += 1
        self.started_at = time.monotonic()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def kill9(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        await self.proc.wait()

    def pause(self) -> None:
        """SIGSTOP: the process stops dead, heartbeats included, keeping whatever it holds."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT: the paused process carries on where it stopped."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    async def terminate(self, grace_s: float = 60.0) -> int | None:
        """SIGTERM and wait for a clean exit; SIGKILL after ``grace_s`` (then returns None)."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), grace_s)
        except TimeoutError:
            await self.kill9()
            return None

    async def close(self) -> None:
        """Make sure the process is gone (teardown)."""
        if self.alive:
            await self.kill9()

    async def scrape(self) -> Scrape | None:
        return await scrape(self.port) if self.alive else None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Converged:
    """Totals of a converged group and how long it took to get there."""

    kpis: Kpis
    scrapes: list[Scrape]
    seconds: float
    at: float  # wall clock of the final scrape


async def wait_converged(
    workers: Sequence[WorkerProcess],
    scenario: Scenario,
    since: float,
    limit_s: float = 300.0,
    interval: float = 2.0,
) -> Converged:
    """Wait until the group has converged and return its totals.

    Converged: every live worker answers, reports lag 0, the group covers every input partition,
    and the summed KPIs are the same in two scrapes ``interval`` seconds apart. ``since`` is the
    ``time.monotonic()`` the recovery time is measured from. Raises TimeoutError with the last
    observations when it does not converge in ``limit_s``.
    """
    deadline = time.monotonic() + limit_s
    previous: Kpis | None = None
    last: str = "no scrape yet"
    while time.monotonic() < deadline:
        dead = [w for w in workers if not w.alive]
        if dead:
            tails = "\n".join(f"--- {w.name}\n{w.log_tail()}" for w in dead)
            codes = ", ".join(f"{w.name} ({w.proc.returncode if w.proc else None})" for w in dead)
            raise TimeoutError(f"never converges: worker exited: {codes}\n{tails}")
        live = list(workers)
        scrapes = [await w.scrape() for w in live]
        ok = [s for s in scrapes if s is not None]
        if live and len(ok) == len(live):
            lag: dict[Source, int] = {}
            for s in ok:
                lag.update(s.lag)
            covered = scenario.input_partitions <= set(lag)
            behind = sum(lag.values())
            total = sum_kpis(ok)
            if covered and behind == 0 and previous == total:
                return Converged(total, ok, time.monotonic() - since, time.time())
            previous = total if covered and behind == 0 else None
            last = f"covered={covered} lag={behind} kpis={sorted(total.items())[:6]}"
        else:
            previous = None
            last = f"{len(live)} live, {len(ok)} answered"
        await asyncio.sleep(interval)
    tails = "\n".join(f"--- {w.name}\n{w.log_tail()}" for w in workers)
    raise TimeoutError(f"not converged after {limit_s:.0f} s: {last}\n{tails}")


CAMPAIGN_TEXT: Final = (
    "{brand} sent me a free gift card for testing their new range, claim yours now at the link"
)


def campaign_mentions(
    topic: str, now: float, posts: int = 240, accounts: int = 60, seed: int = 0
) -> list[tuple[str, bytes, bytes]]:
    """A copy-paste campaign about the first demo brand, keyed by author.

    Small edits of one post from new accounts (2 followers each), created over the last half
    hour: enough posts per partition to be flagged there (``campaign``, ``near_duplicate``,
    ``new_account_burst``) whichever way the accounts fall.
    """
    rng = random.Random(seed)  # noqa: S311 - test data
    brand = DEMO_BRANDS[0]
    out = []
    for n in range(posts):
        words = CAMPAIGN_TEXT.format(brand=brand.terms[0]).split()
        words.insert(rng.randrange(len(words)), rng.choice(["wow", "omg", "pls", "so", "yes"]))
        author = f"promo{n % accounts}"
        at = datetime.fromtimestamp(now - rng.uniform(120, 1800), UTC)
        record = {
            "event_id": str(uuid.uuid4()),
            "platform": "x",
            "created_at": at.isoformat().replace("+00:00", "Z"),
            "author": {"id": author, "handle": f"@{author}", "followers": 2, "verified": False},
            "text": " ".join(words),
            "kind": "post",
            "language": "en",
        }
        out.append((topic, author.encode(), json.dumps(record).encode()))
    return out


@dataclass
class Feeder:
    """Produces demo-like events at a steady rate in a background task; the topics are the truth.

    Mentions are keyed by author id and interactions by user id; every event has a unique
    ``event_id``. With ``duplicate_every`` = n, every n-th event is followed by a re-send of a
    random earlier event (same topic, key and bytes). ``extra`` records are sent first;
    ``interleave`` records are spread evenly over the run, among the generated ones.
    """

    scenario: Scenario
    total: int
    rate: float
    seed: int = 0
    duplicate_every: int = 0
    age_range: tuple[float, float] = DEFAULT_AGE_RANGE
    extra: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    interleave: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    sent: int = 0
    failed: int = 0
    duplicates: int = 0
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="feeder")

    async def wait(self, limit_s: float = 900.0) -> None:
        assert self.task is not None
        await asyncio.wait_for(asyncio.shield(self.task), limit_s)

    @property
    def done(self) -> bool:
        return self.task is not None and self.task.done()

    async def until_fraction(self, fraction: float) -> None:
        """Wait until ``fraction`` of the events have been handed to the producer."""
        while self.sent < fraction * self.total and not self.done:  # noqa: ASYNC110 - a counter
            await asyncio.sleep(0.05)

    async def _run(self) -> None:
        rng = random.Random(self.seed)  # noqa: S311 - test data
        traffic = DemoTraffic(DEMO_BRANDS, rng)
        topics = {
            "mentions": self.scenario.mentions_topic,
            "interactions": self.scenario.interactions_topic,
        }
        producer = AIOKafkaProducer(
            bootstrap_servers=self.scenario.bootstrap,
            enable_idempotence=False,
            acks="all",
            linger_ms=20,
            request_timeout_ms=120_000,
        )
        await producer.start()
        history: list[tuple[str, bytes, bytes]] = []
        pending: list[asyncio.Future[Any]] = []
        planted = 0
        try:
            for topic, key, value in self.extra:
                pending.append(await producer.send(topic, value=value, key=key))
            start = time.monotonic()
            while self.sent < self.total:
                due = min(self.total, int((time.monotonic() - start) * self.rate)) - self.sent
                for _ in range(due):
                    now = datetime.fromtimestamp(time.time() - rng.uniform(*self.age_range), UTC)
                    stream, key, value = traffic.encoded_next(now)
                    record = (topics[stream], key, value)
                    pending.append(await producer.send(record[0], value=value, key=key))
                    self.sent += 1
                    while planted < len(self.interleave) and (
                        planted * self.total < self.sent * len(self.interleave)
                    ):
                        t, k, v = self.interleave[planted]
                        pending.append(await producer.send(t, value=v, key=k))
                        planted += 1
                    if self.duplicate_every:
                        history.append(record)
                        if self.sent % self.duplicate_every == 0:
                            t, k, v = rng.choice(history)
                            pending.append(await producer.send(t, value=v, key=k))
                            self.duplicates += 1
                if len(pending) > 2000:
                    await self._settle(pending)
                    pending = []
                await asyncio.sleep(0.05)
            await self._settle(pending)
        finally:
            await producer.stop()

    async def _settle(self, pending: list[asyncio.Future[Any]]) -> None:
        for result in await asyncio.gather(*pending, return_exceptions=True):
            if isinstance(result, BaseException):
                self.failed += 1


class SeparateKafka:
    """An Apache Kafka of its own (``deploy/kafka/kafka.sh``) that a test may stop and restart.

    ``kafka.sh start`` formats fresh storage on every start, so a restart that keeps the data
    re-runs the broker's own java command line (read from /proc) on the same data directory.
    """

    def __init__(self, workdir: Path) -> None:
        self.data = workdir
        self.pidfile = workdir / "kafka.pid"
        self.port = free_port()
        self.controller_port = free_port()
        self.argv: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _kafka_sh(self, *args: str, limit_s: float = 240) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            "bash",
            str(KAFKA_SH),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), limit_s)
        assert proc.returncode is not None
        return proc.returncode, out.decode(errors="replace")

    async def start(self) -> None:
        """Fresh broker via ``kafka.sh start``."""
        code, out = await self._kafka_sh(
            "start",
            "--port",
            str(self.port),
            "--controller-port",
            str(self.controller_port),
            "--data",
            str(self.data),
            "--pidfile",
            str(self.pidfile),
        )
        if code != 0:
            raise RuntimeError(f"kafka.sh start failed:\n{out}")
        self.argv = _command_line(self.pidfile)

    async def stop(self) -> None:
        """Graceful stop (SIGTERM, SIGKILL after 30 s) via ``kafka.sh stop``."""
        code, out = await self._kafka_sh("stop", "--pidfile", str(self.pidfile))
        if code != 0:
            raise RuntimeError(f"kafka.sh stop failed:\n{out}")
        if self.proc is not None:
            await self.proc.wait()
            self.proc = None

    async def restart_keeping_data(self, limit_s: float = 120.0) -> None:
        """Start the same broker again on its existing data, same ports."""
        log = (self.data / "kafka.log").open("ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self.pidfile.write_text(f"{self.proc.pid}\n")
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                raise RuntimeError(f"restarted broker exited with {self.proc.returncode}")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                await writer.wait_closed()
                return
            await asyncio.sleep(0.25)
        raise TimeoutError("restarted broker does not accept connections")


_CRASH = re.compile(r"Crashed reason=(\w+)\('([^'\n]{0,60})|(Traceback) \(most recent call last\)")


def crash_summary(workers: Iterable[WorkerProcess]) -> str:
    """Distinct errors the workers logged (faust's "Crashed reason=..." lines, tracebacks)."""
    seen: dict[str, int] = {}
    for w in workers:
        try:
            text = w.log.read_text(errors="replace")
        except OSError:
            continue
        for m in _CRASH.finditer(text):
            what = f"{m.group(1)}: {m.group(2)}" if m.group(1) else "traceback"
            seen[what] = seen.get(what, 0) + 1
    return ", ".join(f"{n}× {what}" for what, n in sorted(seen.items(), key=lambda kv: -kv[1]))


def _command_line(pidfile: Path) -> list[str]:
    """The argv of the process whose pid is in ``pidfile``."""
    pid = int(pidfile.read_text())
    return Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")


def dump_report(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write the result rows as JSON."""
    path.write_text(json.dumps(list(rows), indent=2) + "\n")


@dataclass
class MinuteFeeder:
    """Demo traffic in event-time order: all of one minute's events, then the next minute's.

    Minute ``k`` is the wall-clock minute ``first_minute + k`` (epoch minutes); its ``per_minute``
    events are sent over ``minute_seconds`` real seconds and acknowledged before minute ``k + 1``
    starts, so a worker that has read past a minute never sees that minute again. With
    ``hold_at`` = (k, fraction), the feeder stops after that share of minute ``k`` (all of it
    acknowledged), sets ``held`` and waits for ``release``.
    """

    scenario: Scenario
    first_minute: int
    minutes: int
    per_minute: int
    minute_seconds: float
    seed: int = 0
    hold_at: tuple[int, float] | None = None
    sent: int = 0
    failed: int = 0
    minute: int = 0  # the minute being sent
    held: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def total(self) -> int:
        return self.minutes * self.per_minute

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="minute-feeder")

    async def wait(self, limit_s: float = 900.0) -> None:
        assert self.task is not None
        await asyncio.wait_for(asyncio.shield(self.task), limit_s)

    async def _run(self) -> None:
        rng = random.Random(self.seed)  # noqa: S311 - test data
        traffic = DemoTraffic(DEMO_BRANDS, rng)
        topics = {
            "mentions": self.scenario.mentions_topic,
            "interactions": self.scenario.interactions_topic,
        }
        producer = AIOKafkaProducer(
            bootstrap_servers=self.scenario.bootstrap,
            enable_idempotence=False,
            acks="all",
            linger_ms=20,
            request_timeout_ms=120_000,
        )
        await producer.start()
        try:
            hold_minute, hold_fraction = self.hold_at or (-1, 0.0)
            steps = 10
            for k in range(self.minutes):
                self.minute = k
                base = (self.first_minute + k) * 60
                times = sorted(base + rng.uniform(0.0, 59.999) for _ in range(self.per_minute))
                hold_index = int(hold_fraction * self.per_minute) if k == hold_minute else -1
                started = time.monotonic()
                pending: list[asyncio.Future[Any]] = []
                for i, t in enumerate(times):
                    if i == hold_index:
                        await self._settle(pending)
                        pending = []
                        self.held.set()
                        await self.release.wait()
                        started = time.monotonic() - self.minute_seconds * i / self.per_minute
                    stream, key, value = traffic.encoded_next(datetime.fromtimestamp(t, UTC))
                    pending.append(await producer.send(topics[stream], value=value, key=key))
                    self.sent += 1
                    if (i + 1) % max(1, self.per_minute // steps) == 0:
                        due = started + self.minute_seconds * (i + 1) / self.per_minute
                        await asyncio.sleep(max(0.0, due - time.monotonic()))
                await self._settle(pending)
        finally:
            await producer.stop()

    async def _settle(self, pending: list[asyncio.Future[Any]]) -> None:
        for result in await asyncio.gather(*pending, return_exceptions=True):
            if isinstance(result, BaseException):
                self.failed += 1


class BootstrapGate:
    """A TCP forwarder in front of a broker's address, used as the clients' bootstrap server.

    Kafka clients bootstrap through it and then talk to the address the broker advertises, so
    connections already made survive ``close()``: only clients started afterwards (a restore's
    new consumer) find nothing listening until ``open()``.
    """

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self._target = (host, int(port))
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def open(self) -> None:
        """Listen (again) on the same port."""
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def close(self) -> None:
        """Stop listening: new connections are refused; open ones go on."""
        if self._server is not None:
            self._server.close()
            self._server = None

    async def stop(self) -> None:
        await self.close()
        for t in list(self._tasks):
            t.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(_pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        dst.close()


async def committed_offsets(bootstrap: str, group: str) -> dict[Source, int]:
    """The offsets ``group`` has committed, per input partition."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}
