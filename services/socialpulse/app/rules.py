"""The Prometheus brand alerts and their seasonal baselines, generated from the detector's settings.

``python -m socialpulse.app.rules > deploy/prometheus/rules/brand_alerts.yml`` (``make rules``)
writes the file from the defaults; ``socialpulse --config f.yaml rules`` writes it from a
configuration's ``anomaly.*`` thresholds. A test fails when the committed file has drifted from
what the defaults generate, so the in-service detector and the Prometheus alerts never disagree
about a threshold.

The rules mirror the detector where PromQL can (``core/anomaly/rules.py``): the same minimum
volumes, lifts, deltas and noise score (Poisson or binomial spread plus its floor), the same
persistence (``for:``) and resolve delay (``keep_firing_for:``), and no volume alert for a surge
markedly more positive than usual unless ``alert_on_positive_surge``. The baseline is simpler:
the mean (the median of two) of the same time of day a day and a week ago, or, while a week of
history is missing, the one-day average. What PromQL cannot do is left to the detector: the
robust day-to-day spread (the floor ``min_relative_spread`` stands in for it), the weekly trend,
the cooldown and the warm-up.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Final

from socialpulse.settings import AnomalySettings, Settings, window_seconds

# Where the alerts' runbook_url annotations point: the runbook's address plus `#<alert>` in
# lower case (the anchor Markdown renderers give `## <Alert>`). `.invalid` can never resolve:
# deployments pass their own copy's address (`--runbook-url`).
DEFAULT_RUNBOOK_URL: Final = "https://socialpulse.invalid/deploy/runbook.md"

_S: Final = "brand_window:socialpulse_"


def runbook_link(base: str, alert: str) -> str:
    """The runbook section of ``alert`` under the runbook at ``base``."""
    return f"{base}#{alert.lower()}"


def _num(x: float) -> str:
    """A threshold as PromQL reads it: no trailing zeros, no exponent."""
    return f"{x:.6f}".rstrip("0").rstrip(".")


def _window_label(anomaly: AnomalySettings, windows: tuple[str, ...]) -> str:
    """The service window the detector's ``window_minutes`` corresponds to."""
    for label in windows:
        if window_seconds(label) == anomaly.window_minutes * 60:
            return label
    raise ValueError(
        f"anomaly.window_minutes ({anomaly.window_minutes}) matches none of the exported windows "
        f"{list(windows)}: the Prometheus rules compare one exported window with its history"
    )


@dataclass(frozen=True, slots=True)
class _Rule:
    """One rule as it is written out: a recording rule or an alert."""

    name: str
    expr: str
    comment: str
    alert: bool = False
    signal: str = ""
    summary: str = ""
    description: str = ""


def _baselines(w: str) -> list[_Rule]:
    cur = f'{{window="{w}"}}'
    sent = f"{_S}mentions_by_sentiment:sum"

    def avg(sentiment: str = "") -> str:
        """A day's average of the window's mentions of some sentiment classes (all: "")."""
        match = f',sentiment=~"{sentiment}"' if "|" in sentiment else f',sentiment="{sentiment}"'
        return f'avg_over_time({sent}{{window="{w}"{match if sentiment else ""}}}[1d])'

    def seasonal(name: str, fallback: str) -> str:
        series = f"{_S}{name}{cur}"
        return f"0.5 * ({series} offset 1d + {series} offset 1w)\nor\n{_S}{fallback}"

    def avg_share(numerator: str) -> str:
        """A class's share of the scored mentions (unscored ones are in no share of sentiment)."""
        scored = avg("positive|neutral|negative")
        return (
            f"sum by (brand, window) ({avg(numerator)})\n/\n(sum by (brand, window) ({scored}) > 0)"
        )

    net_avg = (
        f"sum by (brand, window) (\n    {avg('positive')}\n  or\n    -{avg('negative')}\n)\n/\n"
        f"(sum by (brand, window) ({avg('positive|negative')}) > 0)"
    )
    return [
        _Rule(
            f"{_S}mentions:avg_1d",
            f"avg_over_time({_S}mentions:sum{cur}[1d])",
            "The day's average of the window's mentions: the baseline while a week is missing.",
        ),
        _Rule(
            f"{_S}negative_share:ratio_avg_1d",
            avg_share("negative"),
            "Negative / scored mentions over the last day (sums first, then the ratio).",
        ),
        _Rule(
            f"{_S}positive_share:ratio_avg_1d",
            avg_share("positive"),
            "Positive / scored mentions over the last day: tells a launch from a crisis.",
        ),
        _Rule(
            f"{_S}net_sentiment:ratio_avg_1d",
            net_avg,
            "(positive - negative) / (positive + negative) over the last day.",
        ),
        _Rule(
            f"{_S}mentions:baseline",
            seasonal("mentions:sum", "mentions:avg_1d"),
            "Same time of day a day and a week ago (their mean, the median of two), else the "
            "day's average.",
        ),
        _Rule(
            f"{_S}negative_share:ratio_baseline",
            seasonal("negative_share:ratio", "negative_share:ratio_avg_1d"),
            "The negative share's seasonal baseline, as for mentions.",
        ),
        _Rule(
            f"{_S}positive_share:ratio_baseline",
            seasonal("positive_share:ratio", "positive_share:ratio_avg_1d"),
            "The positive share's seasonal baseline, as for mentions.",
        ),
        _Rule(
            f"{_S}net_sentiment:ratio_baseline",
            seasonal("net_sentiment:ratio", "net_sentiment:ratio_avg_1d"),
            "The net sentiment's seasonal baseline, as for mentions.",
        ),
    ]


