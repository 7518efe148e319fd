"""scorers: the sentiment scorer of each language, built from settings at start-up.

``sentiment.scorers`` names a class per language by import path (``package.module:ClassName``);
English is the built-in VADER scorer unless it is named there. A language without a scorer is
not scored: its mentions count as ``unscored``, never as neutral.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from socialpulse.core.sentiment import Scorer, SentimentScorer

BUILTIN_LANGUAGE = "en"


class ScorerLoadError(RuntimeError):
    """A configured scorer could not be imported or built; the message names the setting."""


def load_scorer(language: str, path: str) -> Scorer:
    """The class at ``path`` (``package.module:ClassName``), built with no arguments."""
    setting = f"sentiment.scorers.{language}"
    module_name, _, name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - any import failure is the setting's fault
        raise ScorerLoadError(f"{setting}: cannot import module {module_name!r}: {e}") from e
    cls = getattr(module, name, None)
    if cls is None:
        raise ScorerLoadError(f"{setting}: module {module_name!r} has no {name!r}")
    try:
        scorer = cls()
    except Exception as e:  # noqa: BLE001 - a scorer that cannot be built stops start-up
        raise ScorerLoadError(f"{setting}: {path} could not be built: {e}") from e
    if not callable(getattr(scorer, "score", None)):
        raise ScorerLoadError(f"{setting}: {path} has no score(text) method")
    return scorer  # type: ignore[no-any-return]


def build_scorers(
    paths: Mapping[str, str], languages: tuple[str, ...], english: Scorer | None = None
) -> dict[str, Scorer]:
    """Language -> scorer: the configured ones, and ``english`` (else VADER) for ``en``.

    The built-in scorer serves English only when ``en`` is a configured language and no other
    scorer is named for it.
    """
    scorers = {lang: load_scorer(lang, path) for lang, path in paths.items()}
    if BUILTIN_LANGUAGE in languages and BUILTIN_LANGUAGE not in scorers:
        scorers[BUILTIN_LANGUAGE] = english if english is not None else SentimentScorer()
    return scorers
