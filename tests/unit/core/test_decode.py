"""The event contracts in schemas/ and the runtime decoder accept exactly the same records."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialpulse.core.alerts.event import decode_alert, encode_alert
from socialpulse.core.decode import Decoder
from socialpulse.core.events import (
    INTERACTION_TYPES,
    MAX_FOLLOWERS,
    MAX_ORDER_VALUE,
    MAX_SECONDS,
    Interaction,
    Mention,
)
from socialpulse.core.rejection import Rejection

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
EXAMPLES = sorted((SCHEMAS / "examples").glob("*.json"))
FORMATS = jsonschema.FormatChecker()


def _schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.v1.json").read_text())
    return loaded


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = _schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=FORMATS)


VALIDATORS = {n: _validator(n) for n in ("mention", "interaction", "dead-letter", "alert")}
DECODER = Decoder(max_event_bytes=1 << 20)


def _decode(kind: str, doc: Any) -> Mention | Interaction | Rejection:
    raw = json.dumps(doc, ensure_ascii=False).encode()
    return DECODER.mention(raw) if kind == "mention" else DECODER.interaction(raw)


def test_there_is_an_example_of_every_contract_and_interaction_type() -> None:
    kinds = {p.name.split(".")[0] for p in EXAMPLES}
    assert kinds == {"mention", "interaction", "dead-letter", "alert"}
    types = {json.loads(p.read_text())["type"] for p in EXAMPLES if p.name.startswith("inter")}
    assert types == set(INTERACTION_TYPES)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_validates_and_decodes(path: Path) -> None:
    kind = path.name.split(".")[0]
    doc = json.loads(path.read_text())
    VALIDATORS[kind].validate(doc)
    if kind == "alert":
        assert msgspec.json.decode(encode_alert(decode_alert(path.read_bytes()))) == doc
    elif kind != "dead-letter":
        assert not isinstance(_decode(kind, doc), Rejection), _decode(kind, doc)


def _example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / "examples" / name).read_text())
    return copy.deepcopy(loaded)


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    node = doc
    for p in parents:
        node = node[p]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return doc


class _Delete:
    """Marks a field to delete; its repr keeps test ids the same from run to run."""

    def __repr__(self) -> str:
        return "DELETE"


_DELETE = _Delete()

# (example file, dotted path, new value); each makes the record invalid.
INVALID: list[tuple[str, str, Any]] = [
    ("mention.post.json", "event_id", _DELETE),
    ("mention.post.json", "event_id", ""),
    ("mention.post.json", "event_id", 42),
    ("mention.post.json", "platform", "myspace"),
    ("mention.post.json", "created_at", "2025-03-14T09:26:53"),  # no offset
    ("mention.post.json", "created_at", "yesterday"),
    ("mention.post.json", "created_at", _DELETE),
    ("mention.post.json", "author", _DELETE),
    ("mention.post.json", "author.id", _DELETE),
    ("mention.post.json", "author.handle", ""),
    ("mention.post.json", "author.followers", -1),
    ("mention.post.json", "author.followers", 3.5),
    ("mention.post.json", "author.followers", "1834"),
    ("mention.post.json", "author.followers", True),
    ("mention.post.json", "author.verified", "no"),
    ("mention.post.json", "text", None),
    ("mention.post.json", "text", _DELETE),
    ("mention.post.json", "kind", "story"),
    ("mention.post.json", "tagged", "yes"),
    ("mention.post.json", "language", "e"),
    ("mention.post.json", "url", ""),
    ("mention.post.json", "has_media", 1),
    ("interaction.like.json", "type", "poke"),
    ("interaction.like.json", "brand", _DELETE),
    ("interaction.like.json", "user_id", ""),
    ("interaction.like.json", "created_at", "2025-13-01T00:00:00Z"),
    ("interaction.video-view.json", "value.watch_seconds", -1),
    ("interaction.video-view.json", "value.watch_seconds", None),
    ("interaction.video-view.json", "value", _DELETE),
    ("interaction.session.json", "value.bounced", "no"),
    ("interaction.session.json", "value.session_seconds", _DELETE),
    ("interaction.purchase.json", "value.order_value", -5),
    ("interaction.purchase.json", "value.currency", "usd"),
    ("interaction.purchase.json", "value.currency", "USD\n"),
    ("interaction.survey-response.json", "value.rating", 6),
    ("interaction.survey-response.json", "value.rating", 0),
    ("interaction.survey-response.json", "value.rating", 4.5),
    ("interaction.account-snapshot.json", "value.followers", -3),
    # Just outside each upper bound (next integer, next double), and far outside it.
    ("mention.post.json", "author.followers", MAX_FOLLOWERS + 1),
    ("mention.post.json", "author.followers", float(MAX_FOLLOWERS + 1)),
    ("mention.post.json", "author.followers", 10**30),
    ("mention.post.json", "author.followers", 1e30),
    ("mention.post.json", "author.followers", 2**64),
    ("interaction.account-snapshot.json", "value.followers", MAX_FOLLOWERS + 1),
    ("interaction.account-snapshot.json", "value.followers", 10**30),
    ("interaction.video-view.json", "value.watch_seconds", math.nextafter(MAX_SECONDS, math.inf)),
    ("interaction.video-view.json", "value.watch_seconds", 1e308),
    ("interaction.video-view.json", "value.video_seconds", math.nextafter(MAX_SECONDS, math.inf)),
    ("interaction.video-view.json", "value.video_seconds", 0),
    ("interaction.session.json", "value.session_seconds", MAX_SECONDS + 1),
    ("interaction.session.json", "value.session_seconds", 1e308),
    ("interaction.purchase.json", "value.order_value", math.nextafter(MAX_ORDER_VALUE, math.inf)),
    ("interaction.purchase.json", "value.order_value", 1e308),
    ("interaction.purchase.json", "value.order_value", -1e308),
]


@pytest.mark.parametrize(("name", "path", "value"), INVALID, ids=lambda v: str(v)[:30])
def test_invalid_variants_are_rejected_by_schema_and_decoder(
    name: str, path: str, value: Any
) -> None:
    kind = name.split(".")[0]
    doc = _set(_example(name), path, value)
    assert not VALIDATORS[kind].is_valid(doc), f"schema accepted {path}={value!r}"
    got = _decode(kind, doc)
    assert isinstance(got, Rejection) and got.reason == "schema", got


# Variants the contract allows that a naive decoder might refuse.
VALID: list[tuple[str, str, Any]] = [
    ("mention.post.json", "author.followers", 1834.0),  # JSON cannot tell 3.0 from 3
    ("mention.post.json", "language", None),
    ("mention.post.json", "url", _DELETE),
    ("mention.post.json", "tagged", _DELETE),
    ("mention.post.json", "text", ""),
    ("mention.post.json", "created_at", "2025-03-14T11:26:53.123+02:00"),
    ("mention.post.json", "future_field", {"anything": [1, 2]}),
    ("interaction.survey-response.json", "value.rating", 5.0),
    ("interaction.like.json", "post_id", None),
    # At and just inside each bound.
    ("mention.post.json", "author.followers", 0),
    ("mention.post.json", "author.followers", MAX_FOLLOWERS),
    ("mention.post.json", "author.followers", MAX_FOLLOWERS - 1),
    ("mention.post.json", "author.followers", float(MAX_FOLLOWERS)),
    ("interaction.account-snapshot.json", "value.followers", MAX_FOLLOWERS),
    ("interaction.account-snapshot.json", "value.followers", 0),
    ("interaction.video-view.json", "value.watch_seconds", MAX_SECONDS),
    ("interaction.video-view.json", "value.watch_seconds", math.nextafter(MAX_SECONDS, 0)),
    ("interaction.video-view.json", "value.watch_seconds", 0),
    ("interaction.video-view.json", "value.video_seconds", MAX_SECONDS),
    ("interaction.video-view.json", "value.video_seconds", 5e-324),
    ("interaction.session.json", "value.session_seconds", float(MAX_SECONDS)),
    ("interaction.session.json", "value.session_seconds", MAX_SECONDS - 1),
    ("interaction.purchase.json", "value.order_value", MAX_ORDER_VALUE),
    ("interaction.purchase.json", "value.order_value", math.nextafter(MAX_ORDER_VALUE, 0)),
    ("interaction.purchase.json", "value.order_value", 0.0),
    ("interaction.survey-response.json", "value.rating", 1),
]


@pytest.mark.parametrize(("name", "path", "value"), VALID, ids=lambda v: str(v)[:30])
def test_valid_variants_are_accepted_by_schema_and_decoder(
    name: str, path: str, value: Any
) -> None:
    kind = name.split(".")[0]
    doc = _set(_example(name), path, value)
    VALIDATORS[kind].validate(doc)
    got = _decode(kind, doc)
    assert not isinstance(got, Rejection), got


# Every numeric field with a maximum, as (schema, JSON pointer path, the decoder's bound).
BOUNDS: list[tuple[str, tuple[str, ...], float]] = [
    ("mention", ("author", "followers"), MAX_FOLLOWERS),
    ("interaction", ("value", "followers"), MAX_FOLLOWERS),
    ("interaction", ("value", "watch_seconds"), MAX_SECONDS),
    ("interaction", ("value", "video_seconds"), MAX_SECONDS),
    ("interaction", ("value", "session_seconds"), MAX_SECONDS),
    ("interaction", ("value", "order_value"), MAX_ORDER_VALUE),
    ("interaction", ("value", "rating"), 5),
]


def _numeric_fields(node: Any, at: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every property whose type admits a number, by its path of property names."""
    found: dict[tuple[str, ...], Any] = {}
    if isinstance(node, dict):
        types = node.get("type", [])
        if {"number", "integer"} & set([types] if isinstance(types, str) else types):
            found[at] = node
        for name, sub in node.get("properties", {}).items():
            found |= _numeric_fields(sub, (*at, name))
    return found


