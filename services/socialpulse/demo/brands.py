"""The demo's three invented coffee brands, their terms, handles, exclusions and rivals."""

from __future__ import annotations

from typing import Final

from socialpulse.settings import BrandSettings

DEMO_BRANDS: Final[tuple[BrandSettings, ...]] = (
    BrandSettings(
        id="aurora",
        name="Aurora Coffee",
        terms=("Aurora Coffee", "auroracoffee"),
        handles=("@auroracoffee",),
        exclude=("aurora borealis",),
        competitors=("lumen", "ember"),
        followers=184_000,
    ),
    BrandSettings(
        id="lumen",
        name="Lumen Roasters",
        terms=("Lumen Roasters", "lumenroasters"),
        handles=("@lumenroasters",),
        exclude=("job opening",),
        competitors=("aurora", "ember"),
        followers=97_500,
    ),
    BrandSettings(
        id="ember",
        name="Ember Brew",
        terms=("Ember Brew", "emberbrew"),
        handles=("@emberbrew",),
        exclude=("fake giveaway",),
        competitors=("aurora", "lumen"),
        followers=42_300,
    ),
)
