"""The optional compiled hot loops (``services/socialpulse-native``), or ``None`` without them.

Where the module was built the signals stage fingerprints, holds its LSH index and tokenises
with it; the Python code in ``neardup`` and ``terms`` is its reference (differential tests) and
its fallback. A build is used only when its ``API`` matches this code's: a module installed
before a function was added or changed (``make`` rebuilds it when its sources change, a
hand-installed one may be stale) would otherwise be called with arguments it does not take.
"""

from __future__ import annotations

from types import ModuleType
from typing import Final

# The ``SOCIALPULSE_NATIVE_API`` of services/socialpulse-native/links.h this code calls.
API: Final = 3

try:
    import socialpulse_native as _built
except ImportError:  # no C compiler where socialpulse was installed
    _built = None  # type: ignore[assignment]


def usable(module: ModuleType | None) -> ModuleType | None:
    """``module`` when its API is this code's, else None (the Python code is used)."""
    return module if module is not None and getattr(module, "API", None) == API else None


COMPILED: Final[ModuleType | None] = usable(_built)
# Why the compiled module is not used, for the start-up log (None when it is, or never built).
NOT_USED: Final[str | None] = (
    None
    if _built is None or COMPILED is not None
    else f"socialpulse_native has API {getattr(_built, 'API', None)}, this code needs {API}: "
    "rebuild it (make native); the Python code is used"
)
