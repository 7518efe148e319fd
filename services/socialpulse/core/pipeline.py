"""pipeline: decode → validate → match → score → aggregate for one record; no Kafka, no Prometheus.

The Kafka worker feeds records in and ships rejections to the dead-letter topic; the metrics
collector reads ``stats`` and the window store at scrape time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from socialpulse.core.alerts.samples import SampleReservoir
from socialpulse.core.brands import BrandMatcher
from socialpulse.core.decode import Decoder
from socialpulse.core.dedup import Deduplicator
from socialpulse.core.events import STREAMS, Interaction, Mention, Stream
from socialpulse.core.language import LanguageDetector, Languages
from socialpulse.core.rejection import REJECT_REASONS, Rejection
from socialpulse.core.scorers import build_scorers
from socialpulse.core.sentiment import Scorer
from socialpulse.core.validate import Validator
from socialpulse.core.windows.store import WindowStore
from socialpulse.core.windows.timeline import Source
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
    ) -> None:
        """Build the stages from ``settings``; ``scorer`` replaces the built-in English one.

        Scorers named in ``sentiment.scorers`` are imported here (``ScorerLoadError`` names the
        setting when one cannot be); ``detector`` shares a loaded language model between
        pipelines.
        """
        self.decoder = Decoder(settings.max_event_bytes)
        self.store = WindowStore(
            settings.brands,
            settings.window_lengths,
            lifetime_windows=settings.expected_customer_lifetime_windows,
        )
        self.validator = Validator(
            max_text_chars=settings.max_text_chars,
            max_future_seconds=settings.max_future_seconds,
            horizon_seconds=self.store.horizon_seconds,
        )
        self.dedup = Deduplicator(self.store.horizon_seconds)
        self.matcher = BrandMatcher(settings.brands)
        self.scorers = build_scorers(settings.sentiment.scorers, settings.languages, scorer)
        self.languages = Languages(
            settings.languages,
            detector or LanguageDetector(settings.languages, settings.language_min_confidence),
        )
        self.stats = PipelineStats()
        # Recent mention texts per brand, quoted by alert events (the store keeps no texts).
        self.samples = SampleReservoir(
            settings.alerts.samples_per_minute,
            settings.alerts.sample_text_chars,
            settings.anomaly.window_minutes,
        )

    def process(
        self, stream: Stream, raw: bytes | None, source: Source, now: float, offset: int
    ) -> Rejection | None:
        """Apply one record read at ``offset`` of ``source`` at service time ``now``.

        A rejection goes to the dead-letter topic; a duplicate event id is counted and skipped.
        """
        self.stats.processed[stream] += 1
        event: Mention | Interaction | Rejection = (
            self.decoder.mention(raw) if stream == "mentions" else self.decoder.interaction(raw)
        )
        if not isinstance(event, Rejection):
            rejection = self.validator.check(event, now)
            if rejection is None:
                if self.dedup.is_duplicate(
                    source, event.created_at.timestamp(), event.event_id, offset
                ):
                    self.stats.duplicates += 1
                else:
                    self._apply(event, source, offset)
                return None
            event = rejection
        self.stats.rejected[event.reason] += 1
        return event

    def _apply(self, event: Mention | Interaction, source: Source, offset: int) -> None:
        if isinstance(event, Interaction):
            if not self.store.add_interaction(source, event, offset):
                self.stats.untracked_brand += 1
            return
        matches = self.matcher.match(event.text, event.tagged)
        # A brand's own post counts as an owned post even when its text does not name the brand.
        matched = {m.brand for m in matches}
        owned_only = [
            b for b in self.store.accounts.owners(event.author.handle) if b not in matched
        ]
        for brand in owned_only:
            self.store.add_owned_post(source, brand, event, offset)
        if not matches:
            if not owned_only:
                self.stats.unmatched_mentions += 1
            return
        language = self.languages.of(event)
        scorer = self.scorers.get(language)
        # No scorer for the language: counted in every volume, as `unscored` in sentiment.
        sentiment = scorer.score(event.text) if scorer is not None else None
        label = self.languages.label(language)
        self.stats.brand_matches += len(matches)
        for m in matches:
            self.store.add_mention(source, m.brand, event, sentiment, m.tagged, offset, label)
            self.samples.add(m.brand, event, sentiment.label if sentiment else "unscored")
