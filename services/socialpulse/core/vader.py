"""vader: vaderSentiment 3.3.2's ``polarity_scores`` rules, same results, linear time.

The stock code rebuilds a lower-cased copy of the whole text for every sentiment word and, when
the text holds "but", searches the score list from its start for every word, so a long post
costs quadratic time (500 × 😍 takes 130 ms of CPU; see the README). This module applies the
same rules, in the same order and with the same float operations, to a text lower-cased once,
and replays the "but" rule with a heap per value. The lexicon, emoji descriptions, booster words,
negations and idioms are read from the installed ``vaderSentiment`` package itself, never copied.

Quirks of 3.3.2 kept on purpose because they change scores:

* an emoji becomes its description, glued to the character after it ("😀x" → "grinning facex");
* ALL-CAPS words weigh more only when the text mixes cased and uncased tokens, and the bonus is
  *subtracted* from a zero valence (a "no" that negates its neighbour);
* "no" before a lexicon word scores 0 itself, and flips words up to three after it;
* the three-words-back negation test reads ``(never and so/this) or (previous is so/this)``, so
  any "so"/"this" right before a word multiplies it by 1.25 when the word has three predecessors
  not in the lexicon;
* idioms ("the shit", "kiss of death", ...) and "kind of"/"sort of"/"just enough" are only
  looked at when the third word back is not in the lexicon; "badass" as one word never matches;
* the "but" rule looks each score up by *value* (``list.index``), so of two equal scores the
  first one is scaled again and the later one is left alone; replayed exactly below;
* the sum of scores uses ``sum()``, the positive and negative sums a plain ``+=`` loop, and
  pos/neu/neg round to 3 decimals, compound to 4.
"""

from __future__ import annotations

import heapq
import math
import string
from typing import Final

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    C_INCR,
    N_SCALAR,
    NEGATE,
    SPECIAL_CASES,
    SentimentIntensityAnalyzer,
)

Scores = tuple[float, float, float, float]
"""(compound, pos, neu, neg), rounded as ``polarity_scores`` rounds them."""

_PUNCT: Final = string.punctuation
_NEGATE: Final = frozenset(NEGATE)
_SO_THIS: Final = ("so", "this")
_ZERO: Final[Scores] = (0.0, 0.0, 0.0, 0.0)
# Every word of a multi-word idiom or booster. Each sequence the idiom check builds holds the
# word one or two back or the one after, so without one of those three in here nothing matches
# (words never hold a space: split() removes whitespace and lower() never makes one).
_IDIOM_WORDS: Final = frozenset(
    w for key in (*SPECIAL_CASES, *BOOSTER_DICT) if " " in key for w in key.split()
)


def _negated(word: str) -> bool:
    """``negated([word])`` of 3.3.2 for one lower-cased word."""
    return word in _NEGATE or "n't" in word


class VaderRules:
    """The rules of ``SentimentIntensityAnalyzer.polarity_scores`` over its own lexicons."""

    def __init__(self, analyzer: SentimentIntensityAnalyzer | None = None) -> None:
        vader = analyzer if analyzer is not None else SentimentIntensityAnalyzer()
        self._lexicon: dict[str, float] = vader.lexicon
        emojis: dict[str, str] = vader.emojis
        # 3.3.2 tests one character at a time, so only one-character keys can ever match. A
        # space before every description instead of "unless one precedes" only adds
        # whitespace, which splitting into words ignores.
        single = {c: " " + d for c, d in emojis.items() if len(c) == 1}
        self._emoji_table = str.maketrans(single)
        self._ascii_has_emoji = any(c.isascii() for c in single)

    def scores(self, text: str) -> Scores:
        """``polarity_scores(text)`` as (compound, pos, neu, neg)."""
        if not text.isascii() or self._ascii_has_emoji:
            text = text.translate(self._emoji_table)
        words = [st if len(st := t.strip(_PUNCT)) > 2 else t for t in text.split()]
        n = len(words)
        if n == 0:
            return _ZERO
        lower = [w.lower() for w in words]
        lexicon = self._lexicon
        caps = sum(map(str.isupper, words))
        cap_diff = 0 < caps < n

        positions: list[int] = []
        values: list[float] = []
        for i in [i for i, lw in enumerate(lower) if lw in lexicon]:
            lw = lower[i]
            if lw in BOOSTER_DICT:
                continue
            base = lexicon[lw]
            if lw == "kind" and i < n - 1 and lower[i + 1] == "of":
                continue
            valence = base
            if lw == "no" and i != n - 1 and lower[i + 1] in lexicon:
                valence = 0.0
            if (
                (i > 0 and lower[i - 1] == "no")
                or (i > 1 and lower[i - 2] == "no")
                or (i > 2 and lower[i - 3] == "no" and lower[i - 1] in ("or", "nor"))
            ):
                valence = base * N_SCALAR
            if cap_diff and words[i].isupper():
                if valence > 0:
                    valence += C_INCR
                else:
                    valence -= C_INCR
            if i > 0 and lower[i - 1] not in lexicon:
                p1 = lower[i - 1]
                s = _scalar(words[i - 1], p1, valence, cap_diff) if p1 in BOOSTER_DICT else 0.0
                valence = valence + s
                if _negated(p1):
                    valence = valence * N_SCALAR
            if i > 1 and lower[i - 2] not in lexicon:
                p1, p2 = lower[i - 1], lower[i - 2]
                s = _scalar(words[i - 2], p2, valence, cap_diff) if p2 in BOOSTER_DICT else 0.0
                if s != 0:
                    s = s * 0.95
                valence = valence + s
                if p2 == "never" and p1 in _SO_THIS:
                    valence = valence * 1.25
                elif p2 == "without" and p1 == "doubt":
                    pass
                elif _negated(p2):
                    valence = valence * N_SCALAR
            if i > 2 and lower[i - 3] not in lexicon:
                p1, p2, p3 = lower[i - 1], lower[i - 2], lower[i - 3]
                s = _scalar(words[i - 3], p3, valence, cap_diff) if p3 in BOOSTER_DICT else 0.0
                if s != 0:
                    s = s * 0.9
                valence = valence + s
                if (p3 == "never" and p2 in _SO_THIS) or p1 in _SO_THIS:
                    valence = valence * 1.25
                elif p3 == "without" and (p2 == "doubt" or p1 == "doubt"):
                    pass
                elif _negated(p3):
                    valence = valence * N_SCALAR
                if (
                    p1 in _IDIOM_WORDS
                    or p2 in _IDIOM_WORDS
                    or (i < n - 1 and lower[i + 1] in _IDIOM_WORDS)
                ):
                    valence = _special_idioms(valence, lower, i)
            if i > 0 and lower[i - 1] == "least":  # "least" is not in the lexicon
                if i == 1 or (lower[i - 2] != "at" and lower[i - 2] != "very"):
                    valence = valence * N_SCALAR
            if valence != 0:
                positions.append(i)
                values.append(valence)

        if "but" in lower:
            _but(positions, values, lower.index("but"))
        return _score_valence(values, n, text)


