"""What the CLI prints for a person: one line at a time, flushed, so pipes see it at once."""

from __future__ import annotations


def print_line(line: str) -> None:
    """Print ``line`` to standard output and flush."""
    print(line, flush=True)  # noqa: T201 - the CLI's own output
