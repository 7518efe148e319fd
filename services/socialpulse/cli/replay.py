"""``socialpulse replay FILE``: backfill an export of mentions and interactions into the topics.

Every line is judged as the service would judge it (``cli.exports``); valid ones are sent keyed
per the producer contract, malformed ones are reported with their line numbers and reasons.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from socialpulse.cli.output import print_line
from socialpulse.settings import Settings

if TYPE_CHECKING:
    from socialpulse.cli.exports import Line

NEEDS_BRANDS = False
DEFAULT_MAX_ERRORS: Final = 20
# How often the plain progress line is printed when standard error is not a terminal.
PLAIN_PROGRESS_SECONDS: Final = 5.0
# Lines between two updates of the progress bar: updating it costs more than a line.
PROGRESS_EVERY: Final = 512

EXIT_OK: Final = 0
EXIT_MALFORMED: Final = 1
EXIT_USAGE: Final = 2
EXIT_KAFKA: Final = 3
EXIT_INTERRUPTED: Final = 130  # as a shell reports a process ended by SIGINT

EPILOG = """\
exit status: 0 every line was valid (and sent); 1 some lines were malformed (the valid ones are
still sent: fix the others and replay them, re-sent events count once); 2 bad arguments,
settings or file, or no Kafka address; 3 Kafka could not be reached or refused a record;
130 interrupted by Ctrl-C.

CSV: a header line names the columns, nested fields flattened with dots, for example
  stream,event_id,platform,created_at,author.id,author.handle,author.followers,text,kind,
  type,brand,user_id,value.watch_seconds
