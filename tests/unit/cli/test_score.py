"""``socialpulse score``: VADER's four scores, the class and the brands, of a text or a stream."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from socialpulse.cli.main import main
from socialpulse.cli.score import BATCH_LINES, score_lines
from socialpulse.settings import Settings

pytestmark = pytest.mark.usefixtures("clean_environment")

BRANDS: list[dict[str, Any]] = [
    {"id": "aurora", "name": "Aurora", "terms": ["aurora coffee"], "exclude": ["borealis"]},
    {"id": "lumen", "name": "Lumen", "terms": ["lumen"]},
]
SETTINGS = Settings(brands=BRANDS)
TEXTS = [
    "Aurora Coffee is the BEST 😍",
    "lumen got my order wrong again, terrible",
    "aurora coffee vs lumen: meh",
    "aurora coffee under the borealis",
    "",
    "Is it open on Sunday?",
]
VADER = SentimentIntensityAnalyzer()


def _label(compound: float) -> str:
    return "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"


class _Sink(io.BytesIO):
    """Records how many writes and flushes reached it."""

    writes = 0
    flushes = 0

    def write(self, b: Any) -> int:
        self.writes += 1
        return super().write(b)

    def flush(self) -> None:
        self.flushes += 1


def test_stdin_lines_become_json_lines_with_vaders_own_scores() -> None:
    sink = _Sink()
    source = io.BytesIO("".join(f"{t}\n" for t in TEXTS).encode())
    assert score_lines(SETTINGS, source, sink, interactive=False) == len(TEXTS)
    out = [json.loads(line) for line in sink.getvalue().decode().splitlines()]
    expected_brands = [["aurora"], ["lumen"], ["aurora", "lumen"], [], [], []]
    assert len(out) == len(TEXTS)
    for text, got, brands in zip(TEXTS, out, expected_brands, strict=True):
        vader = VADER.polarity_scores(text)
        assert {k: got[k] for k in ("compound", "pos", "neu", "neg")} == vader, text
        assert got["label"] == _label(vader["compound"])
        assert got["brands"] == brands
        assert set(got) == {"compound", "pos", "neu", "neg", "label", "brands"}
    assert sink.flushes == 1  # a pipe is written in batches and flushed at the end only


def test_many_lines_are_written_in_batches_in_order() -> None:
    n = 2 * BATCH_LINES + 5
    texts = [f"lumen {'great' if i % 2 else 'awful'} {i}" for i in range(n)]
    sink = _Sink()
    score_lines(SETTINGS, io.BytesIO("\n".join(texts).encode()), sink, interactive=False)
    out = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert [o["compound"] for o in out] == [VADER.polarity_scores(t)["compound"] for t in texts]
    assert {o["label"] for o in out} >= {"positive", "negative"}
    assert sink.writes == 3


def test_a_person_typing_gets_each_answer_at_once() -> None:
    sink = _Sink()
    score_lines(SETTINGS, io.BytesIO(b"good\nbad\n"), sink, interactive=True)
    assert (sink.writes, sink.flushes) == (2, 3)


def test_bytes_that_are_not_utf8_are_scored_not_fatal() -> None:
    sink = _Sink()
    score_lines(SETTINGS, io.BytesIO(b"lumen \xff\xfe great\r\n"), sink, interactive=False)
    (line,) = sink.getvalue().splitlines()
    got = json.loads(line)
    assert got["brands"] == ["lumen"]
    assert got["compound"] == VADER.polarity_scores("lumen \ufffd\ufffd great")["compound"]


def test_one_text_prints_the_scores_class_and_brands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(json.dumps({"brands": BRANDS}))
    text = "aurora coffee vs lumen: love it"
    assert main(["--config", str(f), "score", text]) == 0
    lines = capsys.readouterr().out.splitlines()
    shown = dict(line.split(maxsplit=1) for line in lines)
    vader = VADER.polarity_scores(text)
    assert {k: float(shown[k]) for k in vader} == vader
    assert shown["label"] == _label(vader["compound"]) == "positive"
    assert shown["brands"] == "aurora, lumen"
