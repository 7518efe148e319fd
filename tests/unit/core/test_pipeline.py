"""The pure pipeline: one record in, state or a rejection out; counters by reason."""

from __future__ import annotations

import pytest

from builders import ALPHA_BETA, RIVALS, WEEK, encoded, interaction, mention, off
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.windows.timeline import first_bucket
from socialpulse.settings import Settings

NOW = 1_800_000_030.0
SRC, SRC2 = ("m", 0), ("i", 3)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(brands=ALPHA_BETA, max_text_chars=100)


def test_valid_mention_is_scored_and_counted(settings: Settings) -> None:
    p = Pipeline(settings)
    assert (
        p.process(
            "mentions",
            encoded(mention(NOW - 10, "u", 5, text="I love alpha and beta!")),
            SRC,
            NOW,
            off(),
        )
        is None
    )
    k = p.store.snapshot(NOW)
    assert k["a"]["5m"].positive == 1 and k["b"]["5m"].positive == 1
    assert k["a"]["5m"].share_of_voice == 0.5
    assert p.stats.brand_matches == 2
    assert p.stats.processed == {"mentions": 1, "interactions": 0}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe", "undecodable"),
        (b"{", "invalid_json"),
        (None, "invalid_json"),
        (b'{"event_id": 1}', "schema"),
        (encoded(mention(NOW - 10, "u", 5, text="alpha " * 30)), "oversized"),
        (encoded(mention(NOW - 7 * 86400 - 60, "u", 5, text="alpha")), "late"),
        (encoded(mention(NOW + 301, "u", 5, text="alpha")), "future"),
    ],
)
def test_bad_input_is_rejected_with_reason(
    settings: Settings, raw: bytes | None, reason: str
) -> None:
    p = Pipeline(settings)
    rejection = p.process("mentions", raw, SRC, NOW, off())
    assert rejection is not None and rejection.reason == reason and rejection.detail
    assert p.stats.rejected[reason] == 1
    assert sum(p.stats.rejected.values()) == 1
    assert p.store.bucket_count() == 0


def test_future_limit_is_inclusive(settings: Settings) -> None:
    assert (
        Pipeline(settings).process(
            "mentions", encoded(mention(NOW + 300, "u", 5, text="alpha")), SRC, NOW, off()
        )
        is None
    )


def test_unmatched_mentions_and_untracked_interactions_are_counted_not_stored(
    settings: Settings,
) -> None:
    p = Pipeline(settings)
    assert (
        p.process(
            "mentions", encoded(mention(NOW - 10, "u", 5, text="nothing here")), SRC, NOW, off()
        )
        is None
    )
    assert (
        p.process(
            "interactions", encoded(interaction(NOW - 10, "like", brand="zeta")), SRC, NOW, off()
        )
        is None
    )
    assert p.stats.unmatched_mentions == 1 and p.stats.untracked_brand == 1
    assert p.store.bucket_count() == 0


def test_future_events_count_everywhere_and_late_ones_are_rejected() -> None:
    settings = Settings(brands=RIVALS, windows=tuple(WEEK))
    p = Pipeline(settings)

    def raw(ago: float) -> bytes:
        return encoded(interaction(NOW - ago, "impression", user=f"v{ago}"))

    assert p.process("interactions", raw(-300), SRC2, NOW, off()) is None
    future = p.process("interactions", raw(-301), SRC2, NOW, off())
    assert future is not None and future.reason == "future"
    late = p.process(
        "interactions", raw(NOW - first_bucket(NOW, 7 * 86400) * 60 + 1), SRC2, NOW, off()
    )
    assert late is not None and late.reason == "late"
    s = p.store.snapshot(NOW)["a"]
    assert [s[w].reach for w in WEEK] == [1, 1, 1]


def test_long_texts_scored_elsewhere_count_as_scored_in_line() -> None:
    """``long_texts`` finds what is too long for the loop; given its scores, state is the same."""
    from socialpulse.core.sentiment import OFF_LOOP_CHARS, Sentiment, score_texts

    settings = Settings(brands=[{"id": "a", "name": "A", "terms": ["alpha"], "competitors": []}])
    long = "alpha " + "😍 so bad but great " * (OFF_LOOP_CHARS // 10)
    records = [
        (0, encoded(mention(NOW - 5, "u1", 10, text=long, language="en"))),
        (1, encoded(mention(NOW - 5, "u2", 10, text="alpha is fine", language="en"))),
    ]
    inline, offloaded = Pipeline(settings), Pipeline(settings)
    texts = offloaded.long_texts("mentions", [v for _, v in records])
    assert texts == [long]
    scored = dict(zip(texts, score_texts(texts), strict=True))
    assert offloaded.process_batch("mentions", records, ("m", 0), NOW, scored) == []
    assert inline.process_batch("mentions", records, ("m", 0), NOW) == []
    assert offloaded.store.snapshot(NOW) == inline.store.snapshot(NOW)
    assert inline.long_texts("interactions", [v for _, v in records]) == []
    # The scores handed in are the ones counted (here a made-up one, to tell them apart).
    told = Pipeline(settings)
    told.process_batch("mentions", records, ("m", 0), NOW, {long: Sentiment(0.99, 1.0, 0, 0)})
    assert told.store.snapshot(NOW) != inline.store.snapshot(NOW)


def test_events_past_a_shorter_dedup_horizon_are_late_and_copies_within_it_count_once() -> None:
    settings = Settings(brands=ALPHA_BETA, windows=("5m", "1h"), dedup_horizon_seconds=600)
    p = Pipeline(settings)

    def raw(ago: float, event_id: str) -> bytes:
        return encoded(mention(NOW - ago, "u", 5, text="alpha", event_id=event_id))

    assert p.process("mentions", raw(300, "x"), SRC, NOW, 1) is None
    assert p.process("mentions", raw(300, "x"), SRC, NOW, 2) is None  # a copy: skipped
    assert p.stats.duplicates == 1
    # Older than the horizon, inside the 1 h window: its copy could not be recognised.
    late = p.process("mentions", raw(900, "y"), SRC, NOW, 3)
    assert late is not None and late.reason == "late"
    assert "the dedup horizon" in late.detail
    assert p.stats.rejected["late"] == 1
    assert p.store.snapshot(NOW)["a"]["1h"].mentions == 1


def test_a_clock_stepping_back_never_revives_a_forgotten_minute() -> None:
    settings = Settings(brands=ALPHA_BETA, windows=("5m", "1h"), dedup_horizon_seconds=600)
    p = Pipeline(settings)
    event = encoded(mention(NOW - 300, "u", 5, text="alpha", event_id="x"))
    assert p.process("mentions", event, SRC, NOW, 1) is None
    p.dedup.expire(NOW + 600)  # the minute's ids are forgotten
    # The wall clock steps back: the validator alone would accept the copy and count it again.
    again = p.process("mentions", event, SRC, NOW, 2)
    assert again is not None and again.reason == "late"
    assert "no longer held" in again.detail
    assert p.store.snapshot(NOW)["a"]["1h"].mentions == 1
