"""The optional compiled hot loops (``services/socialpulse-native``), or ``None`` without them.

Where the module was built the signals stage fingerprints, looks up bands and tokenises with
it; the Python code in ``neardup`` and ``terms`` is its reference (differential tests) and
its fallback.
"""

from __future__ import annotations

from types import ModuleType
from typing import Final

try:
    import socialpulse_native as _built
except ImportError:  # no C compiler where socialpulse was installed
    _built = None  # type: ignore[assignment]

COMPILED: Final[ModuleType | None] = _built