@pytest.mark.parametrize("name", ["mention", "interaction"])
def test_every_number_in_the_schemas_has_the_decoders_range(name: str) -> None:
    fields = _numeric_fields(_schema(name))
    bounds = {path: bound for schema, path, bound in BOUNDS if schema == name}
    assert set(fields) == set(bounds)
    for path, node in fields.items():
        assert node["maximum"] == bounds[path], path
        assert node.get("minimum", node.get("exclusiveMinimum")) in (0, 1), path


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("mention.post.json", "author.followers"),
        ("interaction.account-snapshot.json", "value.followers"),
        ("interaction.video-view.json", "value.watch_seconds"),
        ("interaction.video-view.json", "value.video_seconds"),
        ("interaction.session.json", "value.session_seconds"),
        ("interaction.purchase.json", "value.order_value"),
    ],
)
@pytest.mark.parametrize("literal", ["1e400", "-1e400"])
def test_a_number_beyond_the_largest_double_is_rejected(name: str, path: str, literal: str) -> None:
    """JSON text cannot say Infinity, but 1e400 becomes inf in decoders such as Python's."""
    kind = name.split(".")[0]
    raw = json.dumps(_set(_example(name), path, "@@")).replace('"@@"', literal).encode()
    assert not VALIDATORS[kind].is_valid(json.loads(raw))
    got = DECODER.mention(raw) if kind == "mention" else DECODER.interaction(raw)
    assert isinstance(got, Rejection) and got.reason == "schema", got


