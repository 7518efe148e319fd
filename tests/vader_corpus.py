"""Where the VADER ICWSM-2014 corpus lives: ``shared/`` beside the repository or above it.

A checkout keeps ``shared/`` beside it; a git worktree sits one or more folders deeper, so every
ancestor of the repository is tried in turn, nearest first.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RELATIVE = Path("shared") / "corpora" / "vader_icwsm2014"


def vader_corpus_dir() -> Path:
    """The first ``shared/corpora/vader_icwsm2014`` above the repository, else the one beside it.

    The fallback does not exist; readers then fail naming the path they expected.
    """
    for parent in REPO.parents:
        candidate = parent / RELATIVE
        if candidate.is_dir():
            return candidate
    return REPO.parent / RELATIVE


def read_corpus(name: str) -> list[tuple[float, str]]:
    """(mean human rating, text) of every line of one ground-truth file; fails if it is absent."""
    path = vader_corpus_dir() / name
    assert path.is_file(), f"corpus missing at {path}; shared/ must sit beside the repo"
    rows = []
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        for line in f.read().split("\r\n"):
            if not line:
                continue
            _id, rating, text = line.split("\t", 2)
            rows.append((float(rating), text))
    return rows
