"""Fixtures for unit tests that build settings the way the service does, from the environment."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``SOCIALPULSE_*`` variable of the shell running the tests reaches the settings."""
    for name in list(os.environ):
        if name.startswith("SOCIALPULSE_"):
            monkeypatch.delenv(name)
