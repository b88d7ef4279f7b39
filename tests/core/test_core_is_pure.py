"""``bot/core`` is the functional core: it imports no Slack, database, template or scheduler
library, at run time (what a fresh interpreter loads) or in its source (even lazily, inside
functions or ``TYPE_CHECKING`` blocks). New modules are discovered, so they are covered too."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import bot.core

FORBIDDEN = (
    "slack_bolt",
    "slack_sdk",
    "sqlalchemy",
    "sqlmodel",
    "jinja2",
    "apscheduler",
    "alembic",
    "psycopg",
    "psycopg2",
)
CORE = Path(bot.core.__file__).resolve().parent
MODULES = sorted(info.name for info in pkgutil.walk_packages([str(CORE)], prefix="bot.core."))


def is_forbidden(module: str) -> bool:
    return any(module == name or module.startswith(f"{name}.") for name in FORBIDDEN)


def test_the_core_has_modules_to_check() -> None:
    assert "bot.core.criteria" in MODULES and "bot.core.runbook" in MODULES


@pytest.mark.parametrize("module", ["bot.core", *MODULES])
def test_importing_a_core_module_loads_no_edge_library(module: str) -> None:
    script = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=CORE.parents[1],
    )
    assert [name for name in json.loads(loaded.stdout) if is_forbidden(name)] == []


def imported_names(source: str) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", ""))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.append(node.args[0].value)
    return names


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: p.name)
def test_core_source_never_imports_an_edge_library(path: Path) -> None:
    offending = [name for name in imported_names(path.read_text()) if is_forbidden(name)]
    assert offending == [], f"{path.name} imports {offending}"


def test_the_source_scan_would_catch_a_lazy_import() -> None:
    source = (
        "def f():\n    from slack_sdk.models import blocks\n"
        "    import sqlalchemy.orm\n    importlib.import_module('jinja2')\n"
    )
    assert [n for n in imported_names(source) if is_forbidden(n)] == [
        "slack_sdk.models",
        "sqlalchemy.orm",
        "jinja2",
    ]
