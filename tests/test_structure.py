"""Structure of both packages: no import cycles, no imports of another module's private names, short functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import emod_data
import emod_train

PACKAGES = {"emod_data": Path(emod_data.__file__).parent, "emod_train": Path(emod_train.__file__).parent}
MAX_FUNCTION_LINES = 100
KNOWN_CYCLES: list[set[str]] = []
KNOWN_LONG: set[str] = set()


def _modules(package: str) -> dict[str, ast.Module]:
    root = PACKAGES[package]
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):  # imports only for type checkers do not run
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                node.body = []
        out[name] = tree
    return out


def _imports(modules: dict[str, ast.Module]) -> dict[str, set[tuple[str, str]]]:
    """Module -> (imported module, imported name) pairs, function-level imports included."""
    out: dict[str, set[tuple[str, str]]] = {m: set() for m in modules}
    for name, tree in modules.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in modules:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    out[name].add((sub, "") if sub in modules else (node.module, alias.name))
            elif isinstance(node, ast.Import):
                out[name] |= {(a.name, "") for a in node.names if a.name in modules}
    return out


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in graph:
        if v not in index:
            visit(v)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles(package):
    modules = _modules(package)
    graph = {
        m: {target for target, _ in imported if target in modules and target != m}
        for m, imported in _imports(modules).items()
    }
    assert [c for c in _cycles(graph) if c not in KNOWN_CYCLES] == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_imports_another_modules_private_names(package):
    bad = [
        f"{module} imports {name} from {target}"
        for module, imported in _imports(_modules(package)).items()
        for target, name in imported
        if name.startswith("_") and not name.startswith("__") and target != module
    ]
    assert bad == []


@pytest.mark.parametrize("package", PACKAGES)
def test_functions_are_at_most_100_lines(package):
    long = [
        f"{module}.{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for module, tree in _modules(package).items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
        and f"{module}.{node.name}" not in KNOWN_LONG
    ]
    assert long == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
