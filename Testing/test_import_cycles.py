"""The modules of condswin import each other without a circle at module level.

Read from the source (nothing is imported): every ``import`` at the top of a module, including those under
``if TYPE_CHECKING:`` (a type-only import still makes a module depend on another, and a type checker follows
it), and none inside a function (those are the lazy imports that keep ``condswin --help`` quick). A circle in
this graph means two modules that cannot be understood, or moved, one without the other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "condswin"


def _module_files(package: Path) -> dict[str, Path]:
    """Dotted module name → source file, for every module and package of ``package``."""
    modules = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _top_level_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements of a module body, looking into ``if`` and ``try`` blocks but not into functions."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            yield from _top_level_imports(node.body)
            yield from _top_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(handler.body for handler in node.handlers), node.orelse, node.finalbody):
                yield from _top_level_imports(block)


def _imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The condswin modules that ``name`` imports at module level (``from pkg import sub`` names ``pkg.sub``)."""
    found = set()
    for node in _top_level_imports(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:  # relative: resolved against the importing module's package
            package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
        for alias in node.names:
            found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {module for module in found if module in modules and module != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def test_no_module_level_import_cycle_in_condswin():
    modules = _module_files(PACKAGE)
    graph = {name: _imported_modules(name, path, modules) for name, path in modules.items()}
    assert len(modules) > 100 and sum(map(len, graph.values())) > 300  # the walk found the package
    assert _cycles(graph) == []


def test_the_cycle_finder_sees_a_circle_through_a_type_only_import(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import B\n\ndef f():\n    from pkg import c\n")
    (package / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import f\n")
    (package / "c.py").write_text("from . import a\n")
    modules = _module_files(package)
    graph = {name: _imported_modules(name, path, modules) for name, path in modules.items()}
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.c"] == {"pkg.a"}  # the function-level import is lazy
    assert _cycles(graph) == [["pkg.a", "pkg.b"]]
