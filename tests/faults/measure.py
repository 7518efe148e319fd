"""Shared steps of the fault tests: a scenario with topics, workers, and the measured result row."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .harness import (
    Converged,
    Scenario,
    WorkerProcess,
    crash_summary,
    new_scenario,
    sum_kpis,
    wait_converged,
)
from .oracle import Comparison, Oracle, compare

CONVERGE_TIMEOUT_S = 420.0
Rows = list[dict[str, Any]]


async def scenario_with_topics(bootstrap: str, tmp_path: Path, name: str) -> Scenario:
    """A fresh scenario whose input and dead-letter topics exist."""
    scenario = new_scenario(bootstrap, tmp_path, name)
    await scenario.create_topics()
    return scenario


async def start_worker(
    impl: str, scenario: Scenario, name: str, workers: list[WorkerProcess], **options: Any
) -> WorkerProcess:
    """Start a worker (``options`` as for :class:`WorkerProcess`) that teardown will kill."""
    w = WorkerProcess(impl, scenario, name, **options)
    workers.append(w)
    await w.start()
    return w


async def measure(
    rows: Rows,
    test: str,
    impl: str,
    scenario: Scenario,
    live: list[WorkerProcess],
    since: float,
    events: int,
    note: str = "",
    every: list[WorkerProcess] | None = None,
) -> tuple[Comparison, Converged | None]:
    """Converge, compare with the oracle, record the row; socialpulse must be exact."""
    try:
        conv: Converged | None = await wait_converged(
            live, scenario, since, limit_s=CONVERGE_TIMEOUT_S
        )
    except TimeoutError as e:
        if impl == "socialpulse":
            raise
        conv = None
        note = f"{note}; did not converge ({str(e).splitlines()[0][:120]})"
    if conv is not None:
        observed, at = conv.kpis, conv.at
    else:  # the faust peer that never settled: measure what it shows now
        last = [await w.scrape() for w in live]
        observed = sum_kpis(s for s in last if s is not None)
        at = time.time()
    spam = any(w.spam for w in live)
    truth = await Oracle().truth(scenario, at, spam=spam)
    if spam:
        note = f"{note}; spam heuristics on, {truth.filtered} mentions filtered"
        assert truth.filtered > 0, "the traffic triggers the spam heuristics"
    errors = crash_summary(every if every is not None else live)
    if errors:
        note = f"{note}; logged {errors}"
    for kpi in ("mentions", "impressions", "engagements"):  # a real workload, not 0 == 0
        assert sum(v for (_, k), v in truth.kpis.items() if k == kpi) > 0, truth.kpis
    result = compare(truth.kpis, observed)
    rows.append(
        {
            "test": test,
            "impl": impl,
            "events": events,
            "distinct_events": truth.distinct,
            "lost": result.lost,
            "doubled": result.doubled,
            "recovery_s": round(conv.seconds, 1) if conv is not None else None,
            "kpis_off": len(result.mismatches),
            "note": " ".join(note.strip("; ").split()),
        }
    )
    if impl == "socialpulse":
        assert result.exact, (
            f"{test}: lost {result.lost}, double counted {result.doubled}; "
            f"(oracle, observed) of every KPI off: {result.mismatches}"
        )
    return result, conv
