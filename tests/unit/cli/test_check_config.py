"""``socialpulse check-config``: each brand's words, and what matches sample texts."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from socialpulse.cli.check_config import builtin_samples
from socialpulse.cli.main import main
from socialpulse.demo.brands import DEMO_BRANDS

pytestmark = pytest.mark.usefixtures("clean_environment")

CONFIG = """
brands:
  - id: aurora
    name: Aurora Coffee
    terms: [aurora coffee]
    handles: ["@auroracoffee"]
    exclude: [aurora borealis]
    competitors: [lumen]
  - id: lumen
    name: Lumen Roasters
    terms: [lumen roasters, lumenroasters]
"""


def _check(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
    stdin: str = "",
) -> list[str]:
    f = tmp_path / "c.yaml"
    f.write_text(CONFIG)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert main(["--config", str(f), "check-config", *args]) == 0
    return capsys.readouterr().out.splitlines()


def _row(lines: list[str], text: str) -> list[str]:
    """The cells after ``text`` in the sample table row that starts with it."""
    (row,) = [line for line in lines if line.strip().startswith(text)]
    return row.strip().removeprefix(text).split()


def test_lists_each_brand_and_the_matches_of_given_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _check(
        tmp_path,
        capsys,
        monkeypatch,
        "--sample",
        "aurora coffee beats lumenroasters",
        "--sample",
        "thanks @auroracoffee",
        "--sample",
        "aurora coffee under the aurora borealis",
        "--sample",
        "plain tea",
    )
    aurora = next(line for line in lines if line.strip().startswith("aurora "))
    for word in ("Aurora Coffee", "aurora coffee", "@auroracoffee", "aurora borealis", "lumen"):
        assert word in aurora
    assert any("lumenroasters" in line for line in lines)  # a second term, on its own line
    assert _row(lines, "aurora coffee beats lumenroasters") == ["aurora,", "lumen"]
    assert _row(lines, "thanks @auroracoffee") == ["aurora*"]  # the handle tags it
    assert _row(lines, "aurora coffee under the aurora borealis") == ["-"]  # vetoed
    assert _row(lines, "plain tea") == ["-"]
    assert lines[-1] == "configuration OK: 2 brands, windows 5m, 1h, 24h, 7d"


def test_reads_samples_from_standard_input_one_per_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _check(tmp_path, capsys, monkeypatch, stdin="lumen roasters rock\n\nno brand\n")
    assert _row(lines, "lumen roasters rock") == ["lumen"]
    assert _row(lines, "no brand") == ["-"]
    assert not any("just tried" in line for line in lines)


def test_without_samples_each_brand_is_tried_on_its_own_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _check(tmp_path, capsys, monkeypatch)
    assert _row(lines, "just tried aurora coffee, not bad") == ["aurora"]
    assert _row(lines, "just tried lumenroasters, not bad") == ["lumen"]
    assert _row(lines, "thanks @auroracoffee for the quick reply") == ["aurora*"]
    assert _row(lines, "aurora coffee and aurora borealis") == ["-"]


def test_builtin_samples_cover_every_term_handle_and_exclusion() -> None:
    samples = builtin_samples(DEMO_BRANDS)
    for b in DEMO_BRANDS:
        for word in (*b.terms, *b.handles, *b.exclude):
            assert any(word in s for s in samples), word
    assert len(samples) == len(set(samples))
