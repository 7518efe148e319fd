"""The one-line live summary the service prints every few seconds, for a person at a terminal."""

from __future__ import annotations

from collections.abc import Mapping

from socialpulse.core.kpis import WindowKpis
from socialpulse.core.pipeline import PipelineStats


def summary_line(
    kpis: Mapping[str, Mapping[str, WindowKpis]],
    stats: PipelineStats,
    events_per_second: float,
    lag: int,
    window: str,
) -> str:
    """E.g. ``412 ev/s | 5m: 380 brand mentions +61% =24% -15% | SoV aurora 45% ... | lag 0``.

    The sentiment mix is over the scored mentions; unscored ones (no scorer for their language)
    are counted after it, as ``?12 unscored``, and those the spam heuristics flagged (in the
    volume, in no sentiment) as ``!3 filtered``, when there are any.
    """
    pos = neu = neg = unscored = filtered = 0
    shares = []
    for brand, per_window in kpis.items():
        k = per_window[window]
        pos, neu, neg = pos + k.positive, neu + k.neutral, neg + k.negative
        unscored += k.unscored
        filtered += k.filtered
        sov = "-" if k.share_of_voice is None else f"{k.share_of_voice:.0%}"
        shares.append(f"{brand} {sov}")
    # A mention of two brands counts once per brand here, as it does in the KPIs.
    scored = pos + neu + neg
    total = scored + unscored + filtered
    mix = (
        f"+{pos / scored:.0%} ={neu / scored:.0%} -{neg / scored:.0%}"
        if scored
        else "none scored"
        if total
        else "no mentions yet"
    )
    if unscored:
        mix += f" ?{unscored:,} unscored"
    if filtered:
        mix += f" !{filtered:,} filtered"
    rejected = sum(stats.rejected.values())
    return (
        f"{events_per_second:,.0f} ev/s | {window}: {total:,} brand mentions {mix} | "
        f"SoV {' '.join(shares) or '-'} | rejected {rejected:,} | lag {lag:,}"
    )
