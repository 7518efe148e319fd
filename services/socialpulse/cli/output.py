"""What the CLI prints for a person: one line at a time, flushed, so pipes see it at once."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from rich.console import Console

# A pipe or a file has no width: tables there are as wide as their rows, never wrapped, so
# each row stays one line for grep and logs.
PIPE_WIDTH: Final = 10_000


def print_line(line: str) -> None:
    """Print ``line`` to standard output and flush."""
    print(line, flush=True)  # noqa: T201 - the CLI's own output


def console(stderr: bool = False) -> Console:
    """A rich console on standard output (or error): the terminal's width, else unbounded."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else PIPE_WIDTH
    return Console(stderr=stderr, highlight=False, width=width)