def _alerts(s: AnomalySettings, w: str) -> list[_Rule]:
    cur = f'{{window="{w}"}}'
    mentions = f"{_S}mentions:sum{cur}"
    neg, neg_b = f"{_S}negative_share:ratio{cur}", f"{_S}negative_share:ratio_baseline"
    net, net_b = f"{_S}net_sentiment:ratio{cur}", f"{_S}net_sentiment:ratio_baseline"
    vol_b = f"{_S}mentions:baseline"
    polar = (
        f"sum by (brand, window) ({_S}mentions_by_sentiment:sum"
        f'{{window="{w}",sentiment=~"positive|negative"}})'
    )
    # Shares of sentiment and their noise are over the scored mentions, never the unscored ones.
    scored = (
        f"sum by (brand, window) ({_S}mentions_by_sentiment:sum"
        f'{{window="{w}",sentiment=~"positive|neutral|negative"}})'
    )
    floor2 = _num(s.min_ratio_spread**2)
    spread = _num(s.min_relative_spread)
    k = _num(s.threshold)
    negative = (
        f"{neg}\n  >= {_num(1 + s.min_share_lift)} * {neg_b}\n"
        f"and\n{neg}\n  >= {neg_b} + {_num(s.min_share_delta)}\n"
        f"and\n{neg}\n  >= {neg_b}\n"
        f"     + {k} * sqrt({neg_b} * (1 - {neg_b}) / ({scored} > 0) + {floor2})\n"
        f"and on (brand, window)\n{scored} >= {s.min_sentiment_mentions}"
    )
    net_drop = (
        f"{net}\n  <= {net_b} - {_num(s.min_net_sentiment_drop)}\n"
        f"and\n{net}\n  <= {net_b}\n"
        f"     - {k} * sqrt((1 - {net_b} ^ 2) / ({polar} > 0) + {floor2})\n"
        f"and on (brand, window)\n{polar} >= {s.min_sentiment_mentions}"
    )
    volume = (
        f"{mentions}\n  >= {_num(1 + s.min_volume_lift)} * {vol_b}\n"
        f"and\n{mentions}\n  >= {vol_b}\n"
        f"     + {k} * sqrt(clamp_min({vol_b}, 1) + ({spread} * {vol_b}) ^ 2)\n"
        f"and\n{mentions} >= {s.min_volume}"
    )
    volume_comment = "and enough of them."
    if not s.alert_on_positive_surge:
        volume += (
            f"\nunless on (brand, window)\n{_S}positive_share:ratio{cur}\n"
            f"  >= {_S}positive_share:ratio_baseline + {_num(s.positive_surge_margin)}"
        )
        volume_comment = (
            f"and enough of them; not when the positive share is {_num(s.positive_surge_margin)} "
            "above its baseline (a launch is not a crisis)."
        )
    lift = _num(1 + s.min_share_lift)
    return [
        _Rule(
            "SocialpulseNegativeSentimentSpike",
            negative,
            f"The window's negative share is {lift} times its baseline, "
            f"{_num(s.min_share_delta)} above it and {k} spreads (binomial, at least "
            f"{_num(s.min_ratio_spread)}) above it, with at least {s.min_sentiment_mentions} "
            "scored mentions.",
            alert=True,
            signal="negative_share",
            summary="Negative sentiment spike for {{ $labels.brand }}",
            description=(
                "{{ $value | humanizePercentage }} of {{ $labels.brand }}'s scored mentions in "
                f"the last {w} are negative, far above the usual share at this time of day."
            ),
        ),
        _Rule(
            "SocialpulseNetSentimentDrop",
            net_drop,
            f"The window's net sentiment is {_num(s.min_net_sentiment_drop)} and {k} spreads "
            f"below its baseline, with at least {s.min_sentiment_mentions} polar mentions.",
            alert=True,
            signal="net_sentiment",
            summary="Net sentiment dropping for {{ $labels.brand }}",
            description=(
                "{{ $labels.brand }}'s net sentiment over the last "
                f"{w} is {{{{ $value | humanizePercentage }}}}, far below its usual value at "
                "this time of day."
            ),
        ),
        _Rule(
            "SocialpulseMentionVolumeSpike",
            volume,
            f"The window's mentions are {_num(1 + s.min_volume_lift)} times their baseline and "
            f"{k} spreads (Poisson, plus {_num(s.min_relative_spread)} of the baseline) above "
            f"it, {volume_comment}",
            alert=True,
            signal="mention_volume",
            summary="Mention volume spike for {{ $labels.brand }}",
            description=(
                f"{{{{ $labels.brand }}}} had {{{{ $value }}}} mentions in the last {w}, far "
                "more than usual at this time of day."
            ),
        ),
    ]


