"""The one frozen settings object, built once at start-up from a YAML/TOML file and the environment.

Precedence, highest first: ``SOCIALPULSE_*`` environment variables (nested with ``__``, e.g.
``SOCIALPULSE_KAFKA__BOOTSTRAP_SERVERS``), then the config file, then the defaults below.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    DirectoryPath,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_FILE_ENV = "SOCIALPULSE_CONFIG"
# Defaults that code outside the settings also needs (tests, a WindowStore built by hand).
DEFAULT_TOP_K: Final = 10
DEFAULT_LIFETIME_WINDOWS: Final = 12.0

_WINDOW_RE = re.compile(r"^([1-9][0-9]*)([mhd])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}

BrandId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
# A language as a primary subtag (ISO 639-1 or -3, lower case): `en`, `pt`, `yue`.
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]
# The languages counted by name by default: the demo's five, plus Italian and Japanese.
DEFAULT_LANGUAGES: Final = ("en", "es", "pt", "fr", "de", "it", "ja")
# Below this detection confidence (0..1, over the configured languages) a language is `unknown`.
DEFAULT_LANGUAGE_MIN_CONFIDENCE: Final = 0.5
# Labels of mentions_by_language is the configured languages plus these two, so at most this many.
MAX_LANGUAGES: Final = 50


def window_seconds(label: str) -> int:
    """Length in seconds of a window label such as ``5m``, ``1h`` or ``7d``."""
    m = _WINDOW_RE.match(label)
    if m is None:
        raise ValueError(f"window {label!r} is not a whole number of m, h or d (e.g. 5m, 1h, 7d)")
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


class _Frozen(BaseModel):
    # A string under a field is its description: the README's reference is generated from it.
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class BrandSettings(_Frozen):
    """A tracked brand: how mentions of it are recognised and whom it competes with."""

    id: BrandId
    """The brand's Prometheus label and API key: `[a-z0-9][a-z0-9_-]*`, at most 64 characters."""
    name: str
    """Display name."""
    terms: tuple[str, ...] = Field(min_length=1)
    """Words or phrases that name the brand: case-insensitive, whole words, also as `#tag` and
    `@handle`."""
    handles: tuple[str, ...] = ()
    """The brand's own accounts (`@name`): they also match, make a mention tagged, and mark
    owned posts."""
    exclude: tuple[str, ...] = ()
    """Phrases that veto the brand when present (e.g. "aurora borealis")."""
    competitors: tuple[BrandId, ...] = ()
    """Other configured brands: the share-of-voice set."""
    followers: int | None = Field(default=None, ge=0)
    """Follower count used when no account snapshot is known."""
    # Overrides the global expected_customer_lifetime_windows for this brand's CLV.
    customer_lifetime_windows: float | None = Field(default=None, gt=0)
    """This brand's CLV multiplier, overriding `expected_customer_lifetime_windows`."""

    @field_validator("handles")
    @classmethod
    def _handles_start_with_at(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for h in v:
            if not h.startswith("@") or len(h) < 2:
                raise ValueError(f"handle {h!r} must start with '@'")
        return v


class KafkaSettings(_Frozen):
    """Where the events come from and where rejects go."""

    bootstrap_servers: str | None = None
    """Kafka to read from, `host:port,...`; unset starts the embedded broker with demo traffic."""
    group_id: str = "socialpulse"
    """Consumer group; run more copies with the same group to scale out."""
    client_id: str = "socialpulse"
    """Client id the brokers see."""
    mentions_topic: str = "socialpulse.mentions"
    """Input topic of mention events."""
    interactions_topic: str = "socialpulse.interactions"
    """Input topic of interaction events."""
    dlq_topic: str = "socialpulse.dlq"
    """Dead-letter topic: rejected records with their reason."""
    alerts_topic: str = "socialpulse.alerts"
    """Compacted topic of alert events, keyed `<alert_id>:<status>`; read back at start-up so
    no event is sent twice."""
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    """Where a new consumer group starts reading."""
    max_batch_records: int = Field(default=2000, ge=1)
    """Records per `getmany` batch."""
    poll_timeout_ms: int = Field(default=500, ge=1)
    """Longest wait for a batch."""
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """How clients connect to the brokers."""
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    """SASL mechanism, with `sasl_username` and `sasl_password`; required with `SASL_*`, refused
    with the other protocols."""
    sasl_username: str | None = None
    """SASL user."""
    sasl_password: SecretStr | None = None
    """SASL password (a secret: never printed)."""
    ssl_cafile: Path | None = None
    """PEM file of the CA(s) that signed the brokers' certificates (`SSL`, `SASL_SSL`); unset:
    the system's CAs."""
    ssl_certfile: Path | None = None
    """Client certificate (PEM) for brokers that require one."""
    ssl_keyfile: Path | None = None
    """Private key (PEM) of `ssl_certfile`, if not in that file."""
    ssl_key_password: SecretStr | None = None
    """Password of an encrypted `ssl_keyfile` (a secret: never printed)."""
    ssl_check_hostname: bool = True
    """A broker's certificate must name the address it was reached at."""
    enable_idempotence: bool = False
    """Idempotent producers (the embedded broker does not support them)."""
    # Codec of the records the service produces (dead letters, state, demo traffic); input in
    # any codec is read whatever this says.
    compression_type: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "none"
    """Codec of what the service produces (dead letters, state, demo); input in any codec is
    read regardless."""
    create_topics: bool = True
    """Create missing topics at start-up."""
    startup_timeout_seconds: float = Field(default=300.0, ge=1, le=86_400)
    """How long start-up waits for an unreachable or not-ready cluster (brokers restarting,
    leaders being elected) before exiting with an error; once consuming, outages are waited out
    without limit."""
    topic_partitions: int = Field(default=4, ge=1)
    """Partitions of the topics it creates."""
    # Compacted topic holding the window state of this consumer group; default "<group_id>.state".
    state_topic: str | None = None
    """Compacted topic holding the group's window state; unset: `<group_id>.state`."""
    minutes_topic: str | None = None
    """Compacted one-partition topic of every mentions partition's per-minute totals, the spike
    detector's fleet-wide input and history; unset: `<group_id>.minutes`."""
    joins_topic: str | None = None
    """Topic of the events that join partitions, sent by every worker and read by all (README,
    State); unset: `<group_id>.joins`."""
    trends_topic: str | None = None
    """Compacted one-partition topic of every mentions partition's trend buckets, sent by every
    worker and read by all, so trends are the same from any pod (README, Signals); unset:
    `<group_id>.trends`."""
    # How often window state is flushed to the state topic; offsets are committed after each flush.
    checkpoint_interval_seconds: float = Field(default=1.0, gt=0)
    """How often state is flushed and offsets committed after it."""
    signals_snapshot_interval_seconds: float = Field(default=10.0, gt=0, le=3600)
    """Shortest wait between two snapshots of a changed partition's signals state (spam window,
    trend sketches), written whole to the state topic, besides every handover. Past it, a
    snapshot waits until the partition has read a quarter as many mentions as its spam window
    holds posts (README: State)."""
    signals_snapshot_max_interval_seconds: float = Field(default=300.0, gt=0, le=86_400)
    """Longest wait between two snapshots of a changed partition's signals state. After a crash
    the partition is re-read from the last one: at most this much reading, or a quarter of its
    spam window's posts, plus a checkpoint. At least `signals_snapshot_interval_seconds`."""
    max_checkpoint_interval_seconds: float = Field(default=30.0, gt=0, le=3600)
    """Longest wait between checkpoints when flushes are costly (a backfill): the interval grows
    so that flushing takes at most a fifth of the time, up to this."""
    # Group membership: a worker silent for session_timeout_ms (no heartbeat) or not polling for
    # max_poll_interval_ms loses its partitions to the others. aiokafka's defaults.
    session_timeout_ms: int = Field(default=10_000, ge=1_000, le=3_600_000)
    """A worker silent this long (no heartbeat) loses its partitions to the others."""
    heartbeat_interval_ms: int = Field(default=3_000, ge=100, le=600_000)
    """How often a worker tells the group it is alive; below `session_timeout_ms`."""
    max_poll_interval_ms: int = Field(default=300_000, ge=1_000, le=86_400_000)
    """A worker that does not poll this long loses its partitions."""

    @model_validator(mode="after")
    def _security_consistent(self) -> KafkaSettings:
        """Credentials the protocol would ignore are a mistake, not a default."""
        protocol = self.security_protocol
        sasl = protocol.startswith("SASL_")
        if sasl and self.sasl_mechanism is None:
            raise ValueError(f"security_protocol {protocol} needs sasl_mechanism")
        if not sasl and self.sasl_mechanism is not None:
            raise ValueError(
                f"sasl_mechanism {self.sasl_mechanism} is set but security_protocol is "
                f"{protocol}; use SASL_SSL (or SASL_PLAINTEXT)"
            )
        if sasl and (not self.sasl_username or self.sasl_password is None):
            raise ValueError(
                f"sasl_mechanism {self.sasl_mechanism} needs sasl_username and sasl_password"
            )
        tls_set = [
            name
            for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_key_password")
            if getattr(self, name) is not None
        ]
        if tls_set and protocol not in ("SSL", "SASL_SSL"):
            raise ValueError(
                f"{', '.join(tls_set)} set but security_protocol is {protocol}; use SSL or SASL_SSL"
            )
        if self.ssl_certfile is None and (self.ssl_keyfile or self.ssl_key_password):
            raise ValueError("ssl_keyfile and ssl_key_password need ssl_certfile")
        return self

    @model_validator(mode="after")
    def _snapshot_intervals_ordered(self) -> KafkaSettings:
        if self.signals_snapshot_max_interval_seconds < self.signals_snapshot_interval_seconds:
            raise ValueError(
                "signals_snapshot_max_interval_seconds "
                f"({self.signals_snapshot_max_interval_seconds:g}) must be at least "
                f"signals_snapshot_interval_seconds ({self.signals_snapshot_interval_seconds:g})"
            )
        return self

    @model_validator(mode="after")
    def _heartbeat_below_session(self) -> KafkaSettings:
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise ValueError(
                f"heartbeat_interval_ms ({self.heartbeat_interval_ms}) must be below "
                f"session_timeout_ms ({self.session_timeout_ms})"
            )
        return self

    @property
    def state_topic_name(self) -> str:
        """The state topic: one per consumer group, since the group owns the partitions."""
        return self.state_topic or f"{self.group_id}.state"

    @property
    def minutes_topic_name(self) -> str:
        """The minutes topic: one per consumer group, like the state topic."""
        return self.minutes_topic or f"{self.group_id}.minutes"

    @property
    def joins_topic_name(self) -> str:
        """The joins topic: one per consumer group, like the state topic."""
        return self.joins_topic or f"{self.group_id}.joins"

    @property
    def trends_topic_name(self) -> str:
        """The trends topic: one per consumer group, like the state topic."""
        return self.trends_topic or f"{self.group_id}.trends"


class AnomalySettings(_Frozen):
    """Thresholds of the in-service spike detector (per brand and signal; see the README).

    The Prometheus brand alerts are generated from the same fields (``socialpulse rules``,
    ``socialpulse.app.rules``), so both alert paths agree on every threshold.
    """

    slot_minutes: int = Field(default=15, ge=5, le=60)
    """Resolution of the seasonal baseline: minutes per time-of-day slot; must divide a day."""
    baseline_days: int = Field(default=7, ge=1, le=28)
    """Days back whose same time of day gives the daily baseline (their median)."""
    baseline_weeks: int = Field(default=4, ge=0, le=8)
    """Weeks back whose same time of week gives the weekly baseline (their median, times the
    day-over-week trend)."""
    warmup_days: int = Field(default=7, ge=1, le=28)
    """History a brand needs before it may alert: a week learns the weekly profile too."""
    window_minutes: int = Field(default=5, ge=1, le=60)
    """Every signal compares the totals of the last this many minutes with their baseline."""
    persistence_minutes: int = Field(default=3, ge=1, le=120)
    """A condition must hold this many consecutive minutes before it fires."""
    resolve_minutes: int = Field(default=10, ge=1, le=240)
    """A firing alert resolves after its condition has been clear this many minutes."""
    cooldown_minutes: int = Field(default=60, ge=0, le=1440)
    """After a resolve, the same brand and signal stays quiet this long."""
    threshold: float = Field(default=5.0, gt=0, le=100)
    """Score (deviations from the expected value, in robust standard deviations) that fires."""
    min_relative_spread: float = Field(default=0.1, ge=0, le=1)
    """Least day-to-day variation assumed for a count beyond Poisson noise, relative to its
    expected value."""
    min_ratio_spread: float = Field(default=0.02, ge=0, le=0.5)
    """Least spread assumed for a share (negative share, net sentiment, share of voice)."""
    min_volume: int = Field(default=30, ge=1)
    """Mentions in the window below which a volume spike (brand or platform) never fires."""
    min_volume_lift: float = Field(default=1.0, ge=0)
    """A volume spike must exceed its expected value by this fraction too (1.0: twice)."""
    min_sentiment_mentions: int = Field(default=20, ge=1)
    """Mentions (polar ones for net sentiment, the competitive set's for share of voice) in the
    window below which a share signal is not judged."""
    min_share_lift: float = Field(default=0.5, ge=0)
    """Negative share must exceed its expected value by this fraction too (0.5: 1.5 times)."""
    min_share_delta: float = Field(default=0.1, gt=0, le=1)
    """Least absolute change of negative share or share of voice that fires."""
    min_net_sentiment_drop: float = Field(default=0.2, gt=0, le=2)
    """Least drop of net sentiment (−1..1) that fires."""
    alert_on_positive_surge: bool = False
    """Let a volume spike fire when its mentions are markedly more positive than usual (a
    launch); off: only a neutral or negative surge is news."""
    positive_surge_margin: float = Field(default=0.15, gt=0, le=1)
    """Positive share above its expected value by this much marks a surge as positive."""
    share_of_voice_direction: Literal["down", "up", "both"] = "down"
    """Which way a share-of-voice move alerts."""
    silent_min_expected: float = Field(default=30.0, ge=1)
    """A platform counts as a source of the brand when this many mentions are expected within
    `silent_max_window_minutes`; only such a platform can go silent."""
    silent_max_window_minutes: int = Field(default=60, ge=1, le=240)
    """Longest stretch looked at for a silent source."""
    silent_max_fraction: float = Field(default=0.1, ge=0, lt=1)
    """A source is silent when it delivers at most this fraction of what it should."""
    grace_seconds: float = Field(default=30.0, ge=0, le=3600)
    """A caught-up partition reports a minute closed this long after it ended, so mentions
    arriving late by up to this much are counted in it."""
    max_wait_minutes: int = Field(default=5, ge=1, le=1440)
    """A mentions partition that has reported nothing for this long (its owner down, the
    partition held at a dead letter) no longer holds the detector back: minutes the others
    closed are evaluated without it."""

    @field_validator("slot_minutes")
    @classmethod
    def _slot_divides_day(cls, v: int) -> int:
        if 1440 % v:
            raise ValueError(f"slot_minutes ({v}) must divide 1440, the minutes of a day")
        return v


class TrendSettings(_Frozen):
    """Emerging terms per brand: a recent window of buckets against the buckets before it."""

    enabled: bool = True
    """Count the terms of genuine mentions for trends; false serves no trends (and saves the
    tokenising)."""

    bucket_seconds: int = Field(default=60, ge=10, le=3600)
    """Event-time length of one bucket of term sketches; trends move in these steps."""
    recent_buckets: int = Field(default=5, ge=1, le=120)
    """Buckets in the recent window whose counts are judged (5 × 60 s: the last 5 minutes)."""
    baseline_buckets: int = Field(default=60, ge=1, le=1440)
    """Buckets before the recent window whose mean rate is the term's own baseline; a brand
    reports no trend until it has this much history."""
    min_count: int = Field(default=10, ge=1)
    """Occurrences in the recent window below which a term never trends."""
    min_lift: float = Field(default=3.0, ge=1, le=1000)
    """A trend's recent count must reach this many times its expected count plus the noise
    floor."""
    noise_floor: float = Field(default=3.0, gt=0, le=1000)
    """Pseudo-count added to the expected count, so a brand-new term scores finite."""
    threshold: float = Field(default=5.0, gt=0, le=100)
    """Burst score (count above expectation over the square root of expectation plus the
    noise floor) from which a term trends."""
    top_k: int = Field(default=10, ge=1, le=100)
    """Trends reported per brand, highest score first."""
    languages: tuple[Literal["en", "es", "pt", "fr", "de", "it", "nl"], ...] = (
        "en",
        "es",
        "pt",
        "fr",
        "de",
    )
    """Stop-word lists applied: a mention's own language when it is one of these, else all."""
    sketch_width: int = Field(default=256, ge=16, le=65536)
    """Counters per row of each bucket's count-min sketch (error ≈ e/width of the bucket's
    tokens)."""
    sketch_depth: int = Field(default=3, ge=1, le=16)
    """Rows of each count-min sketch (the error bound holds with probability 1 − e^−depth)."""
    heavy_hitters_lg: int = Field(default=7, ge=3, le=16)
    """log2 of the capacity of each bucket's heavy-hitter sketch: the candidate terms."""
    open_bucket_terms: int = Field(default=4096, ge=16, le=1_000_000)
    """Distinct terms counted exactly in a bucket before they are folded into its sketches."""


class SpamSettings(_Frozen):
    """Bot, near-duplicate and copy-paste campaign heuristics (see the README's signals)."""

    enabled: bool = True
    """Check every matched mention before it counts; false counts every mention as genuine and
    exports no filtered mentions."""
    include_filtered: bool = False
    """Count filtered mentions in sentiment and share of voice as if they were genuine. Either
    way they are in every volume KPI (mentions, potential reach, authors, UGC) and counted in
    `socialpulse_mentions_filtered_total`."""
    campaign_alerts: bool = True
    """Publish an alert event (signal `copy_paste_campaign`) when a brand's mentions form a
    copy-paste campaign, and another when it has left the window."""

    window_seconds: int = Field(default=3600, ge=60, le=86_400)
    """Event-time window in which reposts, near-duplicates and campaigns are looked for."""
    bot_rate_posts: int = Field(default=30, ge=2, le=100_000)
    """Posts by one account within `bot_rate_seconds` that mark it as posting at machine rate
    (`bot_rate`)."""
    bot_rate_seconds: int = Field(default=600, ge=1, le=86_400)
    """Span of the posting-rate check."""
    new_account_max_followers: int = Field(default=10, ge=0)
    """Unverified accounts with at most this many followers count as new (the events carry
    no account age)."""
    new_account_burst_posts: int = Field(default=5, ge=2, le=100_000)
    """Posts by a new account within `bot_rate_seconds` that mark a `new_account_burst`."""
    min_text_chars: int = Field(default=20, ge=1, le=10_000)
    """Normalised texts shorter than this are never reposts or near-duplicates: too short to
    tell a copy from a coincidence ("lol", "thanks @x")."""
    shingle_chars: int = Field(default=5, ge=2, le=16)
    """Characters per shingle of the normalised text compared for near-duplicates."""
    minhash_bands: int = Field(default=8, ge=1, le=64)
    """LSH bands of the MinHash signature; more bands find less similar pairs."""
    minhash_rows: int = Field(default=4, ge=1, le=16)
    """Signature rows per band; bands × rows is the signature length."""
    near_duplicate_similarity: float = Field(default=0.6, gt=0, le=1)
    """Estimated Jaccard similarity of shingles from which two posts are near-duplicates."""
    near_duplicate_min_posts: int = Field(default=3, ge=2, le=100_000)
    """A near-duplicate cluster flags its posts (`near_duplicate`) from this size on."""
    campaign_min_posts: int = Field(default=20, ge=2, le=1_000_000)
    """Posts a near-duplicate cluster needs to be a copy-paste campaign."""
    campaign_min_accounts: int = Field(default=10, ge=1, le=1_000_000)
    """Distinct accounts a near-duplicate cluster needs to be a copy-paste campaign."""
    max_posts: int = Field(default=20_000, ge=100, le=10_000_000)
    """Posts remembered in the window (about 3 kB each with their account); the oldest go
    first beyond it."""
    max_authors: int = Field(default=100_000, ge=100, le=10_000_000)
    """Accounts whose posting times are remembered; the least recent go first beyond it."""

    @model_validator(mode="after")
    def _campaign_at_least_cluster(self) -> SpamSettings:
        if self.campaign_min_posts < self.near_duplicate_min_posts:
            raise ValueError("campaign_min_posts must be at least near_duplicate_min_posts")
        return self


class SentimentSettings(_Frozen):
    """Which scorer scores each language (see the README's Languages and sentiment section)."""

    scorers: dict[LanguageCode, str] = {}
    """Language -> `package.module:ClassName` of a class implementing `Scorer`, built once at
    start-up with no arguments; `en` is the built-in VADER scorer unless named here. Every key
    must be in `languages`; mentions in any other language count as `unscored`."""

    @field_validator("scorers")
    @classmethod
    def _import_paths(cls, v: dict[str, str]) -> dict[str, str]:
        for lang, path in v.items():
            module, _, name = path.partition(":")
            if not module or not name:
                raise ValueError(
                    f"sentiment.scorers.{lang}: {path!r} is not `package.module:ClassName`"
                )
        return v


class AlertSettings(_Frozen):
    """Alert events of the spike detector: their evidence, links and webhook delivery."""

    sample_posts: int = Field(default=3, ge=0, le=20)
    """Sample mentions quoted in an alert event."""
    sample_text_chars: int = Field(default=280, ge=16, le=2000)
    """A sample's text is cut to this many characters (an ellipsis marks the cut)."""
    samples_per_minute: int = Field(default=3, ge=1, le=50)
    """Recent mentions kept per brand, minute and tone (negative or not) as alert samples."""
    top_authors: int = Field(default=5, ge=0, le=50)
    """Authors by reach listed in an alert event."""
    grafana_base_url: str = "http://localhost:3000"
    """Grafana the dashboard link points at (the `socialpulse` brand board)."""
    runbook_base_url: str = "deploy/runbook.md"
    """Where `deploy/runbook.md` is served (a URL in production); a signal's section is
    appended as `#anchor`."""
    dashboard_context_minutes: int = Field(default=60, ge=0, le=10_080)
    """The dashboard link starts this long before the breach began."""
    max_delay_minutes: int = Field(default=30, ge=1, le=10_080)
    """An alert whose minute is older than this when evaluated (history read back at start-up,
    a backfill) changes the detector's state but is not sent."""
    webhook_urls: tuple[str, ...] = ()
    """HTTP(S) endpoints every alert event is POSTed to (none: Kafka only)."""
    webhook_secret: SecretStr | None = None
    """HMAC-SHA256 key of the `X-Socialpulse-Signature` header (a secret: never printed);
    unset: requests are unsigned."""
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    """Longest wait for one webhook request."""
    webhook_max_attempts: int = Field(default=5, ge=1, le=20)
    """Attempts per webhook and event before it is given up (counted, logged)."""
    webhook_backoff_seconds: float = Field(default=0.5, gt=0, le=60)
    """Wait before the second attempt; it doubles after each failure."""
    webhook_max_backoff_seconds: float = Field(default=30.0, gt=0, le=600)
    """Longest wait between attempts."""

    @field_validator("webhook_urls")
    @classmethod
    def _http_urls(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for url in v:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"webhook URL {url!r} must start with http:// or https://")
        return v


class Settings(BaseSettings):
    """Everything the service can be told; see the README's configuration reference."""

    model_config = SettingsConfigDict(
        env_prefix="SOCIALPULSE_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
        use_attribute_docstrings=True,
    )

    kafka: KafkaSettings = KafkaSettings()
    """Kafka connection, topics and group (the `kafka.*` rows)."""
    brands: tuple[BrandSettings, ...] = ()
    """Tracked brands (the brand table); the demo brands when embedded and none are set."""
    anomaly: AnomalySettings = AnomalySettings()
    """Spike detector thresholds (the `anomaly.*` rows)."""
    trends: TrendSettings = TrendSettings()
    """Emerging terms per brand (the `trends.*` rows)."""
    spam: SpamSettings = SpamSettings()
    """Bot, near-duplicate and campaign heuristics (the `spam.*` rows)."""
    alerts: AlertSettings = AlertSettings()
    """Alert events and webhooks (the `alerts.*` rows)."""
    sentiment: SentimentSettings = SentimentSettings()
    """Sentiment scorers per language (the `sentiment.*` rows)."""
    languages: tuple[LanguageCode, ...] = Field(
        default=DEFAULT_LANGUAGES, min_length=1, max_length=MAX_LANGUAGES
    )
    """Languages counted by name in `socialpulse_mentions_by_language` (others count as `other`,
    undetected ones as `unknown`), and the only candidates of language detection; primary
    subtags known to py3langid."""
    language_min_confidence: float = Field(default=DEFAULT_LANGUAGE_MIN_CONFIDENCE, ge=0, le=1)
    """A mention without a `language` field whose detected language has a lower probability
    (over `languages`) is `unknown`."""
    windows: tuple[str, ...] = ("5m", "1h", "24h", "7d")
    """Rolling windows: whole minutes, hours or days (`5m`, `1h`, `7d`)."""
    # CLV = mean order value × purchases per customer in the window × this many windows.
    expected_customer_lifetime_windows: float = Field(default=DEFAULT_LIFETIME_WINDOWS, gt=0)
    """CLV multiplier: expected customer lifetime in windows."""
    # Length of each top-authors list served by the JSON API.
    top_k: int = Field(default=DEFAULT_TOP_K, ge=1, le=1000)
    """Length of each top-authors list."""
    dedup_horizon_seconds: int | None = Field(default=None, ge=60)
    """How long (in event time) event ids are remembered to drop re-sent copies: 60 s up to the
    longest window; unset: the longest window, so every event a window can count is checked. Each
    id held costs about 11 bytes of memory and 16 of state topic (see Duplicates); an event older
    than this is rejected as `late` (dead-letter topic, with the reason), since it could be a copy
    of an event whose id is forgotten: a shorter horizon saves memory but refuses older history."""
    dedup_spill: bool = True
    """Keep the dedup ids of quiet minutes (15 minutes of event time old, no new id for 30 s) in
    temporary files on local disk, not in memory: about 10 bytes of disk and half a byte of
    memory an id, a lookup reading 512 bytes back (see Duplicates). The files are unlinked from
    the start, so a stopped or killed worker leaves none; a restore writes them again from the state
    topic. A disk that refuses a write keeps those ids in memory."""
    dedup_spill_dir: DirectoryPath | None = None
    """Directory of those files; unset: the system's temporary directory (`TMPDIR`). It must be
    on disk: a tmpfs keeps files in memory, so start-up warns when it is one."""
    max_future_seconds: int = Field(default=300, ge=0)
    """How far ahead of the service clock an event may be."""
    max_text_chars: int = Field(default=10_000, ge=1)
    """Longer mention texts are rejected as `oversized`."""
    max_event_bytes: int = Field(default=1_048_576, ge=256)
    """Larger records are rejected as `oversized`."""
    metrics_host: str = "127.0.0.1"
    """Address `/metrics`, `/healthz`, `/readyz` and the JSON API listen on; loopback unless told
    otherwise (the container image sets `0.0.0.0`)."""
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    """Port of the same (0: any free port)."""
    web_config_file: Path | None = None
    """TLS, client certificates and basic auth for that server, in the format of Prometheus'
    `--web.config.file`; see Security."""
    web_probes_open: bool = False
    """Serve `/healthz` and `/readyz` without basic auth (TLS and client certificates still
    apply)."""
    api_top_authors: bool = True
    """Serve `/api/v1/top-authors`, which lists authors' ids and handles; `false` answers 404."""
    demo: bool | None = None
    """Produce demo traffic into the input topics; unset: only when embedded."""
    demo_events_per_second: float = Field(default=200.0, gt=0)
    """Demo traffic rate."""
    summary_interval_seconds: float = Field(default=5.0, gt=0)
    """How often the live summary prints."""
    # /healthz fails once the consume loop has not turned for this long (a hung worker).
    health_stall_seconds: float = Field(default=60.0, ge=5, le=3600)
    """`/healthz` answers 503 once the consume loop has not turned for this long."""
    # /readyz fails once every poll has failed for this long (a codec, credentials, an outage).
    consumer_error_grace_seconds: float = Field(default=30.0, ge=1, le=3600)
    """`/readyz` answers 503 once every poll has failed for this long."""
    # SIGTERM: how long flushing state and committing may take before the process exits.
    shutdown_timeout_seconds: float = Field(default=30.0, ge=1, le=600)
    """On SIGTERM, how long flushing state and committing may take before the process exits
    anyway."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level."""
    # text for a terminal; json or logfmt (one line per notable event) for log pipelines.
    log_format: Literal["text", "json", "logfmt"] = "text"
    """`text` for a terminal; `json` or `logfmt` (one line per notable event) for log pipelines."""

    @field_validator("windows")
    @classmethod
    def _windows_valid(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("at least one window is required")
        for label in v:
            window_seconds(label)
        if len(set(v)) != len(v):
            raise ValueError("windows must be distinct")
        return tuple(sorted(v, key=window_seconds))

    @field_validator("languages")
    @classmethod
    def _languages_distinct(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError("languages must be distinct")
        return v

    @model_validator(mode="after")
    def _dedup_within_windows(self) -> Settings:
        h = self.dedup_horizon_seconds
        if h is not None and h > self.longest_window_seconds:
            raise ValueError(
                f"dedup_horizon_seconds ({h}) is longer than the longest window "
                f"({self.longest_window_seconds} s): events older than the window are late anyway"
            )
        return self

    @model_validator(mode="after")
    def _scorers_configured(self) -> Settings:
        unknown = set(self.sentiment.scorers) - set(self.languages)
        if unknown:
            raise ValueError(
                f"sentiment.scorers names languages not in `languages`: {sorted(unknown)}; "
                "add them to `languages` so their mentions are recognised"
            )
        return self

    @model_validator(mode="after")
    def _brands_consistent(self) -> Settings:
        ids = [b.id for b in self.brands]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"brand ids must be unique; repeated: {sorted(dupes)}")
        known = set(ids)
        for b in self.brands:
            unknown = set(b.competitors) - known
            if unknown:
                raise ValueError(
                    f"brand {b.id!r} names competitors that are not configured brands: "
                    f"{sorted(unknown)}; add them under brands so their mentions are matched"
                )
            if b.id in b.competitors:
                raise ValueError(f"brand {b.id!r} lists itself as a competitor")
        return self

    @property
    def embedded(self) -> bool:
        """True when no Kafka is configured and the service brings its own broker."""
        return self.kafka.bootstrap_servers is None

    @property
    def demo_enabled(self) -> bool:
        """Demo traffic runs by default only on the embedded broker."""
        return self.embedded if self.demo is None else self.demo

    @property
    def window_lengths(self) -> dict[str, int]:
        """Window label to length in seconds, shortest first."""
        return {label: window_seconds(label) for label in self.windows}

    @property
    def longest_window_seconds(self) -> int:
        """The retention horizon of window state."""
        return max(self.window_lengths.values())

    @property
    def dedup_horizon(self) -> int:
        """How long event ids are held, in seconds: events older than this are late."""
        return self.dedup_horizon_seconds or self.longest_window_seconds

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment overrides the config file, which arrives as init arguments."""
        return (env_settings, init_settings, file_secret_settings)


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a YAML or TOML config file into plain data, with an error that names the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(f"cannot read config file {path}: {e.strerror}") from e
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as e:
        raise ValueError(f"config file {path} is not valid {path.suffix[1:].upper()}: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping at the top level")
    return data


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings once at start-up; the only place that reads the environment."""
    if config_file is None and os.environ.get(CONFIG_FILE_ENV):
        config_file = Path(os.environ[CONFIG_FILE_ENV])
    data = read_config_file(config_file) if config_file is not None else {}
    data.update(overrides)
    return Settings(**data)
