"""Fixtures of the fault tests: the result table, a stoppable broker, per-test scenarios."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from .harness import REPO, SeparateKafka, WorkerProcess, dump_report

REPORT_ENV = "SOCIALPULSE_FAULT_REPORT"
_ROWS: list[dict[str, Any]] = []


def report_path() -> Path:
    return Path(os.environ.get(REPORT_ENV) or REPO / ".fault-report.json")


@pytest.fixture
def record_result(request: pytest.FixtureRequest) -> Iterator[list[dict[str, Any]]]:
    """Rows this test appends land in the session's report (JSON and the final table)."""
    rows: list[dict[str, Any]] = []
    yield rows
    for row in rows:
        row.setdefault("nodeid", request.node.nodeid)
        _ROWS.append(row)
    dump_report(report_path(), _ROWS)


@pytest_asyncio.fixture
async def workers() -> AsyncIterator[list[WorkerProcess]]:
    """Every worker a test starts; whatever still runs is killed at teardown."""
    started: list[WorkerProcess] = []
    try:
        yield started
    finally:
        for w in started:
            await w.close()


@pytest_asyncio.fixture
async def separate_kafka(tmp_path: Path) -> AsyncIterator[SeparateKafka]:
    """An Apache Kafka of this test's own, which it may stop and restart."""
    broker = SeparateKafka(tmp_path / "kafka")
    broker.data.mkdir()
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


def _cell(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _ROWS:
        return
    cols = ["test", "implementation", "events", "lost", "double counted", "recovery s", "note"]
    keys = ["test", "impl", "events", "lost", "doubled", "recovery_s", "note"]
    tr = terminalreporter
    tr.section("fault results")
    tr.write_line("| " + " | ".join(cols) + " |")
    tr.write_line("|" + "|".join(" --- " for _ in cols) + "|")
    for row in _ROWS:
        tr.write_line("| " + " | ".join(_cell(row.get(k)) for k in keys) + " |")
    tr.write_line(f"(rows also in {report_path()})")
