"""The CLI configures logging for the process; each test gets the logging it started with."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Undo what ``main`` does to the root and aiokafka loggers."""
    root, client = logging.getLogger(), logging.getLogger("aiokafka")
    handlers, root_level, client_level = list(root.handlers), root.level, client.level
    yield
    root.handlers[:] = handlers
    root.setLevel(root_level)
    client.setLevel(client_level)
