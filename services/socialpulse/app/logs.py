"""Log lines for people (text) or for log pipelines (one JSON object or logfmt line each)."""

from __future__ import annotations

import json
import logging
from typing import Final

from socialpulse.core.clock import rfc3339
from socialpulse.settings import Settings

_TEXT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _fields(record: logging.LogRecord) -> dict[str, str]:
    fields = {
        "time": rfc3339(record.created, "milliseconds"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    if record.exc_info:
        fields["error"] = logging.Formatter().formatException(record.exc_info)
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, msg (and error with a traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object."""
        return json.dumps(_fields(record), ensure_ascii=False)


class LogfmtFormatter(logging.Formatter):
    """``time=… level=info logger=… msg="…"``: values quoted when they hold spaces or quotes."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one logfmt line."""
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in _fields(record).items())


def _logfmt_value(value: str) -> str:
    if value and not any(c in value for c in ' "=\n\t\\'):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def configure_logging(settings: Settings) -> None:
    """Root logging at the configured level and format; the Kafka client quiet unless DEBUG."""
    handler = logging.StreamHandler()
    formatter: logging.Formatter = {
        "json": JsonFormatter(),
        "logfmt": LogfmtFormatter(),
    }.get(settings.log_format, logging.Formatter(_TEXT))
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    if settings.log_level != "DEBUG":
        # The client's INFO lines (group joins, coordinator lookups) drown the live summary.
        logging.getLogger("aiokafka").setLevel(logging.WARNING)
