"""decode: raw Kafka record bytes to typed events, or a Rejection that says why.

A valid record costs one msgspec decode (plus, for interactions, a dict lookup). All other work
(the UTF-8 check, the retry for integral floats) happens only after that decode has failed, so
the hot path never pays for it.

The accepted language is ``schemas/mention.v1.json`` and ``schemas/interaction.v1.json``, with
two deliberate differences from a bare msgspec decode:

* JSON Schema cannot tell ``3.0`` from ``3``, so an integral float in an ``int`` field is taken
  as that int (a retry on the failure path; msgspec alone rejects it).
* A type's required ``value`` fields (``REQUIRED_VALUE_FIELDS``) are checked here; a null counts
  as missing, as in the schema's ``if``/``then``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, TypeVar, cast

import msgspec

from socialpulse.core.events import REQUIRED_VALUE_FIELDS, Interaction, Mention
from socialpulse.core.rejection import Rejection

_E = TypeVar("_E", Mention, Interaction)
_Path = tuple[str, ...]


_EMPTY: Final = Rejection("invalid_json", "empty record")
_TOO_DEEP: Final = Rejection("invalid_json", "JSON is nested deeper than the decoder's limit")


def _int_paths(t: msgspec.inspect.Type, at: _Path = ()) -> Iterator[_Path]:
    """Yield the key paths of ``int`` fields, reached through nested structs only."""
    if isinstance(t, msgspec.inspect.IntType):
        yield at
    elif isinstance(t, msgspec.inspect.UnionType):
        for member in t.types:
            yield from _int_paths(member, at)
    elif isinstance(t, msgspec.inspect.StructType):
        for f in t.fields:
            yield from _int_paths(f.type, (*at, f.encode_name))


_INTERACTION_INFO: Final = cast(msgspec.inspect.StructType, msgspec.inspect.type_info(Interaction))
# Derived from the structs so that a new int field cannot silently miss the 3.0 → 3 retry.
_MENTION_INTS: Final = tuple(_int_paths(msgspec.inspect.type_info(Mention)))
_INTERACTION_INTS: Final = tuple(_int_paths(_INTERACTION_INFO))
# msgspec hands out this very default instance, so identity tells "no value key" from "value: {}".
_NO_VALUE: Final = next(f.default for f in _INTERACTION_INFO.fields if f.name == "value")


def _integral_floats_to_ints(doc: Any, paths: tuple[_Path, ...]) -> bool:
    """Rewrite integral floats (3.0, 1e3) at ``paths`` in place; True if any was rewritten."""
    changed = False
    for path in paths:
        parent = doc
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            v = parent.get(path[-1])
            if type(v) is float and v.is_integer():
                parent[path[-1]] = int(v)
                changed = True
    return changed


def _not_utf8(raw: bytes) -> Rejection | None:
    try:
        str(raw, "utf-8")
    except UnicodeDecodeError as e:
        return Rejection("undecodable", f"not UTF-8: {e.reason} at byte {e.start}")
    return None


def _missing_value_fields(ev: Interaction, required: tuple[str, ...]) -> Rejection:
    """Say which of ``required`` are absent or null (off the hot path: only once one is)."""
    if ev.value is _NO_VALUE:
        return Rejection(
            "schema", f"Object missing required field `value` (type `{ev.type}` needs it)"
        )
    missing = [f"`{f}`" for f in required if getattr(ev.value, f) is None]
    s = "s" if len(missing) > 1 else ""
    return Rejection(
        "schema",
        f"Object missing required field{s} {', '.join(missing)} - at `$.value` "
        f"(type `{ev.type}` needs {'them' if s else 'it'} non-null)",
    )


class Decoder:
    """Turns record values into events; build one per worker and reuse it for every record."""

    __slots__ = ("_any", "_interactions", "_max", "_mentions")

    def __init__(self, max_event_bytes: int) -> None:
        self._max = max_event_bytes
        self._mentions = msgspec.json.Decoder(Mention)
        self._interactions = msgspec.json.Decoder(Interaction)
        self._any = msgspec.json.Decoder()

    def mention(self, raw: bytes | None) -> Mention | Rejection:
        """Decode a mentions-topic record value; never raises."""
        if not raw:
            return _EMPTY
        if len(raw) > self._max:
            return self._oversized(raw)
        try:
            return self._mentions.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as e:
            return self._failed(raw, e, self._mentions, _MENTION_INTS)

    def interaction(self, raw: bytes | None) -> Interaction | Rejection:
        """Decode an interactions-topic record value; never raises."""
        if not raw:
            return _EMPTY
        if len(raw) > self._max:
            return self._oversized(raw)
        try:
            ev = self._interactions.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as e:
            got = self._failed(raw, e, self._interactions, _INTERACTION_INTS)
            if isinstance(got, Rejection):
                return got
            ev = got
        required = REQUIRED_VALUE_FIELDS.get(ev.type)
        if required is not None:
            value = ev.value
            for name in required:
                if getattr(value, name) is None:
                    return _missing_value_fields(ev, required)
        return ev

    def _oversized(self, raw: bytes) -> Rejection:
        return Rejection("oversized", f"record is {len(raw)} bytes; the limit is {self._max}")

    def _failed(
        self,
        raw: bytes,
        err: Exception,
        typed: msgspec.json.Decoder[_E],
        int_paths: tuple[_Path, ...],
    ) -> _E | Rejection:
        """Classify a failed decode, or rescue it when only integral floats in int fields failed."""
        bad_bytes = _not_utf8(raw)
        if bad_bytes is not None:
            return bad_bytes
        if isinstance(err, RecursionError):
            return _TOO_DEEP
        if not isinstance(err, msgspec.ValidationError):
            return Rejection("invalid_json", str(err))
        try:
            doc = self._any.decode(raw)
            rescue = _integral_floats_to_ints(doc, int_paths)
        except (msgspec.MsgspecError, RecursionError):
            # The typed decode skips unknown fields the generic one chokes on (1e400, deep nesting).
            rescue = False
        if rescue:
            try:
                return typed.decode(msgspec.json.encode(doc))
            except msgspec.ValidationError as still_bad:
                return Rejection("schema", str(still_bad))
            except (msgspec.MsgspecError, RecursionError):
                pass
        return Rejection("schema", str(err))
