"""The live summary line: totals, the sentiment mix, share of voice and separators."""

from __future__ import annotations

from builders import NEG, NEU, POS, mention
from socialpulse.core.pipeline import PipelineStats
from socialpulse.core.windows.store import WindowStore
from socialpulse.export.summary import summary_line

NOW = 1_800_000_030.0
SRC = ("m", 0)


def test_no_mentions_yet_and_a_dash_for_undefined_share_of_voice(
    rivals_store: WindowStore,
) -> None:
    line = summary_line(rivals_store.snapshot(NOW), PipelineStats(), 0.0, 0, "5m")
    assert (
        line == "0 ev/s | 5m: 0 brand mentions no mentions yet | SoV a - b - | rejected 0 | lag 0"
    )


def test_no_brands_at_all_is_one_dash() -> None:
    assert summary_line({}, PipelineStats(), 3.4, 2, "1h") == (
        "3 ev/s | 1h: 0 brand mentions no mentions yet | SoV - | rejected 0 | lag 2"
    )


def test_mix_share_of_voice_and_thousands_separators(rivals_store: WindowStore) -> None:
    for n in range(1000):
        rivals_store.add_mention(SRC, "a", mention(NOW - 10), POS, False, n)
    for n in range(1000, 1200):
        rivals_store.add_mention(SRC, "b", mention(NOW - 10), NEG, False, n)
    for n in range(1200, 1250):
        rivals_store.add_mention(SRC, "b", mention(NOW - 10), NEU, False, n)
    stats = PipelineStats()
    stats.rejected["late"] = 1200
    stats.rejected["schema"] = 34
    line = summary_line(rivals_store.snapshot(NOW), stats, 12_345.6, 1_234_567, "5m")
    assert line == (
        "12,346 ev/s | 5m: 1,250 brand mentions +80% =4% -16% | SoV a 80% b 20% | "
        "rejected 1,234 | lag 1,234,567"
    )


def test_only_the_named_window_is_summed(rivals_store: WindowStore) -> None:
    rivals_store.add_mention(SRC, "a", mention(NOW - 10), POS, False, 1)
    rivals_store.add_mention(SRC, "a", mention(NOW - 1800), NEG, False, 2)  # in 1h, not in 5m
    kpis = rivals_store.snapshot(NOW)
    assert "5m: 1 brand mentions +100% =0% -0% | SoV a 100% b 0%" in summary_line(
        kpis, PipelineStats(), 0, 0, "5m"
    )
    assert "1h: 2 brand mentions +50% =0% -50%" in summary_line(kpis, PipelineStats(), 0, 0, "1h")


def test_the_mix_is_over_scored_mentions_and_unscored_ones_are_counted_apart(
    rivals_store: WindowStore,
) -> None:
    for n in range(3):
        rivals_store.add_mention(SRC, "a", mention(NOW - 10), POS, False, n)
    rivals_store.add_mention(SRC, "a", mention(NOW - 10), NEG, False, 3)
    for n in range(4, 10):
        es = mention(NOW - 10, language="es")
        rivals_store.add_mention(SRC, "a", es, None, False, n, "es")
    line = summary_line(rivals_store.snapshot(NOW), PipelineStats(), 0, 0, "5m")
    assert "5m: 10 brand mentions +75% =0% -25% ?6 unscored | SoV a 100% b 0%" in line


def test_only_unscored_mentions_have_no_mix(rivals_store: WindowStore) -> None:
    rivals_store.add_mention(SRC, "a", mention(NOW - 10, language="ja"), None, False, 1, "ja")
    line = summary_line(rivals_store.snapshot(NOW), PipelineStats(), 0, 0, "5m")
    assert "5m: 1 brand mentions none scored ?1 unscored |" in line


def test_filtered_mentions_are_in_the_total_not_in_the_mix(rivals_store: WindowStore) -> None:
    rivals_store.add_mention(SRC, "a", mention(NOW - 10), POS, False, 1)
    for n in range(2, 5):
        spam = mention(NOW - 10, event_id=f"spam-{n}")
        rivals_store.add_mention(SRC, "a", spam, None, False, n, filtered=True)
    line = summary_line(rivals_store.snapshot(NOW), PipelineStats(), 0, 0, "5m")
    assert "5m: 4 brand mentions +100% =0% -0% !3 filtered | SoV a 100% b 0%" in line
