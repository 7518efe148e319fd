"""core.catalogue: one entry per KPI, and everything else held to it.

The bucket's fields, the accumulator, ``/metrics``, the JSON API, the README's KPI reference and
the Prometheus recording rules are each checked against the catalogue here.
"""

from __future__ import annotations

import random
import re
import zlib
from collections import Counter
from datetime import UTC, datetime
from typing import Any, get_args

import msgspec
import pytest
from datasketches import hll_sketch, tgt_hll_type
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from prometheus_server import CONTRACT_METRICS, REPO, recording_rules
from socialpulse.core.catalogue import (
    BUCKET_ONLY_KINDS,
    KPIS,
    MEASURES,
    RATIO_KINDS,
    Kpi,
    MeasureKind,
    Term,
)
from socialpulse.core.kpis import WindowKpis
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.windows.accumulator import Accumulator
from socialpulse.core.windows.bucket import AuthorTally, Bucket
from socialpulse.core.windows.measures import CODE
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.demo.generator import DemoTraffic
from socialpulse.export.api import kpis_json
from socialpulse.export.collector import register_metrics
from socialpulse.settings import Settings

END = 1_800_000_000.0
BY_METRIC = {k.metric: k for k in KPIS}
MEASURE_KINDS = {m.name: m.kind for m in MEASURES}


@pytest.fixture(scope="module")
def fed() -> tuple[Pipeline, Settings]:
    """A pipeline fed two hours of demo traffic on four partitions per stream."""
    settings = Settings(brands=[b.model_dump() for b in DEMO_BRANDS], metrics_port=0)
    pipeline = Pipeline(settings)
    demo = DemoTraffic(DEMO_BRANDS, random.Random(3))
    events = 6_000
    for n in range(events):
        now = END - 7200 + 7200 * n / events
        stream, key, value = demo.encoded_next(datetime.fromtimestamp(now, tz=UTC))
        assert pipeline.process(stream, value, (stream, zlib.crc32(key) % 4), now, n) is None
    return pipeline, settings


@pytest.fixture(scope="module")
def scraped(fed: tuple[Pipeline, Settings]) -> dict[str, list[Any]]:
    """Metric family name -> its samples, from one scrape."""
    registry = CollectorRegistry()
    register_metrics(registry, fed[0], lambda: END)
    text = generate_latest(registry).decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


@pytest.fixture(scope="module")
def documents(fed: tuple[Pipeline, Settings]) -> list[dict[str, Any]]:
    """The JSON API's ``kpis`` of every demo brand and window."""
    snapshot = fed[0].store.snapshot(END)
    return [kpis_json(k) for per_window in snapshot.values() for k in per_window.values()]


# -- the catalogue itself -------------------------------------------------------------------


def test_names_are_unique() -> None:
    assert not _repeated(m.name for m in MEASURES)
    assert not _repeated(k.metric for k in KPIS)
    assert not _repeated(key for k in KPIS for key in _json_keys(k))


def test_every_kpi_has_help_unit_and_one_source() -> None:
    for k in KPIS:
        assert k.help.strip() and k.unit, k.metric
        assert k.metric.startswith("socialpulse_"), k.metric
        assert (k.measure is None) != (k.attr is None), f"{k.metric}: a measure or an attribute"
        if k.measure is not None:
            assert CODE[MEASURE_KINDS[k.measure]].read, f"{k.metric}: not read as a number"
        else:
            assert hasattr(WindowKpis, k.attr or ""), f"{k.metric}: no WindowKpis.{k.attr}"


def test_units_match_the_metric_names() -> None:
    for k in KPIS:
        assert (k.unit == "ratio") == k.metric.endswith("_ratio"), k.metric
        assert (k.unit == "seconds") == ("seconds" in k.metric), k.metric


def test_ratios_name_their_operands_and_say_when_they_are_absent() -> None:
    for k in KPIS:
        ratio = k.kind in RATIO_KINDS
        # A median does not combine, except one every worker reads from the join view.
        fleet_median = k.kind == "median" and k.merge == "max"
        assert (k.merge in ("ratio", "none") or fleet_median) == ratio, k.metric
        assert ("absent when" in k.help) == (ratio or k.kind == "level"), k.metric
        if k.merge == "ratio":
            assert k.numerator and k.denominator, k.metric
        for term in (*k.numerator, *k.denominator):
            assert term.metric in BY_METRIC, f"{k.metric}: operand {term.metric} not a KPI"
            assert (term.at is not None) <= (BY_METRIC[term.metric].label is not None)


