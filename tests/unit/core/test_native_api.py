"""The compiled module is used only when its API is the one this code calls."""

from __future__ import annotations

from types import ModuleType

from socialpulse.core import native


def _module(**attrs: object) -> ModuleType:
    m = ModuleType("socialpulse_native")
    for k, v in attrs.items():
        setattr(m, k, v)
    return m


def test_a_build_of_this_api_is_used() -> None:
    m = _module(API=native.API)
    assert native.usable(m) is m


def test_a_stale_or_newer_build_is_not_used() -> None:
    assert native.usable(_module()) is None  # built before the API attribute existed
    assert native.usable(_module(API=native.API - 1)) is None
    assert native.usable(_module(API=native.API + 1)) is None
    assert native.usable(None) is None


def test_the_installed_build_matches_when_there_is_one() -> None:
    try:
        import socialpulse_native
    except ImportError:
        assert native.COMPILED is None
        return
    # make native rebuilds it whenever its sources change, so it is always this code's API.
    assert socialpulse_native.API == native.API
    assert native.COMPILED is socialpulse_native and native.NOT_USED is None