def test_bytes_that_are_not_json_are_told_apart() -> None:
    small = Decoder(max_event_bytes=10)
    cases: list[tuple[Mention | Interaction | Rejection, str]] = [
        (DECODER.mention(b"\xff\xfe garbage"), "undecodable"),
        (DECODER.mention(b'{"text": '), "invalid_json"),
        (DECODER.mention(b""), "invalid_json"),
        (DECODER.interaction(b"[1, 2]"), "schema"),
        (small.mention(b'{"event_id": "12345"}'), "oversized"),
    ]
    for got, reason in cases:
        assert isinstance(got, Rejection) and got.reason == reason, got
        assert got.detail


_PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mutations() -> st.SearchStrategy[tuple[str, str, Any]]:
    paths = {
        "mention.post.json": [
            "event_id", "platform", "created_at", "author.followers", "author.handle",
            "author.verified", "text", "kind", "tagged", "language", "url",
        ],
        "interaction.purchase.json": [
            "event_id", "type", "brand", "user_id", "value.order_value", "value.currency",
        ],
        "interaction.session.json": ["value.session_seconds", "value.bounced"],
        "interaction.video-view.json": ["value.watch_seconds", "value.video_seconds"],
        "interaction.account-snapshot.json": ["value.followers"],
    }  # fmt: skip
    edges = [
        m + d for m in (MAX_FOLLOWERS, MAX_SECONDS, MAX_ORDER_VALUE) for d in (-1, 0, 1, -0.5, 0.5)
    ]
    near_edges = [math.nextafter(m, to) for m in (MAX_SECONDS, MAX_ORDER_VALUE)
                  for to in (0, math.inf)]  # fmt: skip
    values = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 5),
        st.floats(allow_nan=False, allow_infinity=False, width=32),
        st.text(max_size=5),
        st.sampled_from(["x", "post", "2025-01-01T00:00:00Z", "EUR", "like", "reply"]),
        st.just(_DELETE),
        st.sampled_from([*edges, *near_edges, 10**30, 1e30, 1e308, -1e308]),
        st.floats(0, 2 * MAX_ORDER_VALUE),
    )
    return st.sampled_from(sorted(paths)).flatmap(
        lambda n: st.tuples(st.just(n), st.sampled_from(paths[n]), values)
    )


@_PROPERTY
@given(m=_mutations())
def test_schema_and_decoder_agree_on_random_mutations(m: tuple[str, str, Any]) -> None:
    name, path, value = m
    kind = name.split(".")[0]
    doc = _set(_example(name), path, value)
    schema_ok = VALIDATORS[kind].is_valid(doc)
    decoded = _decode(kind, doc)
    assert schema_ok == (not isinstance(decoded, Rejection)), (doc, decoded)