def test_every_measure_kind_has_code_and_every_measure_is_merged_or_indexed() -> None:
    assert set(CODE) == set(get_args(MeasureKind))
    merged = {m.name for m in MEASURES if m.kind not in BUCKET_ONLY_KINDS}
    assert set(Accumulator.__slots__) == merged


def test_bucket_fields_are_the_catalogue_measures() -> None:
    fields = {
        f.name: f.type
        for f in msgspec.structs.fields(Bucket)
        if f.name not in ("offset", "minutes", "absorbed", "rest")  # bookkeeping, not measures
    }
    assert set(fields) == set(MEASURE_KINDS)
    for name, kind in MEASURE_KINDS.items():
        assert fields[name] == CODE[kind].bucket_type, f"Bucket.{name} is not a {kind}"


def test_the_accumulator_merges_every_measure_of_a_bucket() -> None:
    """A bucket with every measure set, merged twice directly and once through an hour."""
    b = Bucket()
    for name, kind in MEASURE_KINDS.items():
        setattr(b, name, _sample(kind, name))
    direct, hour, via_hour = Accumulator(), Accumulator(), Accumulator()
    for acc in (direct, hour):
        acc.add(b)
        acc.add(b)
    via_hour.add(hour)
    for acc in (direct, via_hour):
        numbers = acc.numbers()
        for name, kind in MEASURE_KINDS.items():
            if kind in ("count", "total"):
                assert numbers[name] == 2 * getattr(b, name), name
            elif kind in ("distinct", "hll"):
                assert numbers[name] == 1, name  # the same id twice
        frozen = acc.freeze(0, 1.0)
        assert frozen.mentions_by_platform == {"x": 2}
        assert (frozen.reach, frozen.unique_authors, frozen.potential_reach) == (1, 1, 7)
        assert frozen.purchasing_customers == 1
        assert acc.tallies()["u"].mentions == 2
        assert acc.responses() == [(0, 10.0)]
        assert acc.followers_at(5.0) == 100


# -- /metrics and the JSON API ----------------------------------------------------------------


def test_every_kpi_is_scraped_with_its_labels_and_help(scraped: dict[str, list[Any]]) -> None:
    for k in KPIS:
        samples = scraped.get(k.metric)
        if not k.exported:
            assert samples is None, f"{k.metric}: a ratio of exported parts, exported"
            assert k.recorded is not None, f"{k.metric}: neither exported nor recorded"
            continue
        assert samples, f"{k.metric} missing from /metrics"
        labels = {"brand", "window"} | ({k.label} if k.label else set())
        for s in samples:
            assert set(s.labels) == labels, k.metric
            assert s.value == s.value, f"{k.metric}: NaN exported"


def test_every_kpi_is_in_the_json_by_its_names(documents: list[dict[str, Any]]) -> None:
    expected = {key for k in KPIS for key in _json_keys(k)}
    for doc in documents:
        assert set(doc) == expected
    for k in KPIS:
        values = [doc[k.json] for doc in documents]
        assert any(v is not None for v in values), f"{k.json} never defined in demo traffic"


def test_json_ratios_are_their_operands_divided(
    documents: list[dict[str, Any]], fed: tuple[Pipeline, Settings]
) -> None:
    """The catalogue's numerator and denominator give what the KPI code computes."""
    lifetime = fed[1].expected_customer_lifetime_windows
    checked = Counter[str]()
    for doc in documents:
        for k in KPIS:
            if k.merge != "ratio":
                continue
            for at, value in _labelled(doc[k.json], k):
                num = sum(_operand(doc, t, at) for t in k.numerator)
                den = sum(_operand(doc, t, at) for t in k.denominator)
                scale = lifetime if k.kind == "scaled_ratio" else 1.0
                if not den:
                    assert value is None, k.metric
                    continue
                assert value == pytest.approx(num / den * scale, rel=1e-9), (k.metric, at)
                if k.percent is not None:
                    pct = doc[k.percent] if at is None else doc[k.percent][at]
                    assert pct == pytest.approx(100 * value), k.percent
                checked[k.metric] += 1
    for k in KPIS:
        if k.merge == "ratio":
            assert checked[k.metric], f"{k.metric} never defined in demo traffic"


# -- README and recording rules -------------------------------------------------------------


