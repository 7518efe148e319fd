"""The settings the service runs with: file and environment, demo brands when embedded."""

from __future__ import annotations

from pathlib import Path

from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.settings import Settings, load_settings


def service_settings(config: Path | None) -> Settings:
    """Settings from ``config`` and the environment; the demo brands when embedded and unset.

    Raises ``ValueError`` when Kafka is configured but no brand is.
    """
    settings = load_settings(config)
    if settings.brands:
        return settings
    if settings.embedded:
        return load_settings(config, brands=[b.model_dump() for b in DEMO_BRANDS])
    raise ValueError(
        "no brands configured: list them under `brands:` in the config file "
        "(see README, Configuration) or run without Kafka settings for the demo"
    )
