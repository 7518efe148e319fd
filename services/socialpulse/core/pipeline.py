"""pipeline: decode → validate → match → signals → score → aggregate records; no Kafka.

The Kafka worker feeds each partition's part of a poll in as one batch (``process_batch``) and
ships rejections to the dead-letter topic; the metrics collector reads ``stats`` and the window
store at scrape time. A batch has exactly the effects of its records processed one by one in
offset order: only the pure steps (decoding, matching, language detection, scoring) are done
for the whole batch first; the signals stage (``core.signals``) judges the matched mentions in
offset order before any is scored, their texts fingerprinted in one pass; a filtered mention is
counted in every volume but neither scored nor in share of voice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from socialpulse.core.alerts.samples import SampleReservoir
from socialpulse.core.brands import BrandMatch, BrandMatcher
from socialpulse.core.decode import Decoder
from socialpulse.core.dedup import ColdStore, Deduplicator
from socialpulse.core.events import STREAMS, Interaction, Mention, Stream
from socialpulse.core.joins import JoinInput, interaction_input, mention_input
from socialpulse.core.language import LanguageDetector, Languages
from socialpulse.core.rejection import REJECT_REASONS, Rejection
from socialpulse.core.scorers import BUILTIN_LANGUAGE, build_scorers
from socialpulse.core.sentiment import OFF_LOOP_CHARS, Scorer, Sentiment, SentimentScorer
from socialpulse.core.signals import Signals
from socialpulse.core.validate import Validator
from socialpulse.core.windows.store import WindowStore
from socialpulse.core.windows.timeline import Source, bucket_of
from socialpulse.settings import Settings


def _zeros(keys: tuple[str, ...]) -> dict[str, int]:
    return dict.fromkeys(keys, 0)


@dataclass(slots=True)
class PipelineStats:
    """Monotonic counts of what happened to records; exported as ``_total`` counters."""

    processed: dict[str, int] = field(default_factory=lambda: _zeros(STREAMS))
    rejected: dict[str, int] = field(default_factory=lambda: _zeros(REJECT_REASONS))
    untracked_brand: int = 0
    duplicates: int = 0
    unmatched_mentions: int = 0
    brand_matches: int = 0


class Pipeline:
    """The pure core: one record in, state updated or a rejection out."""

    def __init__(
        self,
        settings: Settings,
        scorer: Scorer | None = None,
        detector: LanguageDetector | None = None,
        cold: ColdStore | None = None,
    ) -> None:
        """Build the stages from ``settings``; ``scorer`` replaces the built-in English one.

        Scorers named in ``sentiment.scorers`` are imported here (``ScorerLoadError`` names the
        setting when one cannot be); ``detector`` shares a loaded language model between
        pipelines; ``cold`` takes the dedup ids of quiet minutes out of memory (``dedup_spill``).
        """
        self.decoder = Decoder(settings.max_event_bytes)
        self.store = WindowStore(
            settings.brands,
            settings.window_lengths,
            lifetime_windows=settings.expected_customer_lifetime_windows,
        )
        horizon = settings.dedup_horizon
        self.validator = Validator(
            max_text_chars=settings.max_text_chars,
            max_future_seconds=settings.max_future_seconds,
            horizon_seconds=horizon,
            horizon_name=(
                "the longest window"
                if horizon >= self.store.horizon_seconds
                else "the dedup horizon (dedup_horizon_seconds)"
            ),
        )
        self.dedup = Deduplicator(horizon, cold)
        self.matcher = BrandMatcher(settings.brands)
        self.scorers = build_scorers(settings.sentiment.scorers, settings.languages, scorer)
        self.languages = Languages(
            settings.languages,
            detector or LanguageDetector(settings.languages, settings.language_min_confidence),
        )
        self.stats = PipelineStats()
        builtin = self.scorers.get(BUILTIN_LANGUAGE)
        self._builtin = builtin if type(builtin) is SentimentScorer else None
        self._max_text = settings.max_text_chars
        # Recent mention texts per brand, quoted by alert events (the store keeps no texts).
        self.samples = SampleReservoir(
            settings.alerts.samples_per_minute,
            settings.alerts.sample_text_chars,
            settings.anomaly.window_minutes,
        )
        # Spam verdicts before a mention counts, filtered counts, trends, campaigns.
        self.signals = Signals(settings)
        # When a list, every applied event a join reads is appended for the joins topic
        # (``core.joins``); the Kafka worker sets it and drains it at each checkpoint.
        self.join_inputs: list[JoinInput] | None = None

    def process(
        self, stream: Stream, raw: bytes | None, source: Source, now: float, offset: int
    ) -> Rejection | None:
        """Apply one record read at ``offset`` of ``source`` at service time ``now``.

        A rejection goes to the dead-letter topic; a duplicate event id is counted and skipped.
        """
        rejected = self.process_batch(stream, ((offset, raw),), source, now)
        return rejected[0][1] if rejected else None

    def long_texts(self, stream: Stream, values: Sequence[bytes | None]) -> list[str]:
        """Mention texts among ``values`` too long to score on the consumer loop.

        Their built-in VADER scores (``sentiment.score_texts``, run elsewhere) may be handed to
        ``process_batch`` as ``scored``. Only records larger than ``OFF_LOOP_CHARS`` bytes are
        decoded here, so ordinary batches cost a length check per record.
        """
        if stream != "mentions" or self._builtin is None:
            return []
        out: list[str] = []
        for raw in values:
            if raw is not None and len(raw) > OFF_LOOP_CHARS:
                event = self.decoder.mention(raw)
                if isinstance(event, Mention) and OFF_LOOP_CHARS < len(event.text) <= (
                    self._max_text
                ):
                    out.append(event.text)
        return out

    def process_batch(
        self,
        stream: Stream,
        records: Sequence[tuple[int, bytes | None]],
        source: Source,
        now: float,
        scored: Mapping[str, Sentiment] | None = None,
    ) -> list[tuple[int, Rejection]]:
        """Apply (offset, value) records of one partition of ``stream``, in offset order.

        Returns the rejections with their offsets, in order; the effects on state are those of
        ``process`` called for each record in turn. ``scored`` holds built-in VADER scores of
        texts computed elsewhere (``long_texts``), used where the built-in scorer would run.
        """
        stats = self.stats
        stats.processed[stream] += len(records)
        rejected: list[tuple[int, Rejection]] = []
        accepted: list[tuple[int, Mention | Interaction]] = []
        mentions = stream == "mentions"
        decode = self.decoder.mention if mentions else self.decoder.interaction
        check = self.validator.check
        is_duplicate = self.dedup.is_duplicate_in
        past_horizon = self.dedup.past_horizon
        # The fast path: an event within these is valid and inside the dedup horizon; any other
        # takes the checks that say why it is not.
        latest, oldest = self.validator.bounds(now)
        oldest = max(oldest, self.dedup.floor)
        max_text = self.validator.max_text_chars if mentions else -1
        for offset, raw in records:
            event = decode(raw)
            if not isinstance(event, Rejection):
                ts = event.created_at.timestamp()
                minute = bucket_of(ts)
                if (
                    ts <= latest
                    and minute >= oldest
                    and (max_text < 0 or len(event.text) <= max_text)  # type: ignore[union-attr]
                ):
                    if is_duplicate(source, minute, event.event_id, offset):
                        stats.duplicates += 1
                    else:
                        accepted.append((offset, event))
                    continue
                rejection = check(event, now)
                if rejection is None and past_horizon(ts):
                    # The dedup forgot this minute already (the clock stepped back): not counted.
                    rejection = Rejection(
                        "late",
                        f"created_at {event.created_at.isoformat()} is in a minute whose event "
                        "ids are no longer held (older than the dedup horizon)",
                    )
                if rejection is None:
                    if is_duplicate(source, minute, event.event_id, offset):
                        stats.duplicates += 1
                    else:
                        accepted.append((offset, event))
                    continue
                event = rejection
            stats.rejected[event.reason] += 1
            rejected.append((offset, event))
        if stream == "mentions":
            self._apply_mentions(accepted, source, scored or {})  # type: ignore[arg-type]
            if records:
                self.signals.advance(source, records[-1][0])
        else:
            add = self.store.add_interaction
            joins = self.join_inputs
            for offset, interaction in accepted:
                if not add(source, interaction, offset):  # type: ignore[arg-type]
                    stats.untracked_brand += 1
                elif joins is not None:
                    joined = interaction_input(source, offset, interaction)  # type: ignore[arg-type]
                    if joined is not None:
                        joins.append(joined)
        return rejected

    def _apply_mentions(
        self,
        mentions: list[tuple[int, Mention]],
        source: Source,
        scored: Mapping[str, Sentiment],
    ) -> None:
        """Match and detect for the whole batch, then apply each mention in offset order.

        Order matters: a bucket skips an offset at or below the last one it applied.
        """
        store, samples, stats = self.store, self.samples, self.stats
        owners = store.accounts.owners
        match = self.matcher.match
        found: list[tuple[int, Mention, list[BrandMatch], list[str], bool]] = []
        for offset, event in mentions:
            matches = match(event.text, event.tagged)
            # A brand's own post counts as an owned post even when its text does not name it.
            owned = owners(event.author.handle)
            by_brand = bool(owned)
            if owned and matches:
                owned = [b for b in owned if all(m.brand != b for m in matches)]
            if not matches and not owned:
                stats.unmatched_mentions += 1
                continue
            found.append((offset, event, matches, owned, by_brand))
        # Filtered (never a brand's own post): counted per reason and in every volume, in no
        # sentiment figure and no share of voice (unless ``include_filtered``).
        judged = [
            (offset, event, [m.brand for m in matches], by_brand)
            for offset, event, matches, _, by_brand in found
            if matches
        ]
        reasons = iter(self.signals.check_batch(source, judged) if judged else ())
        steps: list[tuple[int, Mention, list[BrandMatch], list[str], bool]] = []
        detect: list[Mention] = []
        for offset, event, matches, owned, _ in found:
            filtered = False
            if matches:
                filtered = next(reasons) is not None
                detect.append(event)
            steps.append((offset, event, matches, owned, filtered))
        languages = iter(self.languages.of_many(detect)) if detect else iter(())
        scorers, label_of, builtin = self.scorers, self.languages.label, self._builtin
        for offset, event, matches, owned, filtered in steps:
            for brand in owned:
                store.add_owned_post(source, brand, event, offset)
            if not matches:
                continue
            language = next(languages)
            scorer = scorers.get(language)
            # No scorer for the language: counted in every volume, as `unscored` in sentiment.
            if scorer is None or filtered:
                sentiment = None
            elif scorer is builtin and (known := scored.get(event.text)) is not None:
                sentiment = known
            else:
                sentiment = scorer.score(event.text)
            label = label_of(language)
            tone = sentiment.label if sentiment is not None else "unscored"
            stats.brand_matches += len(matches)
            if self.join_inputs is not None:
                self.join_inputs.append(
                    mention_input(source, offset, [m.brand for m in matches], event)
                )
            for m in matches:
                store.add_mention(
                    source, m.brand, event, sentiment, m.tagged, offset, label, filtered
                )
                if not filtered:  # alerts quote genuine mentions (a campaign has its own alert)
                    samples.add(m.brand, event, tone, source)
