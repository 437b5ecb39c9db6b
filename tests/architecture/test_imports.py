"""The layers, checked on the source: core imports no API package and nothing above it; the API
packages reach core only through its public modules (never the middleware, the admin API or the
server)."""

from __future__ import annotations

import ast
from pathlib import Path

from simulator.core.registry import API_PACKAGES

SIMULATOR = Path(__file__).resolve().parents[2] / "simulator"
# What core must never import: the API packages and what is built on top of core.
ABOVE_CORE = (
    *(f"simulator.{name}" for name in API_PACKAGES),
    "simulator.server",
    "simulator.admin",
    "simulator.inspector",
    "simulator.app",
    "simulator.cli",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(SIMULATOR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in the file (inside functions too), relative
    imports resolved; `from a import b` counts as both `a` and `a.b`."""
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def arrows(directory: Path, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in sorted(directory.rglob("*.py")):
        for name in sorted(imported_modules(path)):
            if any(name == target or name.startswith(target + ".") for target in forbidden):
                bad.append(f"{module_name(path)} -> {name}")
    return bad


def test_the_walk_sees_imports_inside_functions_and_relative_ones(tmp_path: Path) -> None:
    """The check itself: a deferred import and a relative one are both arrows."""
    source = SIMULATOR / "core" / "registry.py"
    assert "simulator.core.fixtures.FixtureSection" in imported_modules(source)
    middleware = imported_modules(SIMULATOR / "core" / "middleware.py")
    assert "simulator.core.journal" in middleware


def test_core_imports_no_api_package_and_nothing_built_on_it() -> None:
    assert arrows(SIMULATOR / "core", ABOVE_CORE) == []


def test_api_packages_use_core_not_the_layers_around_it() -> None:
    """note() comes from core/requestinfo, the admin tenant dependency from core/admindeps."""
    forbidden = (
        "simulator.core.middleware",
        "simulator.admin",
        "simulator.inspector",
        "simulator.server",
        "simulator.app",
    )
    for name in API_PACKAGES:
        assert arrows(SIMULATOR / name, forbidden) == [], name


def test_no_api_package_imports_another() -> None:
    for name in API_PACKAGES:
        others = tuple(f"simulator.{other}" for other in API_PACKAGES if other != name)
        assert arrows(SIMULATOR / name, others) == [], name


def test_tenants_does_not_import_the_middleware() -> None:
    assert "simulator.core.middleware" not in imported_modules(SIMULATOR / "core" / "tenants.py")
