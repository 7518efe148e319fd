"""Texts for the differential tests of the compiled hot loops: demo posts and generated texts.

The generated ones draw on every Unicode general category, every Unicode space, and the link,
handle, hashtag and apostrophe cases at the edges of the Python code's regexes.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import sysconfig
import unicodedata
from collections import defaultdict
from datetime import UTC, datetime

from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.demo.generator import DemoTraffic

CORPORA = (
    "tweets_GroundTruth.txt",
    "movieReviewSnippets_GroundTruth.txt",
    "amazonReviewSnippets_GroundTruth.txt",
    "nytEditorialSnippets_GroundTruth.txt",
)


def buildable() -> bool:
    """Whether ``make install`` builds the module here: Python's C compiler and headers exist.

    The Makefile's ``BUILDABLE`` asks the same; where this is true a missing module is a failure.
    """
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    headers = os.path.join(sysconfig.get_paths()["include"], "Python.h")
    return shutil.which(cc) is not None and os.path.exists(headers)


def _by_category() -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for code in range(sys.maxunicode + 1):
        found[unicodedata.category(chr(code))].append(chr(code))
    return found


CATEGORIES = _by_category()
SPACES = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
# Links and handles at the edges of ``neardup._LINKS``, and letters whose lower case grows.
PIECES = (
    *("http://x.co/a1", "HTTPS://Q.org/x?y", "www.q.org", "WwW.Ab", "@han_dle", "@Bob_9"),
    *("http://", "https://", "https:// x", "http:/x", "www.", "wwww.x", "www. x", "@", "@@a"),
    *("@_", "@١٢٣", "@x\u0301y", "#tag", "123", "İ", "ΣΑΣ ", "ß", "\u0307", "ﬃ", "ǅ", "Ⅻ"),
    *("don't", "'tis", "#don't", "x'", "ab''", "#1a", "²nd", "_x", "a_1", "#", "##ab", "#@ab"),
    *("1st", "@@", "the", "The", "y", "é", "ab" * 40, "#" + "c" * 70, "'", "a'b'c", "٣٣ab"),
)


def generated(rng: random.Random, count: int) -> list[str]:
    names = sorted(CATEGORIES)
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randrange(0, 40)):
            pick = rng.random()
            if pick < 0.5:
                parts.append(rng.choice(CATEGORIES[rng.choice(names)]))
            elif pick < 0.6:
                parts.append(rng.choice(PIECES))
            elif pick < 0.7:
                parts.append(rng.choice(SPACES))
            else:
                parts.append(rng.choice("abcXYZ é "))
        texts.append("".join(parts))
    return texts


def demo_texts(count: int) -> list[str]:
    demo = DemoTraffic(DEMO_BRANDS, random.Random(3))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return [str(demo.mention(at)["text"]) for _ in range(count)]


def case_changing_texts() -> list[str]:
    """Texts around every character that ``str.lower`` changes, other than ASCII capitals.

    The compiled code lowers a text itself when only ASCII capitals change and leaves the
    rest to ``str.lower``: these texts prove it tells the two apart for every such character,
    in every context its mapping may depend on (the final sigma: a letter before it, none
    after; "İ" lowers to two characters).
    """
    changing = [
        chr(c)
        for c in range(0x80, sys.maxunicode + 1)
        if not 0xD800 <= c < 0xE000 and chr(c).lower() != chr(c)
    ]
    out = []
    for char in changing:
        out += [char, f"ab{char}", f"{char}cd", f"Ab {char} cD"]
        out.append(f"x{char}{char}y@h{char} www.{char}")
    return out