def test_the_readme_kpi_reference_names_exactly_the_catalogue() -> None:
    readme = (REPO / "README.md").read_text()
    start = readme.index("## KPI reference")
    tables = readme[start : readme.index("**Direct messages.**", start)]
    rows = "\n".join(line for line in tables.splitlines() if line.startswith("|"))
    documented = set(re.findall(r"`(socialpulse_[a-z0-9_]+)", rows))
    assert documented == {k.metric for k in KPIS if k.exported}


def test_the_readme_ratio_table_gives_the_catalogue_json_names() -> None:
    readme = (REPO / "README.md").read_text()
    start = readme.index("**Ratios**")
    table = readme[start : readme.index("**Direct messages.**", start)]
    rows = [line.split("|")[1:-1] for line in table.splitlines() if line.startswith("| ")]
    documented = {}
    per_worker = {}
    for _, _, series, json_names in rows[2:]:  # after the header and its rule
        names = re.findall(r"`([a-z_]+)`", json_names)
        recorded, *own = re.findall(r"`([a-z_:]+)", series)
        documented[recorded] = names
        per_worker[recorded] = own
    ratios = [k for k in KPIS if k.kind in RATIO_KINDS]
    assert set(documented) == {k.recorded for k in ratios}
    for k in ratios:
        percent = ["_percent" if k.label is None else f"{k.json}_percent"] if k.percent else []
        assert documented[k.recorded] == [k.json, *percent], k.metric
        assert per_worker[k.recorded] == ([k.metric] if k.exported else []), k.metric


def test_the_rules_use_only_exported_metric_names() -> None:
    exported = {k.metric for k in KPIS if k.exported}
    assert exported <= CONTRACT_METRICS
    assert not (set(BY_METRIC) - exported) & CONTRACT_METRICS


def test_only_ratios_of_exported_parts_are_left_to_the_rules() -> None:
    for k in KPIS:
        if k.exported:
            continue
        assert k.merge == "ratio" and k.kind in ("ratio", "mean"), k.metric
        for term in (*k.numerator, *k.denominator):
            assert BY_METRIC[term.metric].exported, (
                f"{k.metric}: operand {term.metric} not exported"
            )


def test_every_combinable_kpi_has_its_recorded_series() -> None:
    rules = recording_rules()
    for k in KPIS:
        if k.merge == "none":
            stem = k.metric.removeprefix("socialpulse_")
            assert not [r for r in rules if stem in r], f"{k.metric} cannot be combined"
            continue
        assert k.recorded in rules, f"{k.metric}: no {k.recorded} in recording.yml"
        expr = rules[k.recorded]
        if k.merge in ("sum", "max"):
            assert f"{k.merge} by (brand, window" in expr and k.metric in expr, k.recorded
            continue
        for term in (*k.numerator, *k.denominator):
            assert re.search(rf"\b{term.metric}\b", expr), f"{k.recorded} lacks {term.metric}"
            if term.at is not None:
                assert term.at in expr, f"{k.recorded} lacks {term.metric} at {term.at}"


# -- helpers ------------------------------------------------------------------------------------


def _repeated(names: Any) -> list[str]:
    return [n for n, c in Counter(names).items() if c > 1]


def _json_keys(k: Kpi) -> list[str]:
    return [key for key in (k.json_total, k.json, k.percent) if key is not None]


def _labelled(value: Any, k: Kpi) -> list[tuple[str | None, Any]]:
    return [(None, value)] if k.label is None else list(value.items())


def _operand(doc: dict[str, Any], term: Term, at: str | None) -> float:
    """A ratio operand from the JSON: at its label value, at the ratio's, or summed."""
    source = BY_METRIC[term.metric]
    value = doc[source.json]
    if source.label is not None:
        label = term.at if term.at is not None else at
        value = value[label] if label is not None else sum(value.values())
    return term.sign * float(value or 0)


def _sample(kind: str, name: str) -> Any:
    """One non-empty value of a measure kind (the DM times differ: a message, then its reply)."""
    if kind == "count":
        return 3
    if kind == "total":
        return 1.5
    if kind == "label_counts":
        return {"x": 1}
    if kind in ("distinct", "join_set"):
        return {"c1"}
    if kind == "hll":
        sketch = hll_sketch(14, tgt_hll_type.HLL_4)
        sketch.update("user")
        return sketch
    if kind == "authors":
        return {"u": AuthorTally("h", 7, False, 1)}
    if kind == "earliest":
        return {"dm": 10.0} if name == "dm_opened" else {"dm": 20.0}
    if kind == "series":
        return [(5.0, 100)]
    if kind == "join_map":
        return {"p": "u"}
    raise AssertionError(f"no sample for measure kind {kind}")