def _scalar(word: str, lower: str, valence: float, cap_diff: bool) -> float:
    """``scalar_inc_dec``: a booster's push on the valence, with its ALL-CAPS bonus."""
    scalar = 0.0
    if lower in BOOSTER_DICT:
        scalar = BOOSTER_DICT[lower]
        if valence < 0:
            scalar *= -1
        if word.isupper() and cap_diff:
            if valence > 0:
                scalar += C_INCR
            else:
                scalar -= C_INCR
    return scalar


def _special_idioms(valence: float, lower: list[str], i: int) -> float:
    """``_special_idioms_check``: idioms around word ``i`` (which has three predecessors)."""
    w3, w2, w1, w0 = lower[i - 3], lower[i - 2], lower[i - 1], lower[i]
    onezero = f"{w1} {w0}"
    twoonezero = f"{w2} {w1} {w0}"
    twoone = f"{w2} {w1}"
    threetwoone = f"{w3} {w2} {w1}"
    threetwo = f"{w3} {w2}"
    for seq in (onezero, twoonezero, twoone, threetwoone, threetwo):
        if seq in SPECIAL_CASES:
            valence = SPECIAL_CASES[seq]
            break
    n = len(lower)
    if n - 1 > i:
        zeroone = f"{w0} {lower[i + 1]}"
        if zeroone in SPECIAL_CASES:
            valence = SPECIAL_CASES[zeroone]
    if n - 1 > i + 1:
        zeroonetwo = f"{w0} {lower[i + 1]} {lower[i + 2]}"
        if zeroonetwo in SPECIAL_CASES:
            valence = SPECIAL_CASES[zeroonetwo]
    for n_gram in (threetwoone, threetwo, twoone):
        if n_gram in BOOSTER_DICT:
            valence = valence + BOOSTER_DICT[n_gram]
    return valence


def _but(positions: list[int], values: list[float], but_at: int) -> None:
    """Replay ``_but_check`` on the non-zero scores, in place.

    3.3.2 walks the scores and, for each, rescales the *first* score equal to it (×0.5 before
    the first "but", ×1.5 after). Zeros stay zero, so only non-zero scores are walked; a heap
    per value holds the walked entries that currently carry it, whose minimum is that first
    score. Every rescaled entry precedes the walk, so each entry is still unchanged when the
    walk reaches it.
    """
    holders: dict[float, list[int]] = {}
    for j, v in enumerate(values):
        heap = holders.setdefault(v, [])
        heapq.heappush(heap, j)
        first = heapq.heappop(heap)
        at = positions[first]
        if at < but_at:
            nv = v * 0.5
        elif at > but_at:
            nv = v * 1.5
        else:
            nv = v
        values[first] = nv
        if nv != 0:
            heapq.heappush(holders.setdefault(nv, []), first)


def _score_valence(values: list[float], n: int, text: str) -> Scores:
    """``score_valence`` over the non-zero scores of ``n`` words (the rest are neutral).

    ``abs`` of a float is exactly ``math.fabs``, one attribute look-up cheaper.
    """
    sum_s = float(sum(values))
    ep_count = text.count("!")
    if ep_count > 4:
        ep_count = 4
    ep_amplifier = ep_count * 0.292
    qm_count = text.count("?")
    qm_amplifier: float = 0
    if qm_count > 1:
        qm_amplifier = qm_count * 0.18 if qm_count <= 3 else 0.96
    punct = ep_amplifier + qm_amplifier
    if sum_s > 0:
        sum_s += punct
    elif sum_s < 0:
        sum_s -= punct
    compound = sum_s / math.sqrt((sum_s * sum_s) + 15)
    if compound < -1.0:
        compound = -1.0
    elif compound > 1.0:
        compound = 1.0

    pos_sum = 0.0
    neg_sum = 0.0
    neu_count = n
    for v in values:
        if v > 0:
            pos_sum += v + 1
            neu_count -= 1
        elif v < 0:
            neg_sum += v - 1
            neu_count -= 1
    if pos_sum > abs(neg_sum):
        pos_sum += punct
    elif pos_sum < abs(neg_sum):
        neg_sum -= punct
    total = pos_sum + abs(neg_sum) + neu_count
    return (
        round(compound, 4),
        round(abs(pos_sum / total), 3),
        round(abs(neu_count / total), 3),
        round(abs(neg_sum / total), 3),
    )
