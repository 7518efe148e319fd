"""Values at the edges of the schemas' ranges are counted, checkpointed and exported safely.

Schema-valid events, drawn up to and including every range's bounds, go through the pipeline,
the state codec (the minute records of the state topic, window buckets and dedup ids) and a
restore into a fresh pipeline: nothing raises, the KPIs are the same after the round trip, and
every number exported (JSON API, Prometheus) is finite. Values just outside a range are rejected
before they reach the state.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from builders import ALPHA_BETA, encoded, interaction, iso, mention
from socialpulse.core.events import (
    INTERACTION_TYPES,
    MAX_FOLLOWERS,
    MAX_ORDER_VALUE,
    MAX_SECONDS,
    Stream,
)
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.sentiment import SentimentScorer
from socialpulse.core.windows.bucket import decode_minute, encode_minute
from socialpulse.export.api import json_body, kpis_json
from socialpulse.export.collector import register_metrics
from socialpulse.settings import Settings

NOW = 1_800_000_030.0
SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
VALIDATORS = {
    stream: jsonschema.Draft202012Validator(
        json.loads((SCHEMAS / f"{name}.v1.json").read_text()),
        format_checker=jsonschema.FormatChecker(),
    )
    for stream, name in (("mentions", "mention"), ("interactions", "interaction"))
}
# Brand b's configured followers at the bound too (it is exported when no snapshot is known).
SETTINGS = Settings(
    brands=[ALPHA_BETA[0], ALPHA_BETA[1] | {"followers": MAX_FOLLOWERS}], windows=("5m", "1h")
)
SCORER = SentimentScorer()
TEXTS = ("alpha is great", "beta is awful", "alpha and beta", "@alpha thanks", "nothing")
STREAMS: tuple[Stream, ...] = ("mentions", "interactions")
Record = tuple[Stream, bytes, tuple[str, int], int]


def _edged_ints(hi: int, lo: int = 0) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from((lo, lo + 1, hi - 1, hi)), st.integers(lo, hi))


def _edged_floats(hi: float, lo: float = 0.0) -> st.SearchStrategy[float]:
    edges = (lo, math.nextafter(lo, math.inf), math.nextafter(hi, 0), hi)
    return st.one_of(st.sampled_from(edges), st.floats(lo, hi))


@st.composite
def records(draw: st.DrawFn) -> list[Record]:
    """(stream, JSON bytes, source, offset) of schema-valid events, some re-sent."""
    ids = itertools.count()
    offsets: dict[tuple[str, int], int] = {}
    out: list[Record] = []
    for _ in range(draw(st.integers(1, 30))):
        stream = draw(st.sampled_from(STREAMS))
        created = iso(draw(st.floats(NOW - 3000, NOW)))
        doc: dict[str, Any]
        if stream == "mentions":
            author = draw(st.sampled_from(("u0", "u1", "u2", "alpha")))
            doc = {
                "event_id": f"m{next(ids)}",
                "platform": "x",
                "created_at": created,
                "author": {
                    "id": author,
                    "handle": f"@{author}",
                    "followers": draw(_edged_ints(MAX_FOLLOWERS)),
                    "verified": draw(st.booleans()),
                },
                "text": draw(st.sampled_from(TEXTS)),
                "kind": draw(st.sampled_from(("post", "reply", "share", "comment"))),
                "has_media": draw(st.booleans()),
            }
        else:
            doc = {
                "event_id": f"i{next(ids)}",
                "platform": "instagram",
                "created_at": created,
                "type": draw(st.sampled_from(INTERACTION_TYPES)),
                "brand": draw(st.sampled_from(("a", "b", "untracked"))),
                "user_id": draw(st.sampled_from(("v0", "v1", "alpha"))),
                "post_id": draw(st.sampled_from((None, "m0", "m1"))),
                "value": {
                    "watch_seconds": draw(_edged_floats(MAX_SECONDS)),
                    "video_seconds": draw(_edged_floats(MAX_SECONDS, 5e-324)),
                    "session_seconds": draw(_edged_floats(MAX_SECONDS)),
                    "bounced": draw(st.booleans()),
                    "referred_from_social": draw(st.booleans()),
                    "order_value": draw(_edged_floats(MAX_ORDER_VALUE)),
                    "customer_id": draw(st.sampled_from((None, "k0", "k1"))),
                    "rating": draw(_edged_ints(5, 1)),
                    "followers": draw(_edged_ints(MAX_FOLLOWERS)),
                    "replies_to": draw(st.sampled_from((None, "i0", "i1"))),
                },
            }
        assert VALIDATORS[stream].is_valid(doc), doc
        source = (stream, draw(st.integers(0, 1)))
        offset = offsets[source] = offsets.get(source, -1) + 1
        out.append((stream, json.dumps(doc).encode(), source, offset))
        if draw(st.integers(0, 9)) == 0:  # re-sent: same bytes at the next offset
            offset = offsets[source] = offset + 1
            out.append((stream, out[-1][1], source, offset))
    return out


def _checkpoint_and_restore(p: Pipeline, read: list[Record]) -> Pipeline:
    """Every state record as the changelog writes it, decoded into a fresh pipeline."""
    fresh = Pipeline(SETTINGS, scorer=SCORER)
    for source in {source for _, _, source, _ in read}:
        for index in sorted({index for _, index, _ in p.store.take_dirty(source)}):
            data = encode_minute(p.store.buckets_at(source, index))
            for brand, bucket in decode_minute(data).items():
                fresh.store.load(source, brand, index, bucket)
        for minute in p.dedup.take_dirty(source):
            ids = p.dedup.arrays(source, minute)
            assert ids is not None
            fresh.dedup.load(source, minute, *ids)
    return fresh


def _exports(p: Pipeline) -> dict[str, Any]:
    """What the service exports of ``p``'s state: KPI and top-author JSON, Prometheus gauges.

    Counters (``_total``) count what this process read, so a fresh one starts them at zero;
    ``process_*`` samples (memory, CPU, descriptors) describe the process, not its state.
    """
    out: dict[str, Any] = {}
    for brand, per_window in p.store.snapshot(NOW).items():
        for window, k in per_window.items():
            out[f"kpis/{brand}/{window}"] = kpis_json(k)
            top = p.store.top_authors(NOW, brand, window)
            out[f"top/{brand}/{window}"] = {
                name: [(a.id, a.followers, a.influence) for a in authors]
                for name, authors in top.items()
            }
    registry = CollectorRegistry()
    register_metrics(registry, p, lambda: NOW)
    out["prometheus"] = sorted(
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for family in registry.collect()
        for s in family.samples
        if not s.name.startswith(("socialpulse_build", "process_"))
        and not s.name.endswith("_total")
    )
    return out


def _numbers(doc: Any) -> list[float]:
    if isinstance(doc, dict):
        return [n for v in doc.values() for n in _numbers(v)]
    if isinstance(doc, list | tuple):
        return [n for v in doc for n in _numbers(v)]
    return [doc] if isinstance(doc, int | float) and not isinstance(doc, bool) else []


def _strict(raw: bytes) -> Any:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(raw, parse_constant=refuse)


def _assert_round_trip_exact_and_finite(p: Pipeline, read: list[Record]) -> None:
    before = _exports(p)
    numbers = _numbers(before)
    assert numbers and all(math.isfinite(n) for n in numbers)
    for name, doc in before.items():
        if name != "prometheus":
            assert _strict(json_body(doc)) == json.loads(json.dumps(doc)), name
    fresh = _checkpoint_and_restore(p, read)
    assert _exports(fresh) == before
    # Replayed after the restore, as after a crash: decided the same way, nothing changes.
    for stream, raw, source, offset in read:
        assert fresh.process(stream, raw, source, NOW, offset) is None
    assert _exports(fresh)["kpis/a/1h"] == before["kpis/a/1h"]
    assert _exports(fresh)["kpis/b/1h"] == before["kpis/b/1h"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_events_anywhere_in_range_checkpoint_restore_and_export_exactly(
    read: list[Record],
) -> None:
    p = Pipeline(SETTINGS, scorer=SCORER)
    for stream, raw, source, offset in read:
        assert p.process(stream, raw, source, NOW, offset) is None, raw
    _assert_round_trip_exact_and_finite(p, read)


def test_a_full_minute_of_events_at_every_maximum() -> None:
    """The largest sums one bucket can reach per event, many times over, stay exact."""
    p = Pipeline(SETTINGS, scorer=SCORER)
    read: list[Record] = []
    ts = NOW - 1
    for i in range(2000):
        m = mention(ts, f"u{i}", MAX_FOLLOWERS, text="alpha and beta")
        read.append(("mentions", encoded(m), ("m", 0), i))
        for j, event in enumerate(
            [
                interaction(ts, "purchase", user=f"v{i}", order_value=float(MAX_ORDER_VALUE)),
                interaction(ts, "session", session_seconds=float(MAX_SECONDS), bounced=False,
                            referred_from_social=True),
                interaction(ts, "video_view", watch_seconds=float(MAX_SECONDS),
                            video_seconds=float(MAX_SECONDS)),
                interaction(ts, "account_snapshot", followers=MAX_FOLLOWERS),
            ]
        ):  # fmt: skip
            read.append(("interactions", encoded(event), ("i", 0), 4 * i + j))
    for stream, raw, source, offset in read:
        assert p.process(stream, raw, source, NOW, offset) is None
    k = p.store.snapshot(NOW)["a"]["5m"]
    assert k.potential_reach == 2000 * MAX_FOLLOWERS
    assert k.purchase_value_sum == 2000 * MAX_ORDER_VALUE
    assert k.session_seconds_sum == 2000 * MAX_SECONDS
    _assert_round_trip_exact_and_finite(p, read)


def test_values_beyond_the_ranges_are_rejected_before_they_reach_the_state() -> None:
    p = Pipeline(SETTINGS, scorer=SCORER)
    absurd = encoded(interaction(NOW - 1, "purchase", order_value=1e308))
    raws: list[tuple[Stream, bytes]] = [
        ("mentions", encoded(mention(NOW - 1, followers=10**30, text="alpha"))),
        ("interactions", absurd),
        ("interactions", absurd.replace(b"1e308", b"1e400")),
    ]
    assert b"1e400" in raws[2][1]
    for offset, (stream, raw) in enumerate(raws):
        got = p.process(stream, raw, (stream, 0), NOW, offset)
        assert got is not None and got.reason == "schema", got
    assert p.stats.rejected["schema"] == 3
    assert p.store.bucket_count() == 0
