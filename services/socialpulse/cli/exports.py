"""Export files for ``replay``: JSON lines or CSV, plain or gzip, each line a record or a reason.

Every line is judged by the service's own ``Decoder``, so a line accepted here is one the service
accepts (the time checks, late and future, depend on the service clock and are its own).

A line is a mention or an interaction by its ``stream`` field (``mention``/``mentions`` or
``interaction``/``interactions``; removed before sending), else by its shape: ``author`` makes a
mention, ``user_id`` an interaction.

CSV: the first line names the columns; nested fields are flattened with dots (``author.id``,
``author.handle``, ``author.followers``, ``author.verified``, ``value.watch_seconds``...). An
empty cell is an absent field. Cells of integer, number and boolean fields are converted
(booleans: ``true``/``false``, ``1``/``0``, ``yes``/``no``); a cell that does not convert is
sent as text and rejected by the decoder like any other wrong type. Unknown columns are kept as
text fields, as unknown JSON fields are.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final, Literal

import msgspec

from socialpulse.core.decode import Decoder
from socialpulse.core.events import Interaction, Mention, Stream
from socialpulse.core.rejection import Rejection

Format = Literal["jsonl", "csv"]
FORMATS: Final = ("jsonl", "csv")
STREAM_FIELD: Final = "stream"
_STREAM_NAMES: Final[dict[str, Stream]] = {
    "mention": "mentions",
    "mentions": "mentions",
    "interaction": "interactions",
    "interactions": "interactions",
}
_SUFFIXES: Final[dict[str, Format]] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
}
_GZIP_MAGIC: Final = b"\x1f\x8b"
_BOOLS: Final = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


@dataclass(frozen=True, slots=True)
class Record:
    """A valid line, ready to send: its stream, its key per the producer contract, its bytes."""

    line: int
    stream: Stream
    key: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class Malformed:
    """A line the service would reject, and why (a rejection reason and its detail)."""

    line: int
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Blank:
    """An empty line: no record, counted so that nothing passes unseen."""

    line: int


Line = Record | Malformed | Blank


def file_format(path: Path, chosen: str | None) -> Format:
    """The format asked for, else the one the file name says (``.jsonl``, ``.csv``, ``.gz``)."""
    if chosen is not None:
        if chosen not in FORMATS:
            raise ValueError(f"unknown format {chosen!r}; expected one of {', '.join(FORMATS)}")
        return chosen  # type: ignore[return-value]
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    found = _SUFFIXES.get(suffixes[-1]) if suffixes else None
    if found is None:
        raise ValueError(f"cannot tell the format of {path.name}; give --format jsonl or csv")
    return found


@dataclass
class ExportFile:
    """An open export file: its lines as bytes, gunzipped when compressed, and how far it is read.

    ``position`` and ``size`` count bytes of the file as stored (compressed, for gzip), so a
    progress bar can show how much is left.
    """

    stream: BinaryIO
    position: Callable[[], int]
    size: int
    close: Callable[[], None]


def open_export(path: Path) -> ExportFile:
    """Open ``path``; gzip is recognised by its magic bytes, whatever the name."""
    raw = path.open("rb")
    size = path.stat().st_size
    compressed = raw.read(2) == _GZIP_MAGIC
    raw.seek(0)
    stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw  # type: ignore[assignment]

    def close() -> None:
        stream.close()
        raw.close()

    return ExportFile(stream, raw.tell, size, close)


def _converters(struct: type[msgspec.Struct]) -> dict[str, Callable[[str], Any]]:
    """Dotted field path to the conversion of a CSV cell, derived from the event struct."""
    out: dict[str, Callable[[str], Any]] = {}

    def walk(t: msgspec.inspect.Type, at: str) -> None:
        if isinstance(t, msgspec.inspect.UnionType):
            for member in t.types:
                if not isinstance(member, msgspec.inspect.NoneType):
                    walk(member, at)
        elif isinstance(t, msgspec.inspect.StructType):
            for f in t.fields:
                walk(f.type, f"{at}.{f.encode_name}" if at else f.encode_name)
        elif isinstance(t, msgspec.inspect.IntType):
            out[at] = int
        elif isinstance(t, msgspec.inspect.FloatType):
            out[at] = float
        elif isinstance(t, msgspec.inspect.BoolType):
            out[at] = lambda cell: _BOOLS[cell.strip().lower()]

    walk(msgspec.inspect.type_info(struct), "")
    return out


_CONVERT: Final[dict[Stream, dict[str, Callable[[str], Any]]]] = {
    "mentions": _converters(Mention),
    "interactions": _converters(Interaction),
}
# The columns whose presence tells a mention from an interaction in a CSV line.
MENTION_COLUMN: Final = "author.id"
INTERACTION_COLUMN: Final = "user_id"


class ExportReader:
    """Turns export lines into records to send or reasons they cannot be sent."""

    def __init__(self, decoder: Decoder, max_line_bytes: int) -> None:
        self._decoder = decoder
        self._any = msgspec.json.Decoder()
        self._max = max_line_bytes

    def jsonl(self, lines: Iterable[bytes]) -> Iterator[Line]:
        """Each line of a JSON lines export, numbered from 1."""
        for n, raw in enumerate(lines, start=1):
            raw = raw.rstrip(b"\r\n")
            if not raw.strip():
                yield Blank(n)
                continue
            try:
                doc = self._any.decode(raw)
            except (msgspec.DecodeError, RecursionError):
                yield self._rejected(n, self._decoder.mention(raw))
                continue
            if not isinstance(doc, dict):
                yield self._rejected(n, self._decoder.mention(raw))
                continue
            yield self._judge(n, doc, raw)

    def csv(self, stream: BinaryIO) -> Iterator[Line]:
        """Each line of a CSV export with a header line; numbers are lines of the file."""
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
        try:
            yield from self._csv_rows(text)
        finally:
            text.detach()  # the caller closes the file; the wrapper must not do it again

    def _csv_rows(self, text: io.TextIOWrapper) -> Iterator[Line]:
        csv.field_size_limit(self._max)
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield Malformed(1, "csv", f"the header line is not CSV: {e}")
            return
        columns = [c.strip() for c in header]
        done = reader.line_num
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                yield Malformed(done + 1, "csv", str(e))
                done = reader.line_num
                continue
            line, done = done + 1, reader.line_num
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                yield Blank(line)
                continue
            yield self._csv_line(line, columns, cells)

    def _csv_line(self, n: int, columns: list[str], cells: list[str]) -> Line:
        if len(cells) != len(columns):
            return Malformed(
                n, "csv", f"line has {len(cells)} cells; the header names {len(columns)} columns"
            )
        filled = {c: v for c, v in zip(columns, cells, strict=True) if v != ""}
        for column, cell in filled.items():
            try:
                cell.encode("utf-8")
            except UnicodeEncodeError:
                return Malformed(n, "undecodable", f"column {column!r} is not UTF-8")
        stream = self._csv_stream(filled)
        if isinstance(stream, Malformed):
            return Malformed(n, stream.reason, stream.detail)
        convert = _CONVERT[stream]
        doc: dict[str, Any] = {}
        for column, cell in filled.items():
            if column == STREAM_FIELD:
                continue
            to = convert.get(column)
            value: Any = cell
            if to is not None:
                try:
                    value = to(cell)
                except (ValueError, KeyError):
                    pass  # sent as text: the decoder names the field and the type it expected
            parent = doc
            *path, leaf = column.split(".")
            for key in path:
                child = parent.setdefault(key, {})
                if not isinstance(child, dict):
                    return Malformed(n, "csv", f"column {column!r} nests under a plain field")
                parent = child
            parent[leaf] = value
        return self._decoded(n, stream, msgspec.json.encode(doc))

    def _csv_stream(self, filled: dict[str, str]) -> Stream | Malformed:
        if STREAM_FIELD in filled:
            return self._named_stream(filled[STREAM_FIELD])
        return self._shape(MENTION_COLUMN in filled, INTERACTION_COLUMN in filled, "column")

    def _judge(self, n: int, doc: dict[str, Any], raw: bytes) -> Line:
        if STREAM_FIELD in doc:
            stream = self._named_stream(doc.pop(STREAM_FIELD))
            raw = msgspec.json.encode(doc)
        else:
            stream = self._shape("author" in doc, "user_id" in doc, "field")
        if isinstance(stream, Malformed):
            return Malformed(n, stream.reason, stream.detail)
        return self._decoded(n, stream, raw)

    @staticmethod
    def _named_stream(name: object) -> Stream | Malformed:
        stream = _STREAM_NAMES.get(name) if isinstance(name, str) else None
        if stream is None:
            return Malformed(
                0, "stream", f"`stream` is {name!r}; expected mention(s) or interaction(s)"
            )
        return stream

    @staticmethod
    def _shape(mention: bool, interaction: bool, what: str) -> Stream | Malformed:
        if mention != interaction:
            return "mentions" if mention else "interactions"
        return Malformed(
            0,
            "stream",
            f"cannot tell a mention (an `author` {what}) from an interaction (a `user_id` "
            f"{what}): it has {'both' if mention else 'neither'}; add a `stream` {what}",
        )

    def _decoded(self, n: int, stream: Stream, raw: bytes) -> Line:
        if stream == "mentions":
            mention = self._decoder.mention(raw)
            if isinstance(mention, Rejection):
                return self._rejected(n, mention)
            return Record(n, stream, mention.author.id.encode(), raw)
        interaction = self._decoder.interaction(raw)
        if isinstance(interaction, Rejection):
            return self._rejected(n, interaction)
        return Record(n, stream, interaction.user_id.encode(), raw)

    @staticmethod
    def _rejected(n: int, got: Mention | Interaction | Rejection) -> Malformed:
        if isinstance(got, Rejection):
            return Malformed(n, got.reason, got.detail)
        # Unreachable in practice: the typed decode accepted what the generic one refused.
        return Malformed(n, "invalid_json", "not a JSON object")
