"""The single-pass brand matcher gives exactly the per-brand regular expressions' results.

``brands_reference`` holds the matcher as it was (one ``re`` search per brand and role); every
text here goes through both, with and without the event's tagged flag: the VADER corpora with
brand terms drawn from their own words, and seeded random texts built to hit the edges (case
and Unicode case classes, word boundaries, ``@``/``#`` forms, whitespace runs, overlapping and
prefix terms, exclusions, regex metacharacters).
"""

from __future__ import annotations

import random
import re
import string
import sys
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brands_reference import ReferenceBrandAccounts, ReferenceBrandMatcher
from socialpulse.core.brands import BrandAccounts, BrandMatcher, _folding
from socialpulse.settings import BrandSettings
from vader_corpus import read_corpus

CORPORA = (
    "tweets_GroundTruth.txt",
    "movieReviewSnippets_GroundTruth.txt",
    "amazonReviewSnippets_GroundTruth.txt",
    "nytEditorialSnippets_GroundTruth.txt",
)
RANDOM_TEXTS = 20_000

# Words whose case classes re.IGNORECASE treats specially: ß/ẞ, dotted and dotless i, final
# sigma, long s, Kelvin sign, micro sign, titlecase digraphs, iota with its combining forms,
# cased symbols that are not word characters (circled letters), digits that are not ASCII,
# lone surrogates (which UTF-8 cannot carry).
WORDS = (
    "aurora", "coffee", "Aurora", "café", "CAFÉ", "straße", "STRASSE", "strasse", "ẞ",
    "İstanbul", "istanbul", "ıstanbul", "ISTANBUL", "σοφία", "ΣΟΦΊΑ", "ς", "σ", "Σ", "ſun", "sun",
    "\u212aelvin", "kelvin", "µ", "μ", "Μ", "ǅ", "ǆ", "Ǆ", "ι", "\u0345", "\u1fbe", "ⓐⓑ", "ⒶⒷ",
    "x", "a", "ab", "abc", "_", "1", "٣", "²", "ﬁ", "Ⅻ", "ⅻ", "ǲ", "ǉ", "ÿ", "Ÿ", "?", "x\udc00",
)  # fmt: skip
META = ("c++", "a.b", "(x)", "$5", "^_^", "a|b", "[ok]", "\\o/", "*", "?", "...", "e-mail", "x{2}")
SEPARATORS = (
    " ", "  ", "\t", "\n", " \t ", "\r\n", "\u00a0", "\u2003", "\u3000", "\x1c", "\x85", "",
    "@", "#", "##", "@#", ".", ",", "!", "-", "_", "x", "é", "1", "\ud800",
)  # fmt: skip
SPACES = (" ", "  ", "\t", "\n", " \t\n ", "\u00a0", "\u3000", "\x0b")


def _cased() -> list[str]:
    """Every character with a case mapping of its own."""
    chars = (chr(c) for c in range(sys.maxunicode + 1))
    return [c for c in chars if c.lower() != c or c.upper() != c]


CASED = _cased()


def _variants(c: str) -> list[str]:
    """Characters ``re.IGNORECASE`` matches with ``c``, as ``re`` itself says."""
    pattern = re.compile(re.escape(c), re.IGNORECASE)
    return [c, *(t for t in CASED if t != c and pattern.fullmatch(t))]


VARIANTS = {c: _variants(c) for c in {*"".join(WORDS + META), *string.ascii_letters}}


def _mutate(term: str, rng: random.Random) -> str:
    """``term`` as a text might spell it: any case, any case-equivalent, any whitespace run."""
    out = []
    for word in term.split():
        chars = []
        for c in word:
            roll = rng.random()
            if roll < 0.2:
                chars.append(rng.choice(VARIANTS.get(c, [c])))
            elif roll < 0.3:
                chars.append(c.upper())
            elif roll < 0.4:
                chars.append(c.lower())
            else:
                chars.append(c)
        out.append("".join(chars))
    return "".join(w + rng.choice(SPACES) for w in out[:-1]) + (out[-1] if out else "")


