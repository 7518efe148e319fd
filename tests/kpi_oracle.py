"""A brute-force KPI oracle for tests: every KPI recomputed from the raw events, the slow way.

It restates the README's KPI reference on plain dicts, without the service's code: brand matches
are stated by the test per mention, sentiment comes from vaderSentiment directly (English only:
a mention in any other language is ``unscored``), the language from the record's ``language``
field's primary subtag or else from py3langid directly over ``LANGUAGES``, and window
membership is the documented rule (an event is in window W when its minute is one of the W/60
minutes ending in the minute of ``now``, or later; a window longer than an hour starts at the
whole hour its first minute falls in). Keys are the JSON API's names.

With the spam heuristics on (``judge_spam``), which mentions are filtered comes from
``spam_oracle`` (the core signals stage run per input partition, as the fault oracle does: the
heuristics are not restated), and the README's rule for them is restated here: a filtered
mention counts in every volume KPI, in no sentiment class, compound sum or mean, and in no
share of voice (the ``mentions`` basis counts genuine mentions, the ``reach`` basis the
followers of authors with at least one genuine mention).
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from py3langid.langid import MODEL_FILE, LanguageIdentifier
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from socialpulse.core.events import INTERACTION_TYPES
from socialpulse.settings import Settings
from spam_oracle import Verdicts, spam_verdicts

ENGAGEMENT = ("like", "comment", "share", "save", "link_click")
TYPES = INTERACTION_TYPES  # the contract's list; the oracle restates what is done with them
KINDS = ("post", "reply", "share", "comment")
BASES = ("mentions", "reach", "engagement", "positive", "negative")
_VADER = SentimentIntensityAnalyzer()
# The service's default languages and detection threshold, restated.
LANGUAGES = ("en", "es", "pt", "fr", "de", "it", "ja")
MIN_CONFIDENCE = 0.5
_LANGID = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
_LANGID.set_languages(list(LANGUAGES))


def language(record: Mapping[str, Any]) -> str:
    """The record's language: its field's primary subtag, else detected (``unknown`` if unsure)."""
    tag = record.get("language")
    if tag is not None:
        subtag = str(tag).strip().replace("_", "-").split("-")[0].lower()
        return "unknown" if subtag in ("", "und") else subtag
    found, probability = _LANGID.classify(record["text"])
    return str(found) if probability >= MIN_CONFIDENCE else "unknown"


def language_label(lang: str) -> str:
    return lang if lang in LANGUAGES or lang == "unknown" else "other"


@dataclass(frozen=True)
class OracleBrand:
    id: str
    handles: tuple[str, ...] = ()
    competitors: tuple[str, ...] = ()
    followers: int | None = None
    lifetime: float = 12.0


@dataclass
class OracleMention:
    record: dict[str, Any]
    # brand -> tagged, as the test states it
    matches: dict[str, bool] = field(default_factory=dict)
    # Where the broker put it, for the spam verdicts (``Oracle.judge_spam``).
    partition: int = 0
    offset: int = 0


def ts_of(record: Mapping[str, Any]) -> float:
    return datetime.fromisoformat(str(record["created_at"]).replace("Z", "+00:00")).timestamp()


def minute(ts: float) -> int:
    return int(ts // 60)


def first_minute(now: float, length: int) -> int:
    first = minute(now) - length // 60 + 1
    return first - first % 60 if length > 3600 else first


def in_window(ts: float, now: float, length: int) -> bool:
    return minute(ts) >= first_minute(now, length)


def accepted(ts: float, now: float, horizon: int, max_future: float = 300) -> bool:
    return ts <= now + max_future and in_window(ts, now, horizon)


def _name(s: str) -> str:
    return s.lower().removeprefix("@")


def _ratio(a: float, b: float | None) -> float | None:
    return a / b if b else None


def _influence(followers: int, verified: bool, engagement: int) -> float:
    return 100 * (
        0.6 * min(1.0, math.log10(1 + followers) / 7)
        + 0.1 * verified
        + 0.3 * min(1.0, math.log10(1 + engagement) / 4)
    )


def compound(text: str) -> float:
    return float(_VADER.polarity_scores(text)["compound"])


def _label(c: float) -> str:
    return "positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral"


class Oracle:
    """KPIs of every (brand, window) at ``now`` from the events given."""

    def __init__(
        self,
        brands: Sequence[OracleBrand],
        windows: Mapping[str, int],
        mentions: Sequence[OracleMention],
        interactions: Sequence[dict[str, Any]],
        now: float,
    ) -> None:
        self.brands = {b.id: b for b in brands}
        self.windows = dict(windows)
        self.now = now
        horizon = max(windows.values())
        self.horizon = horizon
        self.mentions = [m for m in mentions if accepted(ts_of(m.record), now, horizon)]
        self.interactions = [
            i
            for i in interactions
            if i["brand"] in self.brands and accepted(ts_of(i), now, horizon)
        ]
        # Event ids of the mentions the spam heuristics filtered: none until ``judge_spam``.
        self.filtered: dict[str, str] = {}

    def judge_spam(self, settings: Settings) -> Verdicts:
        """Judge the held mentions with the service's ``settings`` (brands, ``spam.*``).

        Only the mentions the service accepts are judged; from now on the filtered ones are
        volume only. Returns the verdicts, with the filtered counts per brand and reason.
        """
        records = [(m.partition, m.offset, json.dumps(m.record).encode()) for m in self.mentions]
        verdicts = spam_verdicts(records, settings)
        self.filtered = verdicts.reasons
        return verdicts

    def _owned(self, brand: str, handle: str) -> bool:
        return _name(handle) in {_name(h) for h in self.brands[brand].handles}

    def _brand_account(self, brand: str, user: str) -> bool:
        b = self.brands[brand]
        return _name(user) in {_name(h) for h in b.handles} | {b.id}

    def _posts(self, brand: str) -> dict[str, tuple[str, bool]]:
        """Mention id -> (author id, is UGC) of every held mention of ``brand``."""
        out = {}
        for m in self.mentions:
            if brand in m.matches:
                r = m.record
                owned = self._owned(brand, r["author"]["handle"])
                out[r["event_id"]] = (r["author"]["id"], not owned and bool(r.get("has_media")))
        return out

    def base(self, brand: str, window: str) -> dict[str, Any]:
        """Counts of one brand and window, before share of voice."""
        now, length = self.now, self.windows[window]
        k: dict[str, Any] = {}
        ms = [
            m
            for m in self.mentions
            if brand in m.matches and in_window(ts_of(m.record), now, length)
        ]
        by_platform: dict[str, int] = defaultdict(int)
        by_kind = dict.fromkeys(KINDS, 0)
        sentiment = {"positive": 0, "neutral": 0, "negative": 0, "unscored": 0}
        by_language: dict[str, int] = defaultdict(int)
        authors: dict[str, dict[str, Any]] = {}
        csum = 0.0
        tagged = ugc = filtered = 0
        voiced: set[str] = set()  # authors with a genuine mention
        for m in ms:
            r = m.record
            by_platform[r["platform"]] += 1
            by_kind[r["kind"]] += 1
            lang = language(r)
            by_language[language_label(lang)] += 1
            if r["event_id"] in self.filtered:
                filtered += 1
            elif lang == "en":
                voiced.add(r["author"]["id"])
                c = compound(r["text"])
                csum += c
                sentiment[_label(c)] += 1
            else:
                voiced.add(r["author"]["id"])
                sentiment["unscored"] += 1
            tagged += m.matches[brand]
            a = r["author"]
            t = authors.setdefault(
                a["id"], {"handle": a["handle"], "followers": 0, "verified": False, "mentions": 0}
            )
            t["followers"] = max(t["followers"], a["followers"])
            t["verified"] = t["verified"] or bool(a.get("verified"))
            t["mentions"] += 1
            if not self._owned(brand, a["handle"]) and r.get("has_media"):
                ugc += 1
        owned_posts = sum(
            1
            for m in self.mentions
            if self._owned(brand, m.record["author"]["handle"])
            and in_window(ts_of(m.record), now, length)
        )
        mentions = len(ms)
        k["mentions"] = mentions
        k["mentions_by_platform"] = dict(sorted(by_platform.items()))
        k["mentions_by_kind"] = by_kind
        k["mentions_by_sentiment"] = sentiment
        k["mentions_by_language"] = dict(sorted(by_language.items()))
        k["mentions_tagged"] = tagged
        k["mentions_untagged"] = mentions - tagged
        k["sentiment_compound_sum"] = csum
        k["potential_reach"] = sum(t["followers"] for t in authors.values())
        k["unique_authors"] = len(authors)
        k["owned_posts"] = owned_posts
        k["ugc_mentions"] = ugc

        its = [
            i for i in self.interactions if i["brand"] == brand and in_window(ts_of(i), now, length)
        ]
        counts = dict.fromkeys(TYPES, 0)
        for i in its:
            counts[i["type"]] += 1
        k["interactions"] = counts
        k["impressions"] = counts["impression"]
        engagements = sum(counts[t] for t in ENGAGEMENT)
        k["engagements"] = engagements
        k["reach"] = len({i["user_id"] for i in its if i["type"] == "impression"})

        def val(i: Mapping[str, Any], name: str) -> Any:
            return (i.get("value") or {}).get(name)

        social = [i for i in its if i["type"] == "session" and val(i, "referred_from_social")]
        k["sessions"] = len(social)
        k["sessions_bounced"] = sum(1 for i in social if val(i, "bounced"))
        k["session_seconds_sum"] = sum(val(i, "session_seconds") for i in social)
        views = [i for i in its if i["type"] == "video_view"]
        k["video_watch_seconds_sum"] = sum(val(i, "watch_seconds") for i in views)
        k["video_views_completed"] = sum(
            1
            for i in views
            if val(i, "video_seconds") is not None
            and val(i, "watch_seconds") >= 0.95 * val(i, "video_seconds")
        )
        k["survey_responses_satisfied"] = sum(
            1 for i in its if i["type"] == "survey_response" and val(i, "rating") >= 4
        )
        purchases = [i for i in its if i["type"] == "purchase"]
        k["purchase_value_sum"] = sum(val(i, "order_value") for i in purchases)
        k["purchasing_customers"] = len({val(i, "customer_id") or i["user_id"] for i in purchases})

        # Engagement joined to the mention it was on (any held mention of the brand).
        posts = self._posts(brand)
        received: dict[str, int] = defaultdict(int)
        ugc_eng = 0
        for i in its:
            if i["type"] in ENGAGEMENT and i.get("post_id") in posts:
                author, is_ugc = posts[i["post_id"]]
                received[author] += 1
                ugc_eng += is_ugc
        k["ugc_engagements"] = ugc_eng

        start = first_minute(now, length) * 60
        snaps = sorted(
            (ts_of(i), val(i, "followers"))
            for i in self.interactions
            if i["brand"] == brand and i["type"] == "account_snapshot"
        )
        at_start = [f for t, f in snaps if t <= start]
        k["followers_at_window_start"] = at_start[-1] if at_start else self.brands[brand].followers

        dms = [
            i for i in self.interactions if i["brand"] == brand and i["type"] == "direct_message"
        ]
        opened: dict[str, float] = {}
        replied: dict[str, float] = {}
        for i in dms:
            at, to = ts_of(i), val(i, "replies_to")
            by_brand = self._brand_account(brand, i["user_id"])
            if by_brand and to is not None:
                replied[to] = min(replied.get(to, at), at)
            elif not by_brand and to is None:
                opened[i["event_id"]] = min(opened.get(i["event_id"], at), at)
        responses = [
            max(0.0, replied[d] - opened[d])
            for d in replied
            if d in opened and in_window(replied[d], now, length)
        ]

        pos, neg = sentiment["positive"], sentiment["negative"]
        n = counts
        scored = mentions - sentiment["unscored"] - filtered
        k["sentiment_compound_mean"] = _ratio(csum, scored)
        k["engagement_rate"] = _ratio(engagements, k["reach"])
        k["engagement_rate_by_impressions"] = _ratio(engagements, n["impression"])
        k["conversation_comments_per_post"] = _ratio(n["comment"], owned_posts)
        k["amplification_shares_per_post"] = _ratio(n["share"], owned_posts)
        k["click_through_rate"] = _ratio(n["link_click"], n["impression"])
        k["conversion_rate"] = _ratio(n["conversion"], n["link_click"])
        k["bounce_rate"] = _ratio(k["sessions_bounced"], k["sessions"])
        k["session_seconds_mean"] = _ratio(k["session_seconds_sum"], k["sessions"])
        k["follower_growth_rate"] = _ratio(
            n["follow"] - n["unfollow"], k["followers_at_window_start"]
        )
        k["net_sentiment"] = _ratio(pos - neg, pos + neg)
        k["passion_mentions_per_author"] = _ratio(mentions, len(authors))
        k["video_watch_seconds_mean"] = _ratio(k["video_watch_seconds_sum"], n["video_view"])
        k["video_completion_rate"] = _ratio(k["video_views_completed"], n["video_view"])
        k["csat"] = _ratio(k["survey_responses_satisfied"], n["survey_response"])
        customers = k["purchasing_customers"]
        k["customer_lifetime_value"] = (
            k["purchase_value_sum"]
            / n["purchase"]
            * (n["purchase"] / customers)
            * self.brands[brand].lifetime
            if n["purchase"]
            else None
        )
        k["dm_first_response_seconds_median"] = statistics.median(responses) if responses else None
        for name in (
            "engagement_rate",
            "engagement_rate_by_impressions",
            "click_through_rate",
            "conversion_rate",
            "bounce_rate",
            "follower_growth_rate",
            "net_sentiment",
            "video_completion_rate",
            "csat",
        ):
            k[f"{name}_percent"] = None if k[name] is None else 100 * k[name]
        k["share_of_voice_base"] = {
            "mentions": mentions - filtered,
            "reach": sum(t["followers"] for a, t in authors.items() if a in voiced),
            "engagement": engagements,
            "positive": pos,
            "negative": neg,
        }
        # Authors for the top lists; the brand's own accounts are not ranked.
        k["_authors"] = [
            {
                "author_id": a,
                "handle": t["handle"],
                "followers": t["followers"],
                "verified": t["verified"],
                "mentions": t["mentions"],
                "engagement_received": received.get(a, 0),
                "influence": _influence(t["followers"], t["verified"], received.get(a, 0)),
            }
            for a, t in sorted(authors.items())
            if not self._owned(brand, t["handle"])
        ]
        return k

    def kpis(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(brand, window) -> every KPI, as the JSON API names them."""
        base = {(b, w): self.base(b, w) for b in self.brands for w in self.windows}
        for (b, w), k in base.items():
            group = (b, *self.brands[b].competitors)
            total = {x: sum(base[(g, w)]["share_of_voice_base"][x] for g in group) for x in BASES}
            k["share_of_voice_set_base"] = total
            share = {x: _ratio(k["share_of_voice_base"][x], total[x]) for x in BASES}
            k["share_of_voice"] = share
            k["share_of_voice_percent"] = {
                x: None if v is None else 100 * v for x, v in share.items()
            }
        return base

    @staticmethod
    def top(k: Mapping[str, Any], n: int) -> dict[str, list[dict[str, Any]]]:
        """The top-n lists of one (brand, window), ties to the smaller author id."""
        authors = k["_authors"]
        return {
            "most_influential": sorted(authors, key=lambda a: -a["influence"])[:n],
            "most_engaged": sorted(authors, key=lambda a: -a["engagement_received"])[:n],
            "highest_reach": sorted(authors, key=lambda a: -a["followers"])[:n],
        }


# KPIs that depend on the reach sketch: compared with a tolerance.
SKETCHED = frozenset({"reach", "engagement_rate", "engagement_rate_percent"})


def assert_kpis_equal(got: Mapping[str, Any], expected: Mapping[str, Any], where: str) -> None:
    """Every key of ``expected`` (but ``_authors``) equals ``got``'s; floats approximately."""
    missing = set(expected) - {"_authors"} - set(got)
    assert not missing, (where, missing)
    for key, want in expected.items():
        if key == "_authors":
            continue
        have = got[key]
        rel = 0.02 if key in SKETCHED else 1e-9
        assert _close(have, want, rel), (where, key, have, want)


def _close(have: Any, want: Any, rel: float) -> bool:
    if isinstance(want, dict):
        return (
            isinstance(have, dict)
            and set(have) == set(want)
            and all(_close(have[x], want[x], rel) for x in want)
        )
    if want is None or have is None:
        return have is None and want is None
    if isinstance(want, bool) or isinstance(want, str):
        return bool(have == want)
    return math.isclose(float(have), float(want), rel_tol=rel, abs_tol=1e-9)
