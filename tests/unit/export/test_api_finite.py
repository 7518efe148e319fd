"""The JSON API never writes NaN or Infinity, which are not JSON: a non-finite value is null."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest

from socialpulse.core.pipeline import Pipeline
from socialpulse.export.api import json_body, kpis_json
from socialpulse.settings import Settings

NOW = 1_800_000_030.0


def _strict(raw: bytes) -> Any:
    """Parse as RFC 8259 JSON: the standard library alone accepts NaN and Infinity."""

    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(raw, parse_constant=refuse)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_a_non_finite_kpi_is_written_as_null(bad: float) -> None:
    store = Pipeline(Settings(brands=[{"id": "a", "name": "A", "terms": ["alpha"]}])).store
    k = store.snapshot(NOW)["a"]["1h"]
    numbers = dict(k.numbers)
    numbers.update(compound_sum=bad, purchase_value_sum=bad, session_seconds_sum=bad)
    broken = replace(k, numbers=numbers)
    doc = _strict(json_body({"kpis": kpis_json(broken), "nested": [bad, {"x": bad}]}))
    assert doc["kpis"]["sentiment_compound_sum"] is None
    assert doc["kpis"]["purchase_value_sum"] is None
    assert doc["nested"] == [None, {"x": None}]
    assert doc["kpis"]["mentions"] == 0  # finite values are kept as they are


def test_large_integers_and_text_are_kept_exactly() -> None:
    doc = {"potential_reach": 10**30, "handle": "@café ☕", "ratio": 0.1}
    assert _strict(json_body(doc)) == doc