An empty cell is an absent field; integer, number and boolean cells are converted. The
optional `stream` column (or JSON field) says mention or interaction; without it a line with
author.id is a mention and one with user_id an interaction. Files ending in .gz, or starting
with gzip's magic bytes, are decompressed.
"""


def _rate(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"the rate must be above 0 events/s, not {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``replay``."""
    p = sub.add_parser(
        "replay",
        help="backfill a JSON lines or CSV export (optionally .gz) into the input topics",
        description=(
            "Send each line of FILE to kafka.mentions_topic or kafka.interactions_topic, keyed\n"
            "by author id (mentions) or user id (interactions), with acks=all, showing progress\n"
            "and the counts sent. Lines are checked with the service's own decoder; malformed\n"
            "ones are reported with line number and reason and not sent. Needs\n"
            "kafka.bootstrap_servers unless --dry-run."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", type=Path, metavar="FILE", help="the export: .jsonl, .csv, maybe .gz")
    p.add_argument(
        "--rate",
        type=_rate,
        default=None,
        metavar="N",
        help="events per second, above 0 (default: as fast as Kafka takes them)",
    )
    p.add_argument(
        "--format",
        choices=("jsonl", "csv"),
        default=None,
        help="the file's format (default: from its name)",
    )
    p.add_argument("--dry-run", action="store_true", help="check every line; send nothing")
    p.add_argument(
        "--max-errors",
        type=_count,
        default=DEFAULT_MAX_ERRORS,
        metavar="N",
        help=f"malformed lines printed before only counting them (default {DEFAULT_MAX_ERRORS})",
    )


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """What to replay and how: the command's arguments."""

    path: Path
    file_format: str | None = None  # "jsonl" or "csv"; None: from the file's name
    rate: float | None = None  # events per second; None: as fast as Kafka takes them
    dry_run: bool = False
    max_errors: int = DEFAULT_MAX_ERRORS  # malformed lines printed before only counting them

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ReplayOptions:
        """The options ``add_parser``'s arguments give."""
        return cls(args.file, args.format, args.rate, args.dry_run, args.max_errors)


@dataclass
class Counts:
    """What a replay did with the lines of its file."""

    valid: dict[str, int] = field(default_factory=lambda: {"mentions": 0, "interactions": 0})
    malformed: int = 0
    blank: int = 0

    @property
    def lines(self) -> int:
        """Lines read so far."""
        return sum(self.valid.values()) + self.malformed + self.blank


class _Progress(Protocol):
    def update(self, position: int, counts: Counts) -> None: ...

    def say(self, line: str) -> None: ...

    def close(self) -> None: ...


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)  # noqa: T201 - the CLI's own output


class _PlainProgress:
    """A line on standard error every few seconds, for logs and pipes."""

    def __init__(self, size: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._size = size
        self._clock = clock
        self._start = self._last = clock()

    def update(self, position: int, counts: Counts) -> None:
        now = self._clock()
        if now - self._last < PLAIN_PROGRESS_SECONDS:
            return
        self._last = now
        share = f"{100 * position / self._size:.0f}% of the file, " if self._size else ""
        rate = sum(counts.valid.values()) / max(now - self._start, 1e-9)
        _err(
            f"replay: {share}{counts.lines} lines: {counts.valid['mentions']} mentions, "
            f"{counts.valid['interactions']} interactions, {counts.malformed} malformed, "
            f"{rate:.0f} events/s"
        )

    def say(self, line: str) -> None:
        _err(line)

    def close(self) -> None:
        pass


class _BarProgress:
    """rich's progress bar on a terminal; malformed lines print above it."""

    def __init__(self, size: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("replay"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[counts]}"),
            console=Console(stderr=True, highlight=False),
        )
        self._task = self._progress.add_task("replay", total=size or None, counts="")
        self._progress.start()

    def update(self, position: int, counts: Counts) -> None:
        self._progress.update(
            self._task,
            completed=position,
            counts=f"{counts.valid['mentions']} mentions, {counts.valid['interactions']} "
            f"interactions, {counts.malformed} malformed",
        )

    def say(self, line: str) -> None:
        self._progress.console.print(line, markup=False)

    def close(self) -> None:
        self._progress.stop()


async def replay(
    settings: Settings,
    options: ReplayOptions,
    progress: Callable[[int], _Progress],
    counts: Counts | None = None,
) -> Counts:
    """Read the file line by line, sending each valid line unless ``options.dry_run``.

    Raises ValueError for a file that cannot be read, RuntimeError for Kafka failures and
    ``Interrupted`` on Ctrl-C; ``counts`` (a fresh one when None) holds how far it got,
    whatever happens. Ctrl-C is handled from the first step, before the Kafka client is even
    imported.
    """
    with _on_sigint() as stopped:
        return await _replay(
            settings, options, progress, Counts() if counts is None else counts, stopped
        )


async def _replay(
    settings: Settings,
    options: ReplayOptions,
    progress: Callable[[int], _Progress],
    counts: Counts,
    stopped: asyncio.Event,
) -> Counts:
    from socialpulse.cli import exports
    from socialpulse.core.decode import Decoder

    path, max_errors = options.path, options.max_errors
    fmt = exports.file_format(path, options.file_format)
    try:
        export = exports.open_export(path)
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror}") from e
    reader = exports.ExportReader(Decoder(settings.max_event_bytes), settings.max_event_bytes)
    shown = progress(export.size)
    try:
        lines = reader.csv(export.stream) if fmt == "csv" else reader.jsonl(export.stream)
        if options.dry_run:
            for item in lines:
                if stopped.is_set():
                    raise Interrupted
                _tally(item, counts, shown, max_errors, export.position)
                if counts.lines % PROGRESS_EVERY == 0:
                    await asyncio.sleep(0)  # lets a Ctrl-C reach the loop's handler
        else:
            from socialpulse.app.replay import Pacer, Replayer

            pacer = Pacer(options.rate)
            async with Replayer(settings) as sender:
                for item in lines:
                    if stopped.is_set():
                        raise Interrupted
                    _tally(item, counts, shown, max_errors, export.position)
                    if isinstance(item, exports.Record):
                        await pacer.wait()
                        await sender.send(item.stream, item.key, item.value)
            if sender.acked != counts.valid:  # drained on leaving: every send acknowledged
                raise RuntimeError(f"acknowledged {sender.acked}, sent {counts.valid}")
        shown.update(export.size, counts)
    except (OSError, EOFError) as e:  # a truncated gzip stream, a read error mid-file
        raise ValueError(f"cannot read {path} after line {counts.lines}: {e}") from e
    finally:
        shown.close()
        export.close()
    return counts


class Interrupted(Exception):
    """Ctrl-C (SIGINT) stopped the sending: what was sent stays sent."""


@contextmanager
def _on_sigint() -> Iterator[asyncio.Event]:
    """SIGINT sets the event and cancels the running task, raising ``Interrupted`` here.

    The send loop checks the event before each record as well, so a cancellation swallowed
    while a client library awaits (the broker's metadata, a connection) cannot let the replay
    run on to the end of the file as if nobody had pressed Ctrl-C.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    stopped = asyncio.Event()

    def interrupt() -> None:
        stopped.set()
        if task is not None:
            task.cancel()

    loop.add_signal_handler(signal.SIGINT, interrupt)
    try:
        yield stopped
    except asyncio.CancelledError:
        if stopped.is_set():
            raise Interrupted from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def _tally(
    item: Line,
    counts: Counts,
    shown: _Progress,
    max_errors: int,
    position: Callable[[], int],
) -> None:
    from socialpulse.cli.exports import Blank, Malformed

    if isinstance(item, Malformed):
        counts.malformed += 1
        if counts.malformed <= max_errors:
            shown.say(f"line {item.line}: {item.reason}: {item.detail}")
    elif isinstance(item, Blank):
        counts.blank += 1
    else:
        counts.valid[item.stream] += 1
    if counts.lines % PROGRESS_EVERY == 0:
        shown.update(position(), counts)


def _summary(settings: Settings, counts: Counts, options: ReplayOptions) -> list[str]:
    kafka = settings.kafka
    dry_run, max_errors = options.dry_run, options.max_errors
    done = "valid (dry run: not sent)" if dry_run else "sent to"
    lines = [
        f"mentions      {counts.valid['mentions']:>9} {done}"
        + ("" if dry_run else f" {kafka.mentions_topic}"),
        f"interactions  {counts.valid['interactions']:>9} {done}"
        + ("" if dry_run else f" {kafka.interactions_topic}"),
        f"malformed     {counts.malformed:>9} not sent",
    ]
    if counts.blank:
        lines.append(f"blank lines   {counts.blank:>9} skipped")
    if counts.malformed > max_errors:
        lines.append(f"({counts.malformed - max_errors} malformed lines not shown; --max-errors)")
    return lines


def main(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``replay``."""

    def progress(size: int) -> Any:
        return _BarProgress(size) if sys.stderr.isatty() else _PlainProgress(size)

    options = ReplayOptions.from_args(args)
    counts = Counts()
    try:
        asyncio.run(replay(settings, options, progress, counts))
    except (KeyboardInterrupt, Interrupted):
        _err(
            f"socialpulse: replay interrupted after {counts.lines} lines; what was sent stays "
            "sent, and replaying the whole file again is safe (a re-sent event counts once)"
        )
        return EXIT_INTERRUPTED
    except ValueError as e:
        _err(f"socialpulse: {e}")
        return EXIT_USAGE
    except RuntimeError as e:
        no_address = settings.kafka.bootstrap_servers is None
        _err(f"socialpulse: {e}")
        return EXIT_USAGE if no_address else EXIT_KAFKA
    for line in _summary(settings, counts, options):
        print_line(line)
    return EXIT_MALFORMED if counts.malformed else EXIT_OK
