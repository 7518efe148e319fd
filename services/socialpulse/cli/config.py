"""``socialpulse config``: the effective settings as JSON, secrets masked."""

from __future__ import annotations

import json

from socialpulse.cli.output import print_line
from socialpulse.settings import Settings


def show_config(settings: Settings) -> int:
    """Print the settings the service would run with."""
    print_line(json.dumps(settings.model_dump(mode="json"), indent=2))
    return 0
