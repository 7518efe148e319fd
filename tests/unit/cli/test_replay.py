"""``socialpulse replay``: counts, malformed lines by number, dry runs, exit statuses, pacing."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from builders import encoded, interaction, mention
from socialpulse.app.replay import Pacer
from socialpulse.cli.main import main
from socialpulse.cli.replay import PLAIN_PROGRESS_SECONDS, Counts, _PlainProgress

pytestmark = pytest.mark.usefixtures("clean_environment")

T = 1_800_000_000.0


def _export(tmp_path: Path, lines: list[bytes], name: str = "export.jsonl") -> Path:
    f = tmp_path / name
    body = b"\n".join(lines) + b"\n"
    f.write_bytes(gzip.compress(body) if name.endswith(".gz") else body)
    return f


def _no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    async def start(self: object) -> None:
        pytest.fail("replay started the embedded broker")

    monkeypatch.setattr("socialpulse.kafka.embedded.EmbeddedBroker.start", start)


def test_a_dry_run_counts_each_stream_and_reports_malformed_lines_by_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_broker(monkeypatch)
    lines = [
        encoded(mention(T)),
        encoded(interaction(T, "like")),
        b'{"event_id": ',
        encoded(mention(T)),
        b"",
        b'{"event_id": "x", "author": {"id": "u"}}',
    ]
    f = _export(tmp_path, lines, "export.jsonl.gz")
    assert main(["replay", str(f), "--dry-run"]) == 1
    out = capsys.readouterr()
    errors = out.err.splitlines()
    assert errors[0].startswith("line 3: invalid_json: ")
    assert errors[1].startswith("line 6: schema: ")
    assert len([e for e in errors if e.startswith("line ")]) == 2
    summary = out.out.splitlines()
    assert summary[0].split()[:2] == ["mentions", "2"]
    assert summary[1].split()[:2] == ["interactions", "1"]
    assert summary[2].split()[:2] == ["malformed", "2"]
    assert summary[3].split()[:3] == ["blank", "lines", "1"]
    assert all("dry run" in line for line in summary[:2])


def test_past_max_errors_malformed_lines_are_counted_not_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = _export(tmp_path, [b"nope"] * 5 + [encoded(mention(T))])
    assert main(["replay", str(f), "--dry-run", "--max-errors", "2"]) == 1
    out = capsys.readouterr()
    assert [e.split(":")[0] for e in out.err.splitlines()] == ["line 1", "line 2"]
    assert "malformed             5 not sent" in out.out
    assert "(3 malformed lines not shown; --max-errors)" in out.out


def test_a_clean_csv_file_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "e.csv"
    f.write_text(
        "event_id,platform,created_at,type,brand,user_id\n"
        "i1,x,2027-01-15T08:00:00Z,like,a,v1\n"
        "i2,x,2027-01-15T08:00:00Z,impression,a,v2\n"
    )
    assert main(["replay", str(f), "--dry-run"]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert out.out.splitlines()[1].split()[:2] == ["interactions", "2"]


def test_without_a_kafka_address_it_says_so_and_starts_no_broker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_broker(monkeypatch)
    f = _export(tmp_path, [encoded(mention(T))])
    assert main(["replay", str(f)]) == 2
    err = capsys.readouterr().err
    assert "replay needs a Kafka address" in err
    assert "SOCIALPULSE_KAFKA__BOOTSTRAP_SERVERS" in err


def test_an_unreachable_kafka_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOCIALPULSE_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:1")
    f = _export(tmp_path, [encoded(mention(T))])
    assert main(["replay", str(f)]) == 3
    assert "cannot reach Kafka at 127.0.0.1:1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.jsonl", "--dry-run"], "cannot read"),
        (["e.txt", "--dry-run"], "--format"),
    ],
)
def test_a_file_it_cannot_read_exits_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "e.txt").write_text("{}\n")
    assert main(["replay", *args]) == 2
    assert message in capsys.readouterr().err


def test_a_truncated_gzip_file_exits_2_saying_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "e.jsonl.gz"
    f.write_bytes(gzip.compress(b"\n".join([encoded(mention(T))] * 50))[:-30])
    assert main(["replay", str(f), "--dry-run"]) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize("rate", ["0", "-5", "abc"])
def test_the_rate_must_be_positive(rate: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["replay", "x.jsonl", "--rate", rate])
    assert exit_.value.code == 2


def test_the_pacer_spaces_events_at_the_rate() -> None:
    now = [100.0]
    pacer = Pacer(4, clock=lambda: now[0])
    assert [pacer.delay() for _ in range(3)] == [0.0, 0.25, 0.5]
    now[0] = 101.0  # a second later, the 4th event is due now, the 5th a quarter second on
    assert [pacer.delay(), pacer.delay()] == [0.0, 0.0]
    unlimited = Pacer(None)
    assert {unlimited.delay() for _ in range(100)} == {0.0}


def test_the_plain_progress_line_is_periodic(capsys: pytest.CaptureFixture[str]) -> None:
    now = [0.0]
    progress = _PlainProgress(1000, clock=lambda: now[0])
    counts = Counts({"mentions": 30, "interactions": 20}, malformed=1)
    progress.update(100, counts)
    assert capsys.readouterr().err == ""
    now[0] = PLAIN_PROGRESS_SECONDS
    progress.update(500, counts)
    assert capsys.readouterr().err == (
        "replay: 50% of the file, 51 lines: 30 mentions, 20 interactions, 1 malformed, "
        "10 events/s\n"
    )


def test_counts_serialise_per_stream() -> None:
    assert json.dumps(Counts().valid) == '{"mentions": 0, "interactions": 0}'


def test_ctrl_c_says_how_far_it_got_and_exits_130(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from socialpulse.cli import replay as command

    tally = command._tally

    def interrupted(item: Any, counts: Counts, *args: Any) -> None:
        tally(item, counts, *args)
        if counts.lines == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(command, "_tally", interrupted)
    f = _export(tmp_path, [encoded(mention(T))] * 10)
    assert main(["replay", str(f), "--dry-run"]) == 130
    out = capsys.readouterr()
    assert "replay interrupted after 3 lines" in out.err
    assert out.out == ""


def test_ctrl_c_stops_the_replay_even_when_a_client_swallows_the_cancellation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGINT cancels the task; a send that swallows that must not let the replay run on."""
    import asyncio
    import os
    import signal

    sent: list[bytes] = []

    class Swallowing:
        def __init__(self, settings: object) -> None:
            self.acked = {"mentions": 0, "interactions": 0}

        async def __aenter__(self) -> Swallowing:
            asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGINT)
            return self

        async def __aexit__(self, *exc: object) -> None:
            return None

        async def send(self, stream: str, key: bytes, value: bytes) -> None:
            try:
                await asyncio.sleep(0.005)
            except asyncio.CancelledError:
                pass  # as a client library waiting on metadata may do
            sent.append(value)
            self.acked[stream] += 1

    monkeypatch.setattr("socialpulse.app.replay.Replayer", Swallowing)
    monkeypatch.setenv("SOCIALPULSE_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9")
    f = _export(tmp_path, [encoded(mention(T + i)) for i in range(400)])
    assert main(["replay", str(f)]) == 130
    assert "replay interrupted after" in capsys.readouterr().err
    assert 0 < len(sent) < 400
