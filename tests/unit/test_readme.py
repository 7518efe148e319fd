"""The README's module table names every module of the package, so the house it shows is real."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "services" / "socialpulse"


def test_every_module_is_in_the_readme_table() -> None:
    readme = REPO.joinpath("README.md").read_text(encoding="utf-8")
    table = "\n".join(line for line in readme.splitlines() if line.startswith("| "))
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        rel = path.relative_to(PACKAGE).as_posix()
        # A row may list siblings after the first with their file names alone.
        if f"`{rel}`" not in table and f"`{path.name}`" not in table:
            missing.append(rel)
    assert not missing, f"modules missing from the README's module table: {missing}"
