"""Why a record is not counted: the bounded set of reasons, and the rejection itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

RejectReason = Literal["undecodable", "invalid_json", "schema", "oversized", "late", "future"]
REJECT_REASONS: Final[tuple[str, ...]] = get_args(RejectReason)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a record is not counted: ``reason`` is a metric label, ``detail`` is for a human."""

    reason: RejectReason
    detail: str  # e.g. "Expected `int` >= 0 - at `$.author.followers`"
