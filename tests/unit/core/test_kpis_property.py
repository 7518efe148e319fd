"""Property: random event streams through the pipeline give exactly the brute-force oracle's KPIs.

The same streams also prove the persistence contract: buckets written with ``to_bytes`` and
loaded into a fresh store give the same KPIs, and replaying every record at its offset changes
nothing.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import iso
from kpi_oracle import (
    TYPES,
    Oracle,
    OracleBrand,
    OracleMention,
    assert_kpis_equal,
    first_minute,
)
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.sentiment import SentimentScorer
from socialpulse.core.windows.bucket import Bucket
from socialpulse.core.windows.store import WindowStore
from socialpulse.export.api import kpis_json
from socialpulse.settings import Settings

NOW = 1_800_000_030.0  # mid-minute
WINDOWS = {"5m": 300, "1h": 3600, "1d": 86400}
BRANDS = (
    OracleBrand("a", handles=("@alpha",), competitors=("b",), followers=1000),
    OracleBrand("b", handles=("@betaco",), competitors=("a", "c")),
    OracleBrand("c", competitors=(), followers=50, lifetime=3.0),
)
SETTINGS = Settings(
    brands=[
        {
            "id": "a",
            "name": "A",
            "terms": ["alpha"],
            "handles": ["@alpha"],
            "competitors": ["b"],
            "followers": 1000,
        },
        {
            "id": "b",
            "name": "B",
            "terms": ["beta"],
            "handles": ["@betaco"],
            "competitors": ["a", "c"],
        },
        {
            "id": "c",
            "name": "C",
            "terms": ["gamma"],
            "followers": 50,
            "customer_lifetime_windows": 3,
        },
    ],
    windows=tuple(WINDOWS),
    # The texts below repeat by design (reposts to the heuristics): filtering has its own tests.
    spam={"enabled": False},
)
SCORER = SentimentScorer()
# (text, brand -> tagged when the record itself is not marked tagged)
TEXTS: tuple[tuple[str, dict[str, bool]], ...] = (
    ("I love alpha, great coffee!", {"a": False}),
    ("beta was awful and slow", {"b": False}),
    ("alpha vs beta, both fine", {"a": False, "b": False}),
    ("thanks @alpha, amazing", {"a": True}),
    ("gamma ok", {"c": False}),
    ("@betaco hello, terrible service", {"b": True}),
    ("nothing to see here", {}),
    ("¡Me encanta alpha! El mejor café de la ciudad", {"a": False}),
)
# A mention's language field: absent (detected), English in any case, or another language.
LANGUAGE_FIELDS = (None, "en", "EN-gb", "es", "pt-BR", "zh_Hant", "und")
# author id -> (handle, is a brand account of)
AUTHORS = {
    "u0": "@sleepy_owl",
    "u1": "@latte_fox",
    "u2": "crema_dev",
    "u3": "@oat_chef",
    "acct-a": "@Alpha",  # brand a's own account (case-insensitive)
    "acct-b": "betaco",  # brand b's, written without @
}
USERS = ("v0", "v1", "v2", "v3", "v4", "alpha", "@BetaCo", "c")
LENGTHS = (300, 3600, 86400)


def _edges() -> list[float]:
    """Event times on and around every window's first second, and outside the horizon."""
    out = []
    for length in LENGTHS:
        start = first_minute(NOW, length) * 60.0
        out += [start, start - 0.001, start + 0.5]
    return out + [NOW, NOW + 300, NOW + 301, NOW + 10]


