"""Log formats: text for people, one JSON object or one logfmt line per event for pipelines."""

from __future__ import annotations

import json
import logging

from socialpulse.app.logs import JsonFormatter, LogfmtFormatter


def _record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(
        "socialpulse.kafka.worker", logging.WARNING, "f.py", 1, msg, args, None
    )


def test_json_lines_carry_time_level_logger_and_message() -> None:
    line = JsonFormatter().format(_record("flush of %d records failed", 3))
    doc = json.loads(line)
    assert doc["level"] == "warning"
    assert doc["logger"] == "socialpulse.kafka.worker"
    assert doc["msg"] == "flush of 3 records failed"
    assert doc["time"].endswith("Z")
    assert "\n" not in line


def test_logfmt_quotes_what_needs_quoting() -> None:
    line = LogfmtFormatter().format(_record('said "no"\nthen=1'))
    assert "level=warning" in line
    assert "logger=socialpulse.kafka.worker" in line
    assert 'msg="said \\"no\\"\\nthen=1"' in line
    assert "\n" not in line


def test_a_traceback_stays_on_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        rec = logging.LogRecord("x", logging.ERROR, "f.py", 1, "failed", (), sys.exc_info())
    assert "ValueError: boom" in json.loads(JsonFormatter().format(rec))["error"]
    assert "\n" not in LogfmtFormatter().format(rec)
