"""The signals stage: every matched mention judged by the spam heuristics before it counts.

Called by the pipeline once per matched mention. A flagged mention is counted per brand under
its most specific reason (``FILTER_REASONS``, the bounded set of ``core.spam``); it still counts
in every volume KPI but, unless ``spam.include_filtered``, in no sentiment figure and no share
of voice (the pipeline's part). A genuine one feeds the brand's trends. A
brand's own posts are neither judged nor counted for trends: a brand posting its own campaign
text from its accounts is publishing, not spamming. Copy-paste campaigns become incidents of the
signal ``copy_paste_campaign`` (``campaign_transitions``), named like the spike detector's.

The state is this process's: the trends of the partitions it owns and the spam window it has
seen. Both restart empty (the window store, not this, is what the state topic persists).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from socialpulse.core.anomaly.detector import Transition, incident_key
from socialpulse.core.events import Mention
from socialpulse.core.spam import Cluster, SpamDetector, SpamReason
from socialpulse.core.terms import Tokeniser, brand_terms
from socialpulse.core.trends import Trend, TrendDetector
from socialpulse.settings import Settings

# The reasons a filtered mention is counted under, most specific first: a post of a campaign
# is counted as ``campaign`` though it is a near-duplicate from a new account too.
FILTER_REASONS: Final[tuple[SpamReason, ...]] = (
    "campaign",
    "near_duplicate",
    "exact_repost",
    "new_account_burst",
    "bot_rate",
)
CAMPAIGN_SIGNAL: Final = "copy_paste_campaign"
# Campaign clusters whose brands are held before those gone from the window are forgotten.
_CAMPAIGNS_HELD: Final = 1024


@dataclass(frozen=True, slots=True)
class Campaign:
    """A copy-paste campaign among one brand's mentions, as the alert and the API show it."""

    brand: str
    key: str
    text: str
    first_seen: float
    last_seen: float
    posts: int
    accounts: int


class Signals:
    """Spam verdicts, filtered counts, trends and campaigns of the mentions this worker reads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.enabled = settings.spam.enabled
        self.include_filtered = settings.spam.include_filtered
        self.trends_enabled = settings.trends.enabled
        self.tokeniser = Tokeniser(settings.trends.languages)
        self.trends = TrendDetector(
            settings.trends, {b.id: brand_terms(b.terms, b.handles) for b in settings.brands}
        )
        self.spam = SpamDetector(settings.spam)
        # brand -> reason -> mentions filtered since start (``_total`` counters).
        self.filtered: dict[str, dict[str, int]] = {
            b.id: dict.fromkeys(FILTER_REASONS, 0) for b in settings.brands
        }
        # Campaign cluster id -> brands its flagged posts named; announced incidents by key.
        self._campaign_brands: dict[int, set[str]] = {}
        self._open: dict[str, Campaign] = {}
        self._min_posts = settings.spam.campaign_min_posts
        self._latest = float("-inf")
        self._prune_at = _CAMPAIGNS_HELD

    def prefetch(self, texts: Sequence[str]) -> None:
        """Fingerprint and tokenise a batch's matched texts in numpy passes, ahead of ``check``.

        One text alone costs the MinHash a dozen numpy calls; a batch costs a few µs a text.
        The fingerprints wait in the hasher's cache, the translated texts in the tokeniser's,
        where ``check`` finds them.
        """
        if self.enabled and texts:
            self.spam.hasher.fingerprints(texts[: self.spam.hasher.cache_entries])
        if self.trends_enabled and texts:
            self.tokeniser.prefetch(texts)

    def check(self, mention: Mention, brands: Sequence[str], owned: bool) -> str | None:
        """The reason ``mention`` (matching ``brands``) is filtered, None when it is genuine.

        A filtered mention is kept out of sentiment and share of voice; under
        ``include_filtered`` the reason is still counted, but None is returned.
        """
        if owned:
            return None
        ts = mention.created_at.timestamp()
        if ts > self._latest:
            self._latest = ts
        verdict = self.spam.classify(mention) if self.enabled else None
        if verdict is None or not verdict.reasons:
            if not self.trends_enabled:
                return None
            terms = self.tokeniser.terms(mention.text, mention.language)
            for brand in brands:
                self.trends.add(brand, ts, terms)
            return None
        reason = next(r for r in FILTER_REASONS if r in verdict.reasons)
        for brand in brands:
            self.filtered[brand][reason] += 1
        if reason == "campaign":
            self._campaign_brands.setdefault(verdict.cluster, set()).update(brands)
            if len(self._campaign_brands) > self._prune_at:
                self._prune()
        return None if self.include_filtered else reason

    @property
    def trend_window(self) -> str:
        """The label of the recent window trends are judged over (``5m`` by default)."""
        seconds = self.settings.trends.recent_buckets * self.settings.trends.bucket_seconds
        return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"

    def trends_ready(self, brand: str, now: float) -> bool:
        """Whether ``brand`` has a full baseline behind the recent window at ``now``."""
        state = self.trends.brands.get(brand)
        return state is not None and state.warm(now)

    def trends_of(self, brand: str, now: float) -> list[Trend]:
        """The brand's top trends at event time ``now`` (this worker's partitions)."""
        return self.trends.trends(brand, now)

    @property
    def event_time(self) -> float:
        """The latest event time of a mention checked (-inf before the first)."""
        return self._latest

    def campaigns(self, brand: str | None = None) -> list[Campaign]:
        """The campaigns of the spam window, largest first; only ``brand``'s when given."""
        out = []
        for c in self.spam.campaigns():
            for b in sorted(self._campaign_brands.get(c.id, ())):
                if brand is None or b == brand:
                    out.append(_campaign(b, c))
        return out

    def campaign_transitions(self) -> list[Transition]:
        """Campaigns that began or ended since the last call, as incident transitions.

        An incident's key hashes the brand, the signal and the minute of the campaign's first
        post, so a replay or a restart that sees the same posts names the same incident.
        """
        live = {c.key: c for c in self.campaigns()}
        minute = int(self.event_time // 60) if self.event_time > float("-inf") else 0
        out = []
        for key, c in live.items():
            if key not in self._open:
                out.append(_transition(c, "firing", minute, self._min_posts))
        for key, c in self._open.items():
            if key not in live:
                out.append(_transition(c, "resolved", minute, self._min_posts))
        self._open = live
        self._prune()
        return out

    def _prune(self) -> None:
        """Forget the brands of campaigns gone from the window (a campaign stays one till then)."""
        live = {c.id for c in self.spam.campaigns()}
        for cluster in [c for c in self._campaign_brands if c not in live]:
            del self._campaign_brands[cluster]
        self._prune_at = max(_CAMPAIGNS_HELD, 2 * len(self._campaign_brands))


def _campaign(brand: str, c: Cluster) -> Campaign:
    key = incident_key(brand, CAMPAIGN_SIGNAL, int(c.first_seen // 60))
    return Campaign(brand, key, c.text, c.first_seen, c.last_seen, c.posts, c.account_count)


def _transition(
    c: Campaign, state: Literal["firing", "resolved"], minute: int, min_posts: int
) -> Transition:
    """Observed: the campaign's posts; the band ends at ``campaign_min_posts``; score: the ratio."""
    return Transition(
        brand=c.brand,
        signal=CAMPAIGN_SIGNAL,
        state=state,
        minute=minute,
        started_minute=int(c.first_seen // 60),
        key=c.key,
        observed=float(c.posts),
        expected=0.0,
        lower=0.0,
        upper=float(min_posts),
        score=c.posts / min_posts,
    )