times = st.one_of(
    st.sampled_from(_edges()),
    st.floats(min_value=NOW - 90_000, max_value=NOW + 200, allow_nan=False),
    st.floats(min_value=NOW - 400, max_value=NOW, allow_nan=False),
)


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[OracleMention], list[dict[str, Any]], list[Any]]:
    """Mentions, interactions, and the order they are read in: (stream, record, source)."""
    ids = itertools.count()
    mentions: list[OracleMention] = []
    interactions: list[dict[str, Any]] = []
    order: list[Any] = []
    dms: list[str] = []
    for _ in range(draw(st.integers(1, 40))):
        partition = draw(st.integers(0, 1))
        if draw(st.booleans()):
            author = draw(st.sampled_from(sorted(AUTHORS)))
            text, matches = draw(st.sampled_from(TEXTS))
            tagged = draw(st.booleans())
            record = {
                "event_id": f"m{next(ids)}",
                "platform": draw(st.sampled_from(("x", "instagram", "tiktok"))),
                "created_at": iso(draw(times)),
                "author": {
                    "id": author,
                    "handle": AUTHORS[author],
                    "followers": draw(st.integers(0, 5000)),
                    "verified": draw(st.booleans()),
                },
                "text": text,
                "kind": draw(st.sampled_from(("post", "reply", "share", "comment"))),
                "tagged": tagged,
                "has_media": draw(st.booleans()),
            }
            lang = draw(st.sampled_from(LANGUAGE_FIELDS))
            if lang is not None:
                record["language"] = lang
            mentions.append(OracleMention(record, {b: t or tagged for b, t in matches.items()}))
            order.append(("mentions", record, ("m", partition)))
            continue
        typ = draw(st.sampled_from(TYPES))
        posts = [m.record["event_id"] for m in mentions] + ["p-elsewhere"]
        value: dict[str, Any] = {}
        if typ == "video_view":
            value = {
                "watch_seconds": draw(st.sampled_from((0.0, 9.5, 10.0, 30.0))),
                "video_seconds": draw(st.sampled_from((None, 10.0, 40.0))),
            }
        elif typ == "session":
            value = {
                "session_seconds": draw(st.floats(0, 500)),
                "bounced": draw(st.booleans()),
                "referred_from_social": draw(st.sampled_from((None, True, False))),
            }
        elif typ == "purchase":
            value = {
                "order_value": draw(st.floats(0, 100)),
                "customer_id": draw(st.sampled_from((None, "k0", "k1"))),
            }
        elif typ == "survey_response":
            value = {"rating": draw(st.integers(1, 5))}
        elif typ == "account_snapshot":
            value = {"followers": draw(st.integers(0, 3000))}
        elif typ == "direct_message":
            value = {"replies_to": draw(st.sampled_from((None, "nope", *dms)))}
        event_id = f"i{next(ids)}"
        if typ == "direct_message":
            dms.append(event_id)
        record = {
            "event_id": event_id,
            "platform": "instagram",
            "created_at": iso(draw(times)),
            "type": typ,
            "brand": draw(st.sampled_from(("a", "b", "c", "zz"))),
            "user_id": draw(st.sampled_from(USERS)),
            "post_id": draw(st.sampled_from((None, *posts))),
            "value": value,
        }
        interactions.append(record)
        order.append(("interactions", record, ("i", partition)))
    return mentions, interactions, order


def _all_json(store: WindowStore) -> dict[str, dict[str, Any]]:
    return {
        f"{b}/{w}": kpis_json(k) for b, per in store.snapshot(NOW).items() for w, k in per.items()
    }


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_every_kpi_matches_the_oracle(
    stream: tuple[list[OracleMention], list[dict[str, Any]], list[Any]],
) -> None:
    mentions, interactions, order = stream
    p = Pipeline(SETTINGS, scorer=SCORER)
    offsets: dict[Any, int] = {}
    read = []
    for kind, record, source in order:
        offset = offsets[source] = offsets.get(source, -1) + 1
        read.append((kind, json.dumps(record).encode(), source, offset))
        p.process(kind, read[-1][1], source, NOW, offset)

    oracle = Oracle(BRANDS, WINDOWS, mentions, interactions, NOW)
    expected = oracle.kpis()
    got = p.store.snapshot(NOW)
    for (brand, window), want in expected.items():
        k = kpis_json(got[brand][window])
        assert set(k) == set(want) - {"_authors"}
        assert_kpis_equal(k, want, f"{brand}/{window}")
        top = p.store.top_authors(NOW, brand, window, 3)
        for name, authors in Oracle.top(want, 3).items():
            assert [a.id for a in top[name]] == [a["author_id"] for a in authors], name
            for have, a in zip(top[name], authors, strict=True):
                assert have.engagement_received == a["engagement_received"]
                assert have.influence == a["influence"]

    # Persistence: every bucket written and read back gives the same KPIs, exactly.
    before = _all_json(p.store)
    restored = WindowStore(SETTINGS.brands, SETTINGS.window_lengths)
    minutes = []
    for source in p.store.sources():
        for brand, index, bucket in p.store.take_dirty(source):
            minutes.append((source, brand, index, bucket.to_bytes()))
            restored.load(source, brand, index, Bucket.from_bytes(minutes[-1][3]))
    assert _all_json(restored) == before

    # Replay: records re-read at their offsets after a crash change nothing.
    for kind, raw, source, offset in read:
        p.process(kind, raw, source, NOW, offset)
    assert _all_json(p.store) == before

    # Roll-up: minutes older than the last hour folded into hours change no KPI, nor does a
    # replay after it, nor a restore that finds rolled hours beside the minutes they absorbed
    # (a crash before the tombstones), in either order.
    p.store.expire(NOW)
    assert _all_json(p.store) == before
    hours = [
        (source, brand, index, bucket.to_bytes())
        for source in p.store.sources()
        for brand, index, bucket in p.store.take_dirty(source)
    ]
    for kind, raw, source, offset in read:
        p.process(kind, raw, source, NOW, offset)
    assert _all_json(p.store) == before
    for records in (minutes + hours, hours + minutes):
        again = WindowStore(SETTINGS.brands, SETTINGS.window_lengths)
        for source, brand, index, data in records:
            again.load(source, brand, index, Bucket.from_bytes(data))
        assert _all_json(again) == before