def _word(rng: random.Random) -> str:
    return rng.choice(WORDS) if rng.random() < 0.85 else rng.choice(META)


def _term(rng: random.Random, earlier: list[str]) -> str:
    roll = rng.random()
    if earlier and roll < 0.15:  # a prefix (in words or characters) of another brand's term
        other = rng.choice(earlier)
        return other[: rng.randint(1, len(other))].strip() or other
    if earlier and roll < 0.25:  # another brand's term, extended: overlapping terms
        return f"{rng.choice(earlier)} {_word(rng)}"
    if roll < 0.4:
        return rng.choice("@#") + _word(rng)
    if roll < 0.6:
        return rng.choice((" ", "  ", "\t")).join(_word(rng) for _ in range(rng.randint(2, 3)))
    if roll < 0.65:
        return f" {_word(rng)} "
    return _word(rng)


def _brands(rng: random.Random, count: int) -> list[BrandSettings]:
    """Random brands; some handles lack the ``@`` settings insist on, so they skip validation."""
    brands = []
    earlier: list[str] = []
    for i in range(count):
        terms = tuple(_term(rng, earlier) for _ in range(rng.randint(1, 3)))
        earlier.extend(terms)
        handles = tuple(rng.choice(("@", "@", "")) + _word(rng) for _ in range(rng.randint(0, 2)))
        exclude = tuple(
            rng.choice((f"{rng.choice(terms)} {_word(rng)}", _word(rng), rng.choice(earlier)))
            for _ in range(rng.randint(0, 2))
        )
        brands.append(
            BrandSettings.model_construct(
                id=f"b{i}", name=f"B{i}", terms=terms, handles=handles, exclude=exclude
            )
        )
    return brands


def _text(rng: random.Random, brands: Sequence[BrandSettings]) -> str:
    phrases = [t for b in brands for t in (*b.terms, *b.handles, *b.exclude)]
    parts = []
    for _ in range(rng.randint(0, 8)):
        if rng.random() < 0.6:
            parts.append(_mutate(rng.choice(phrases), rng))
        else:
            parts.append(_word(rng))
    return "".join(rng.choice(SEPARATORS) + p for p in parts) + rng.choice(SEPARATORS)


def _assert_same(brands: Sequence[BrandSettings], texts: Sequence[str], rng: random.Random) -> int:
    """Both matchers on every text; returns how many texts matched at least one brand."""
    ours, reference = BrandMatcher(brands), ReferenceBrandMatcher(brands)
    matched = 0
    for text in texts:
        tagged = rng.random() < 0.2
        got = [(m.brand, m.tagged) for m in ours.match(text, tagged)]
        want = [(m.brand, m.tagged) for m in reference.match(text, tagged)]
        assert got == want, f"text {text!r}, tagged={tagged}"
        matched += bool(want)
    return matched


def test_fold_classes_are_re_ignorecase_classes() -> None:
    """Two cased characters fold alike exactly when ``re.IGNORECASE`` matches one with the other."""
    table = _folding().table
    assert all(chr(k) in CASED or v == " " for k, v in table.items())
    classes: dict[str, list[str]] = {}
    for t in CASED:
        classes.setdefault(t.translate(table), []).append(t)
    everything = "".join(CASED)
    for p in CASED:
        by_re = re.compile(re.escape(p), re.IGNORECASE).findall(everything)
        assert by_re == classes[p.translate(table)], f"{p!r} (U+{ord(p):04X})"


def test_whitespace_folds_to_a_space_and_nothing_else_does() -> None:
    table = _folding().table
    spaces = {c for c in range(sys.maxunicode + 1) if re.fullmatch(r"\s", chr(c))}
    assert {k for k, v in table.items() if v == " "} | {ord(" ")} == spaces


def test_lower_folds_every_character_the_table_does_unless_marked() -> None:
    """The fast path: ``str.lower`` is the fold for every character it is taken for."""
    fold = _folding()
    for c in map(chr, range(sys.maxunicode + 1)):
        if fold.unlike_lower.match(c) is None:
            assert c.lower() == c.translate(fold.table), f"U+{ord(c):04X}"
    # Final sigma is the one context str.lower looks at; it is marked, so the table folds it.
    assert fold.unlike_lower.search("ΟΔΟΣ") is not None


