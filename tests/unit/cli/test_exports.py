"""Export files for replay: each line a keyed record or a numbered reason, as the service has it."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from builders import encoded, interaction, mention
from socialpulse.cli.exports import (
    Blank,
    ExportReader,
    Line,
    Malformed,
    Record,
    file_format,
    open_export,
)
from socialpulse.core.decode import Decoder
from socialpulse.core.events import Interaction, Mention
from socialpulse.core.rejection import Rejection

EXAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "examples"
MAX_BYTES = 1_048_576
DECODER = Decoder(MAX_BYTES)
T = 1_800_000_000.0


def _reader() -> ExportReader:
    return ExportReader(Decoder(MAX_BYTES), MAX_BYTES)


def _jsonl(*lines: bytes) -> list[Line]:
    return list(_reader().jsonl(io.BytesIO(b"\n".join(lines) + b"\n")))


def _csv(text: str) -> list[Line]:
    return list(_reader().csv(io.BytesIO(text.encode())))


@pytest.mark.parametrize(
    "example",
    sorted(
        p.name for p in EXAMPLES.glob("*.json") if p.name.startswith(("mention.", "interaction."))
    ),
)
def test_every_schema_example_is_classified_by_shape_and_keyed_by_the_contract(
    example: str,
) -> None:
    raw = json.dumps(json.loads((EXAMPLES / example).read_text())).encode()
    (got,) = _jsonl(raw)
    assert isinstance(got, Record)
    assert got.line == 1
    assert got.value == raw  # sent exactly as exported
    doc = json.loads(raw)
    if example.startswith("mention."):
        assert (got.stream, got.key) == ("mentions", doc["author"]["id"].encode())
    else:
        assert (got.stream, got.key) == ("interactions", doc["user_id"].encode())


def test_a_stream_field_decides_and_is_not_sent() -> None:
    doc = msgspec.json.decode(encoded(mention(T, author="ann")))
    doc["user_id"] = "also-here"  # both shapes: only the stream field can tell
    doc["stream"] = "mention"
    (got,) = _jsonl(json.dumps(doc).encode())
    assert isinstance(got, Record) and (got.stream, got.key) == ("mentions", b"ann")
    assert "stream" not in json.loads(got.value)
    idoc = msgspec.json.decode(encoded(interaction(T, "like", user="val")))
    idoc["stream"] = "interactions"
    (got,) = _jsonl(json.dumps(idoc).encode())
    assert isinstance(got, Record) and (got.stream, got.key) == ("interactions", b"val")


def test_malformed_lines_carry_their_line_number_and_the_decoders_reason() -> None:
    good = encoded(mention(T))
    no_text = msgspec.json.decode(good)
    del no_text["text"]
    bad_followers = msgspec.json.decode(good)
    bad_followers["author"]["followers"] = -3
    video = msgspec.json.decode(encoded(interaction(T, "like")))
    video["type"] = "video_view"  # needs value.watch_seconds
    lines = [
        good,
        b"{not json",
        b"",
        json.dumps(no_text).encode(),
        json.dumps(bad_followers).encode(),
        json.dumps(video).encode(),
        b'{"event_id": "e1"}',
        b'{"stream": "tweets", "event_id": "e1"}',
        b"[1, 2]",
        b"\xff\xfe{}",
        encoded(interaction(T, "like")),
    ]
    got = _jsonl(*lines)
    assert [type(g) for g in got] == [
        Record,
        Malformed,
        Blank,
        Malformed,
        Malformed,
        Malformed,
        Malformed,
        Malformed,
        Malformed,
        Malformed,
        Record,
    ]
    assert [g.line for g in got] == list(range(1, len(lines) + 1))
    bad = {g.line: g for g in got if isinstance(g, Malformed)}
    # The reasons are the service decoder's own, word for word.
    for n, stream in ((2, "m"), (4, "m"), (5, "m"), (6, "i"), (9, "m"), (10, "m")):
        raw = lines[n - 1]
        expected = DECODER.mention(raw) if stream == "m" else DECODER.interaction(raw)
        assert isinstance(expected, Rejection)
        assert (bad[n].reason, bad[n].detail) == (expected.reason, expected.detail), n
    assert bad[2].reason == "invalid_json"
    assert "`text`" in bad[4].detail
    assert "$.author.followers" in bad[5].detail
    assert "watch_seconds" in bad[6].detail
    assert bad[7].reason == "stream" and "neither" in bad[7].detail
    assert bad[8].reason == "stream" and "'tweets'" in bad[8].detail
    assert bad[10].reason == "undecodable"


def test_an_oversized_line_is_rejected_as_the_service_would() -> None:
    reader = ExportReader(Decoder(300), 300)
    long = encoded(mention(T, text="alpha " * 100))
    (got,) = list(reader.jsonl(io.BytesIO(long)))
    assert isinstance(got, Malformed) and got.reason == "oversized"


CSV_HEADER = (
    "stream,event_id,platform,created_at,author.id,author.handle,author.followers,"
    "author.verified,text,kind,tagged,type,brand,user_id,post_id,value.watch_seconds,"
    "value.rating,value.bounced,value.session_seconds,campaign\n"
)


def test_csv_columns_map_to_nested_typed_fields() -> None:
    got = _csv(
        CSV_HEADER
        + 'mention,m1,x,2027-01-15T08:00:00Z,u1,@u1,120,true,"alpha, great",post,0,,,,,,,,,spring\n'
        + "interaction,i1,x,2027-01-15T08:00:00Z,,,,,,,,video_view,a,v1,m1,12.5,,,,\n"
        + ",i2,x,2027-01-15T08:00:00Z,,,,,,,,survey_response,a,v2,,,4,,,\n"
        + ",i3,x,2027-01-15T08:00:00Z,,,,,,,,session,a,v3,,,,no,30,\n"
    )
    assert all(isinstance(g, Record) for g in got), got
    m, v, s, sess = (g for g in got if isinstance(g, Record))
    mention_ev = DECODER.mention(m.value)
    assert isinstance(mention_ev, Mention)
    assert (m.stream, m.key, m.line) == ("mentions", b"u1", 2)
    assert mention_ev.author.followers == 120 and mention_ev.author.verified is True
    assert (mention_ev.text, mention_ev.tagged) == ("alpha, great", False)
    assert json.loads(m.value)["campaign"] == "spring"  # unknown columns pass as text
    assert "stream" not in json.loads(m.value)
    video = DECODER.interaction(v.value)
    assert isinstance(video, Interaction)
    assert (v.stream, v.key) == ("interactions", b"v1")
    assert (video.post_id, video.value.watch_seconds) == ("m1", 12.5)
    survey = DECODER.interaction(s.value)
    assert isinstance(survey, Interaction) and survey.value.rating == 4
    assert "post_id" not in json.loads(s.value)  # an empty cell is an absent field
    session = DECODER.interaction(sess.value)
    assert isinstance(session, Interaction)
    assert (session.value.bounced, session.value.session_seconds) == (False, 30.0)


def test_csv_lines_that_fail_are_numbered_by_file_line() -> None:
    got = _csv(
        "event_id,platform,created_at,author.id,author.handle,author.followers,text,kind\n"
        'm1,x,2027-01-15T08:00:00Z,u1,@u1,12,"two\nlines",post\n'  # lines 2-3
        "m2,x,2027-01-15T08:00:00Z,u1,@u1,many,text,post\n"  # line 4: followers not an int
        "m3,x,2027-01-15T08:00:00Z,u1,@u1\n"  # line 5: too few cells
        "\n"  # line 6
        "m4,x,2027-01-15T08:00:00Z,u1,@u1,12,hi,poem\n"  # line 7: not a kind
        "m5,x,2027-01-15T08:00:00Z,,,,hello,post\n"  # line 8: no author.id, no user_id
    )
    assert [(type(g).__name__, g.line) for g in got] == [
        ("Record", 2),
        ("Malformed", 4),
        ("Malformed", 5),
        ("Blank", 6),
        ("Malformed", 7),
        ("Malformed", 8),
    ]
    first = got[0]
    assert isinstance(first, Record)
    ev = DECODER.mention(first.value)
    assert isinstance(ev, Mention) and ev.text == "two\nlines"
    reasons: dict[int, Any] = {g.line: g for g in got if isinstance(g, Malformed)}
    assert reasons[4].reason == "schema" and "$.author.followers" in reasons[4].detail
    assert reasons[5].reason == "csv" and "5 cells" in reasons[5].detail
    assert reasons[7].reason == "schema" and "$.kind" in reasons[7].detail
    assert reasons[8].reason == "stream"


def test_csv_cells_that_are_not_utf8_are_reported() -> None:
    raw = b"event_id,text\nm1,caf\xe9\n"
    (got,) = list(_reader().csv(io.BytesIO(raw)))
    assert isinstance(got, Malformed) and (got.line, got.reason) == (2, "undecodable")


@pytest.mark.parametrize("name", ["export.jsonl.gz", "export.bin"])
def test_gzip_is_read_whatever_the_name(tmp_path: Path, name: str) -> None:
    lines = [encoded(mention(T)), encoded(interaction(T, "like"))]
    f = tmp_path / name
    f.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    export = open_export(f)
    try:
        got = list(_reader().jsonl(export.stream))
        assert export.position() == export.size == f.stat().st_size
    finally:
        export.close()
    assert [g.value for g in got if isinstance(g, Record)] == lines


@pytest.mark.parametrize(
    ("name", "chosen", "expected"),
    [
        ("a.jsonl", None, "jsonl"),
        ("a.ndjson.gz", None, "jsonl"),
        ("a.CSV.GZ", None, "csv"),
        ("a.txt", "csv", "csv"),
    ],
)
def test_the_format_comes_from_the_option_else_the_name(
    name: str, chosen: str | None, expected: str
) -> None:
    assert file_format(Path(name), chosen) == expected


@pytest.mark.parametrize("name", ["a.txt", "a.gz", "noext"])
def test_an_unknown_format_asks_for_the_option(name: str) -> None:
    with pytest.raises(ValueError, match="--format"):
        file_format(Path(name), None)
