"""Brand matching: terms, handles, hashtags, word boundaries, exclusions, several brands."""

from __future__ import annotations

import pytest

from socialpulse.core.brands import BrandMatch, BrandMatcher
from socialpulse.settings import BrandSettings

AURORA = BrandSettings(
    id="aurora",
    name="Aurora Coffee",
    terms=("Aurora Coffee", "auroracoffee"),
    handles=("@auroracoffee",),
    exclude=("aurora borealis",),
    competitors=("lumen",),
)
LUMEN = BrandSettings(
    id="lumen",
    name="Lumen Roasters",
    terms=("lumen roasters", "#lumen"),
    handles=("@lumenroasters",),
)


@pytest.fixture
def matcher() -> BrandMatcher:
    return BrandMatcher([AURORA, LUMEN])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Love aurora coffee", ["aurora"]),
        ("AURORA   COFFEE rocks", ["aurora"]),
        ("#auroracoffee morning", ["aurora"]),
        ("thanks @auroracoffee", ["aurora"]),
        ("auroracoffees are a thing", []),
        ("myauroracoffee", []),
        ("aurora coffee under the aurora borealis", []),
        ("Aurora is nice", []),
        ("switched from Lumen Roasters to @auroracoffee", ["aurora", "lumen"]),
        ("#lumen all day", ["lumen"]),
        ("lumen all day", []),
        ("##lumen", []),
        ("@lumenroasters_fan says hi", []),
        ("café aurora coffee ☕", ["aurora"]),
        ("", []),
    ],
)
def test_matches(matcher: BrandMatcher, text: str, expected: list[str]) -> None:
    assert sorted(m.brand for m in matcher.match(text)) == expected


def test_tagged_by_handle_or_flag(matcher: BrandMatcher) -> None:
    assert matcher.match("hey @AuroraCoffee") == [BrandMatch("aurora", True)]
    assert matcher.match("aurora coffee") == [BrandMatch("aurora", False)]
    assert matcher.match("aurora coffee", tagged=True) == [BrandMatch("aurora", True)]


def test_brand_without_terms_matching_nothing_is_rejected_by_settings() -> None:
    with pytest.raises(ValueError, match="terms"):
        BrandSettings(id="x", name="X", terms=())