@pytest.mark.parametrize("name", CORPORA)
def test_corpus_with_terms_from_its_own_words(name: str) -> None:
    texts = [text for _, text in read_corpus(name)]
    rng = random.Random(name)
    tokens = [t for text in texts for t in text.split()]
    words = [w for text in texts for w in re.findall(r"\w+", text)]
    brands = []
    for i in range(40):
        start = rng.randrange(len(tokens) - 2)
        bigram = " ".join(tokens[start : start + 2])
        terms = (rng.choice(words), bigram if rng.random() < 0.5 else rng.choice(tokens))
        # Exclusions that sometimes contain a term (vetoing it) and sometimes stand alone.
        exclude = f"{terms[0]} {rng.choice(words)}" if rng.random() < 0.5 else rng.choice(words)
        handle = "@" + rng.choice(words)
        brands.append(
            BrandSettings(
                id=f"b{i}", name=f"B{i}", terms=terms, handles=(handle,), exclude=(exclude,)
            )
        )
    matched = _assert_same(brands, texts, rng)
    assert matched > len(texts) // 10, "terms drawn from the corpus should match some texts"


@pytest.mark.parametrize("seed", range(20))
def test_random_edge_texts(seed: int) -> None:
    rng = random.Random(seed)
    brands = _brands(rng, rng.choice((1, 2, 3, 8, 30)))
    texts = [_text(rng, brands) for _ in range(RANDOM_TEXTS // 20)]
    assert _assert_same(brands, texts, rng) > 0


def test_random_edge_texts_with_a_thousand_brands() -> None:
    rng = random.Random(1000)
    brands = _brands(rng, 1000)
    texts = [_text(rng, brands) for _ in range(400)]
    assert _assert_same(brands, texts, rng) > 0


ALPHABET = "aAbBéÉßẞİıiσΣς@#_. \t\n+?\ud800"
PHRASES = st.text(ALPHABET, min_size=1, max_size=6)


@settings(max_examples=1500, deadline=None)
@given(
    brands=st.lists(
        st.tuples(
            st.lists(PHRASES, min_size=1, max_size=3),
            st.lists(PHRASES, max_size=2),
            st.lists(PHRASES, max_size=2),
        ),
        min_size=0,
        max_size=4,
    ),
    texts=st.lists(st.text(ALPHABET, max_size=20), min_size=1, max_size=5),
    tagged=st.booleans(),
)
def test_generated(
    brands: list[tuple[list[str], list[str], list[str]]], texts: list[str], tagged: bool
) -> None:
    configured = [
        BrandSettings.model_construct(
            id=f"b{i}", name="B", terms=tuple(t), handles=tuple(h), exclude=tuple(x)
        )
        for i, (t, h, x) in enumerate(brands)
    ]
    ours, reference = BrandMatcher(configured), ReferenceBrandMatcher(configured)
    for text in texts:
        got = [(m.brand, m.tagged) for m in ours.match(text, tagged)]
        assert got == [(m.brand, m.tagged) for m in reference.match(text, tagged)], text


def test_owners_and_accounts() -> None:
    rng = random.Random(7)
    handles = [f"@{w}" for w in ("alpha", "Beta", "GAMMA", "straße", "İx", "a_b")]
    brands = [
        BrandSettings(
            id=f"b{i}",
            name="B",
            terms=("t",),
            handles=tuple(rng.sample(handles, rng.randint(0, 3))),
        )
        for i in range(30)
    ]
    ours, reference = BrandAccounts(brands), ReferenceBrandAccounts(brands)
    asked = [*handles, *(h.upper() for h in handles), *(h[1:] for h in handles), "@nobody", ""]
    for handle in asked:
        assert ours.owners(handle) == reference.owners(handle), handle
        for b in brands:
            assert ours.is_own_handle(b.id, handle) == reference.is_own_handle(b.id, handle)
            assert ours.is_brand_account(b.id, handle) == reference.is_brand_account(b.id, handle)
    assert sum(len(ours.owners(h)) for h in handles) > 0