def _block(text: str, indent: int) -> list[str]:
    pad = " " * indent
    return [pad + line if line else "" for line in text.splitlines()]


def _comment(text: str, indent: int, width: int = 100) -> list[str]:
    pad = " " * indent + "# "
    lines, line = [], ""
    for word in text.split():
        if line and len(pad) + len(line) + 1 + len(word) > width:
            lines.append(pad + line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, pad + line] if line else lines


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


HEADER: Final = """\
# GENERATED by `make rules` (python -m socialpulse.app.rules) from the spike detector's defaults
# (socialpulse.settings.AnomalySettings): do not edit. With other thresholds:
#   socialpulse --config your.yaml rules [--runbook-url URL] > brand_alerts.yml
#
# Seasonal baselines of the {w} window and the brand alerts on them. Brand alerts carry
# `team: social`, the `brand` label and the detector's `signal` name; Alertmanager groups them by
# alert and brand. They read recording.yml's sums and ratios: load both files together.
#
# Thresholds: {thresholds}.
"""


def brand_rules(
    anomaly: AnomalySettings,
    windows: tuple[str, ...],
    runbook_url: str = DEFAULT_RUNBOOK_URL,
) -> str:
    """The rule file: the baselines' recording rules, then the brand alerts."""
    w = _window_label(anomaly, windows)
    thresholds = ", ".join(
        f"{name}={getattr(anomaly, name)}"
        for name in (
            "window_minutes",
            "persistence_minutes",
            "resolve_minutes",
            "threshold",
            "min_relative_spread",
            "min_ratio_spread",
            "min_volume",
            "min_volume_lift",
            "min_sentiment_mentions",
            "min_share_lift",
            "min_share_delta",
            "min_net_sentiment_drop",
            "alert_on_positive_surge",
            "positive_surge_margin",
        )
    )
    out = HEADER.format(w=w, thresholds=thresholds).splitlines()
    out = [*out[:-1], *_comment(out[-1][2:], 0)]
    out += ["groups:", "  - name: socialpulse_brand_baselines", "    rules:"]
    for r in _baselines(w):
        out += _comment(r.comment, 6)
        out += [f"      - record: {r.name}", "        expr: |", *_block(r.expr, 10)]
    out += ["", "  - name: socialpulse_brand_alerts", "    rules:"]
    for i, r in enumerate(_alerts(anomaly, w)):
        out += [""] if i else []
        out += _comment(r.comment, 6)
        out += [
            f"      - alert: {r.name}",
            "        expr: |",
            *_block(r.expr, 10),
            f"        for: {anomaly.persistence_minutes}m",
            f"        keep_firing_for: {anomaly.resolve_minutes}m",
            "        labels:",
            "          severity: warning",
            "          team: social",
            f"          signal: {r.signal}",
            "        annotations:",
            f"          summary: {_quote(r.summary)}",
            f"          description: {_quote(r.description)}",
            f"          runbook_url: {runbook_link(runbook_url, r.name)}",
        ]
    return "\n".join(out) + "\n"


def default_rules(runbook_url: str = DEFAULT_RUNBOOK_URL) -> str:
    """The file the defaults generate (the one committed under deploy/prometheus/rules/)."""
    windows: tuple[str, ...] = Settings.model_fields["windows"].default
    return brand_rules(AnomalySettings(), windows, runbook_url)


def main(argv: list[str]) -> int:
    """Print the rule file of the default thresholds (``make rules``)."""
    parser = argparse.ArgumentParser(prog="python -m socialpulse.app.rules")
    parser.add_argument("--runbook-url", default=DEFAULT_RUNBOOK_URL)
    sys.stdout.write(default_rules(parser.parse_args(argv).runbook_url))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
