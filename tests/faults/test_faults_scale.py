"""Fault test 12: one worker and three give the same KPIs, those that join partitions included.

The spam heuristics are on, with a copy-paste campaign planted among the demo traffic: which
mentions are filtered (and so sentiment and share of voice) must not depend on the grouping.

The same input topics are read by two consumer groups at once: a single worker, and three
workers sharing the partitions. Their exports are combined the way the Prometheus recording
rules combine them (sums added, the levels and fleet-wide joins by their largest value), and
must be identical to each other and to the oracle: the mention and engagement counts, UGC
engagements, followers at window start, the median DM first response, and the top authors,
which every pod must answer alike. Account snapshots an hour and more before now make the 1 h
window's followers come from a snapshot held in one partition, below the configured count.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import aiohttp
import msgspec
import pytest

from kpi_oracle import Oracle as KpiOracle
from kpi_oracle import OracleBrand, OracleMention
from socialpulse.core.brands import BrandMatcher
from socialpulse.core.catalogue import KPIS
from socialpulse.demo.brands import DEMO_BRANDS

from .harness import (
    Feeder,
    Scenario,
    WorkerProcess,
    campaign_mentions,
    parse_metrics,
    wait_converged,
)
from .measure import CONVERGE_TIMEOUT_S, Rows, scenario_with_topics, start_worker
from .oracle import Oracle, compare, read_topic

pytestmark = [pytest.mark.fault, pytest.mark.integration, pytest.mark.timeout(600)]

EVENTS: Final = 8000
RATE: Final = 1000.0
WINDOWS: Final = {"5m": 300, "1h": 3600, "24h": 86400}
COMPARED: Final = ("1h", "24h")  # the 5 m window moves on every minute
BY_METRIC: Final = {k.metric: k for k in KPIS}
# The KPIs joining partitions, as the JSON API and the oracle name them.
JOINED: Final = ("ugc_engagements", "followers_at_window_start", "dm_first_response_seconds_median")
LISTS: Final = ("most_influential", "most_engaged", "highest_reach")
TOP_K: Final = 10


def _snapshots_before_the_hour(now: float) -> list[tuple[bytes, bytes]]:
    """Per brand, account snapshots 75 and 70 minutes ago, below its configured followers.

    Keyed by the brand account, as the producer contract keys an interaction by its user.
    """
    out = []
    for n, b in enumerate(DEMO_BRANDS):
        for minutes, followers in ((75, 900 + n), (70, 1000 + n)):
            at = datetime.fromtimestamp(now - 60 * minutes, UTC)
            event = {
                "event_id": str(uuid.uuid4()),
                "platform": "instagram",
                "created_at": at.isoformat().replace("+00:00", "Z"),
                "type": "account_snapshot",
                "brand": b.id,
                "user_id": b.id,
                "value": {"followers": followers},
            }
            out.append((b.id.encode(), msgspec.json.encode(event)))
    return out


async def _get(port: int, path: str) -> Any:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(f"http://127.0.0.1:{port}{path}") as resp:
            assert resp.status == 200, (path, resp.status)
            return await (resp.text() if path == "/metrics" else resp.json())


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
# (brand, window) -> list name -> the authors the API listed.
Tops = dict[tuple[str, str], dict[str, Any]]


async def _round(pods: list[WorkerProcess]) -> tuple[int, list[Samples], list[Tops]]:
    """Every pod's KPI samples of the compared windows and top authors, read in one minute."""
    while True:
        minute = int(time.time() // 60)
        samples: list[Samples] = []
        tops: list[Tops] = []
        for w in pods:
            text = await _get(w.port, "/metrics")
            samples.append(
                {
                    key: v
                    for key, v in parse_metrics(text).samples.items()
                    if key[0] in BY_METRIC and dict(key[1])["window"] in COMPARED
                }
            )
            lists: Tops = {}
            for b in DEMO_BRANDS:
                for window in COMPARED:
                    got = await _get(w.port, f"/api/v1/top-authors?brand={b.id}&window={window}")
                    lists[(b.id, window)] = {name: got[name] for name in LISTS}
            tops.append(lists)
        if int(time.time() // 60) == minute:
            return minute, samples, tops


def _combined(pods: list[Samples]) -> Samples:
    """The pods' samples as the recording rules combine them (ratios and medians aside)."""
    out: Samples = {}
    for samples in pods:
        for key, v in samples.items():
            merge = BY_METRIC[key[0]].merge
            if merge == "sum":
                out[key] = out.get(key, 0.0) + v
            elif merge == "max":
                out[key] = max(out.get(key, v), v)
    return out


def _differ(a: Samples, b: Samples) -> dict[Any, tuple[float, float]]:
    """Samples that differ (absent is 0): the reach sketch by 2 %, sums of doubles by 10^-9.

    Reach is a HyperLogLog estimate per partition, summed over workers: not the estimate of
    the union a single worker makes, but within the sketch's error of it.
    """
    off: dict[Any, tuple[float, float]] = {}
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key, 0.0), b.get(key, 0.0)
        rel = 0.02 if BY_METRIC[key[0]].kind == "estimate" else 1e-9
        if not math.isclose(x, y, rel_tol=rel, abs_tol=1e-9):
            off[key] = (x, y)
    return off


def _value(samples: Samples, metric: str, brand: str, window: str) -> float | None:
    return samples.get((metric, (("brand", brand), ("window", window))))


async def _oracle(scenario: Scenario, now: float) -> dict[tuple[str, str], dict[str, Any]]:
    """Every KPI of the demo brands from the input topics (tests/kpi_oracle.py)."""
    matcher = BrandMatcher(DEMO_BRANDS)
    seen: set[str] = set()
    mentions: list[OracleMention] = []
    for r in await read_topic(scenario.bootstrap, scenario.mentions_topic):
        record = msgspec.json.decode(r.value)
        if record["event_id"] not in seen:
            seen.add(record["event_id"])
            found = matcher.match(record["text"], bool(record.get("tagged")))
            mentions.append(OracleMention(record, {m.brand: m.tagged for m in found}))
    interactions = []
    for r in await read_topic(scenario.bootstrap, scenario.interactions_topic):
        record = msgspec.json.decode(r.value)
        if record["event_id"] not in seen:
            seen.add(record["event_id"])
            interactions.append(record)
    brands = [
        OracleBrand(b.id, tuple(b.handles), tuple(b.competitors), b.followers) for b in DEMO_BRANDS
    ]
    return KpiOracle(brands, WINDOWS, mentions, interactions, now).kpis()


async def test_one_and_three_workers_export_the_same_kpis(
    tmp_path: Path,
    kafka_bootstrap: str,
    workers: list[WorkerProcess],
    record_result: Rows,
) -> None:
    scenario = await scenario_with_topics(kafka_bootstrap, tmp_path, "scale")
    # Spam heuristics on: a partition's verdicts must not depend on the worker holding it.
    solo = await start_worker(
        "socialpulse",
        scenario,
        "solo",
        workers,
        kafka={"group_id": f"{scenario.group_id}-solo"},
        spam=True,
    )
    trio = [
        await start_worker("socialpulse", scenario, n, workers, spam=True) for n in ("a", "b", "c")
    ]

    seen: list[Any] = []

    async def shared() -> bool:
        scrapes = [await w.scrape() for w in trio]
        inputs = scenario.input_partitions
        seen[:] = [None if s is None else sorted(inputs & set(s.lag)) for s in scrapes]
        return all(seen)

    started = time.monotonic()
    while not await shared():
        tails = "\n".join(w.log_tail(10) for w in trio)
        assert time.monotonic() - started < 120, f"never shared: {seen}\n{tails}"
        await asyncio.sleep(1.0)
    extra = [
        (scenario.interactions_topic, k, v) for k, v in _snapshots_before_the_hour(time.time())
    ]
    campaign = campaign_mentions(scenario.mentions_topic, time.time())
    feeder = Feeder(scenario, EVENTS, RATE, seed=12, extra=extra, interleave=campaign)
    feeder.start()
    await feeder.wait()
    fed = time.monotonic()
    await wait_converged(trio, scenario, fed, CONVERGE_TIMEOUT_S)
    await wait_converged([solo], scenario, fed, CONVERGE_TIMEOUT_S)
    # Settled: two rounds in a row read the same, within one minute.
    previous: tuple[list[Samples], list[Tops]] | None = None
    deadline = time.monotonic() + 60
    while True:
        minute, samples, tops = await _round([solo, *trio])
        if previous == (samples, tops) or time.monotonic() > deadline:
            break
        previous = (samples, tops)
        await asyncio.sleep(2.0)
    at = minute * 60 + 30.0
    kpis = await _oracle(scenario, at)
    truth = await Oracle().truth(scenario, at, spam=True)
    one, three = _combined(samples[:1]), _combined(samples[1:])
    off = _differ(one, three)
    joined_off: dict[Any, Any] = {}
    for brand in (b.id for b in DEMO_BRANDS):
        for window in COMPARED:
            for name in JOINED:
                want = kpis[(brand, window)][name]
                metric = f"socialpulse_{name}"
                values = [_value(s, metric, brand, window) for s in samples]
                if any(v != want and not (v and want and math.isclose(v, want)) for v in values):
                    joined_off[(brand, window, name)] = (want, values)
    tops_off = {}
    for brand, window in tops[0]:
        want = KpiOracle.top(kpis[(brand, window)], TOP_K)
        for name in LISTS:
            expected = [(a["author_id"], a["engagement_received"]) for a in want[name]]
            for pod, pod_lists in zip(("solo", "a", "b", "c"), tops, strict=True):
                got = [
                    (a["author_id"], a["engagement_received"])
                    for a in pod_lists[(brand, window)][name]
                ]
                if got != expected:
                    tops_off[(brand, window, name, pod)] = (expected, got)
    counts = compare(truth.kpis, parse_counts(three))
    ugc = sum(kpis[(b.id, "1h")]["ugc_engagements"] for b in DEMO_BRANDS)
    dms = sum(
        1 for b in DEMO_BRANDS if kpis[(b.id, "1h")]["dm_first_response_seconds_median"] is not None
    )
    engaged = sum(
        a["engagement_received"] for b in DEMO_BRANDS for a in kpis[(b.id, "1h")]["_authors"]
    )
    record_result.append(
        {
            "test": "12 one worker versus three, same input",
            "impl": "socialpulse",
            "events": feeder.sent + len(extra),
            "distinct_events": truth.distinct,
            "lost": counts.lost,
            "doubled": counts.doubled,
            "recovery_s": None,
            "kpis_off": len(off) + len(joined_off) + len(tops_off),
            "note": f"{len(one)} samples of 1 h and 24 h compared; UGC engagements {ugc}, "
            f"engagement received {engaged}, DM medians of {dms} of {len(DEMO_BRANDS)} brands "
            "in the 1 h window; "
            f"top authors of every pod; spam heuristics on, {truth.filtered} mentions filtered",
        }
    )
    assert ugc > 0 and engaged > 0 and dms > 0, "the input exercises every join"
    assert truth.filtered >= len(campaign) // 2, "the planted campaign is filtered"
    assert not off, f"1 worker against 3 combined (one, three): {off}"
    assert not joined_off, f"join KPIs off (oracle, [solo, a, b, c]): {joined_off}"
    assert not tops_off, f"top authors off (oracle, pod): {tops_off}"
    assert counts.exact, counts.mismatches


def parse_counts(samples: Samples) -> dict[tuple[str, str], int]:
    """The fault oracle's 1 h counts (mentions, sentiment classes, impressions, engagements)."""
    out: dict[tuple[str, str], int] = {}
    for (metric, labels), v in samples.items():
        label = dict(labels)
        if label["window"] != "1h":
            continue
        brand = label["brand"]
        if metric == "socialpulse_mentions":
            key = (brand, "mentions")
        elif metric == "socialpulse_mentions_by_sentiment":
            key = (brand, label["sentiment"])
        elif metric in ("socialpulse_impressions", "socialpulse_engagements"):
            key = (brand, metric.removeprefix("socialpulse_"))
        else:
            continue
        out[key] = out.get(key, 0) + int(v)
    return out
