"""The tests' shared corpora: ``shared/`` beside the repository, never needed at run time.

Tests that need a corpus fail with the path they looked at; they never skip.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VADER_CORPUS = REPO.parent / "shared" / "corpora" / "vader_icwsm2014"


def vader_corpus(name: str) -> list[tuple[float, str]]:
    """(human rating, text) rows of one VADER ICWSM-2014 ground-truth file."""
    path = VADER_CORPUS / name
    assert path.is_file(), f"corpus missing at {path}; shared/ must sit beside the repo"
    rows = []
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        for line in f.read().split("\r\n"):
            if not line:
                continue
            _id, rating, text = line.split("\t", 2)
            rows.append((float(rating), text))
    return rows
