"""The house rules a test can enforce: no import cycle in ``bot`` at run time, and no module
over 400 lines (benchmarks and migrations aside).

Imports are read from the source (``ast``): every ``import`` and ``from ... import`` that runs,
at module level or inside a function, counts; those under ``if TYPE_CHECKING:`` do not (they
never run). An import of ``bot.a.b`` depends on ``bot.a.b`` and, from outside ``bot.a``, on
the package ``bot.a`` whose ``__init__`` runs first.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400


def module_files(package_dir: Path, package: str) -> dict[str, Path]:
    """Every module of the package at ``package_dir``, by dotted name (packages as ``a.b``)."""
    found: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join([package, *parts])] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _run_time_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that can run: everything but ``if TYPE_CHECKING:`` bodies."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _run_time_imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _run_time_imports(node)


def import_graph(modules: dict[str, Path], package: str) -> dict[str, set[str]]:
    """module -> the modules of ``package`` it imports at run time."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in _run_time_imports(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:  # relative: from the importing module's package
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            for target in targets:
                if target != package and not target.startswith(package + "."):
                    continue
                graph[name].add(target)
                # the packages above the target run first, unless the importer is inside them
                parts = target.split(".")
                for depth in range(2, len(parts)):
                    parent = ".".join(parts[:depth])
                    if not (name == parent or name.startswith(parent + ".")):
                        graph[name].add(parent)
    return {
        name: {target for target in targets if target in modules and target != name}
        for name, targets in graph.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
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


def test_bot_has_no_import_cycle_at_run_time() -> None:
    modules = module_files(ROOT / "bot", "bot")
    assert "bot.services.approvals.engine" in modules and "bot.store" in modules
    assert cycles(import_graph(modules, "bot")) == []


def test_the_walk_finds_a_cycle_and_ignores_type_checking_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from pkg.sub import b\n")
    (package / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import c\n"
        "def later():\n    from pkg.sub.b import thing\n"
    )
    (package / "sub" / "b.py").write_text("import pkg.a\n")
    (package / "c.py").write_text("from . import a\n")
    modules = module_files(package, "pkg")
    graph = import_graph(modules, "pkg")
    assert graph["pkg.a"] == {"pkg.sub", "pkg.sub.b"}  # the lazy import counts; not c
    assert graph["pkg.c"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.sub", "pkg.sub.b"]]


def _line_counted() -> list[Path]:
    files = [*(ROOT / "bot").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]
    return sorted(path for path in files if "migrations" not in path.parts)


def test_no_module_is_over_400_lines() -> None:
    counted = _line_counted()
    assert any(path.name == "engine.py" for path in counted)
    over = {
        str(path.relative_to(ROOT)): lines
        for path in counted
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert over == {}, "split these by what they hold"
