"""Talon.One's service modules call each other by direct imports that form no cycle: a renamed
function is an ImportError at start-up, never a call that silently answers something else, and
each module can be read (and loaded) after the ones below it."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.architecture.test_imports import SIMULATOR, imported_modules, module_name

SERVICE = SIMULATOR / "talonone" / "service"
PACKAGE = "simulator.talonone.service"
# What routes a call by a name held in a string: a module looked up at run time, a namespace
# indexed by name. (`getattr` counts when it reads a module: an imported name or a module just
# imported; reading a row's columns by name is data, not dispatch.)
STRING_DISPATCH_CALLS = {"import_module", "__import__", "globals", "locals", "vars"}


def service_modules() -> dict[str, Path]:
    """Every service module by name; a package stands for its `__init__`."""
    return {module_name(path): path for path in sorted(SERVICE.rglob("*.py"))}


def service_graph() -> dict[str, set[str]]:
    """module -> the service modules it imports, anywhere in the file (inside functions too).
    `from simulator.talonone.service import coupons` is an arrow to `coupons`, not to the
    package; an import of a package's `__init__` alone is not counted (it holds no code)."""
    modules = service_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in imported_modules(path):
            if imported in modules and imported != name and modules[imported].name != "__init__.py":
                targets.add(imported)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def string_dispatch(path: Path) -> list[str]:
    """Where a file routes a call by a name held in a string (importlib, getattr on a
    computed name, globals()[...], sys.modules)."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {
        (alias.asname or alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names] + [getattr(node, "module", "") or ""]
            if "importlib" in names or any(n.startswith("importlib.") for n in names):
                found.append(f"{path.name}:{node.lineno} imports importlib")
        elif isinstance(node, ast.Call):
            function = node.func
            called = getattr(function, "id", None) or getattr(function, "attr", None)
            if called in STRING_DISPATCH_CALLS:
                found.append(f"{path.name}:{node.lineno} calls {called}()")
            elif called == "getattr" and node.args and reads_a_module(node.args[0], imported):
                found.append(f"{path.name}:{node.lineno} calls getattr() on a module")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "modules"
            and isinstance(node.value, ast.Name)
            and node.value.id == "sys"
        ):
            found.append(f"{path.name}:{node.lineno} reads sys.modules")
    return found


def reads_a_module(target: ast.expr, imported: set[str]) -> bool:
    if isinstance(target, ast.Call):
        return True  # getattr(import_module(...), name), getattr(load(), name)
    return isinstance(target, ast.Name) and target.id in imported


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_deferred_imports_of_modules_and_names() -> None:
    graph = service_graph()
    assert f"{PACKAGE}.campaigns" in graph[f"{PACKAGE}.sessions.update"]
    assert f"{PACKAGE}.loyalty.session_effects" in graph[f"{PACKAGE}.sessions.update"]


def test_no_import_cycle_among_talonone_service_modules() -> None:
    assert cycles(service_graph()) == []


def test_the_dispatch_check_finds_a_call_by_name(tmp_path: Path) -> None:
    source = tmp_path / "hooks.py"
    source.write_text(
        "import importlib\n"
        "def call(module, name):\n"
        "    return getattr(importlib.import_module(module), name)()\n"
    )
    assert len(string_dispatch(source)) == 3


def test_no_talonone_module_dispatches_calls_by_name() -> None:
    found = [hit for path in sorted(SERVICE.parent.rglob("*.py")) for hit in string_dispatch(path)]
    assert found == []
