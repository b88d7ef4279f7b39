"""Fixtures for the rendering tests: the shipped templates and runbooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.runbook import Runbook
from bot.render import Renderer, make_renderer
from bot.runbooks.files import load_runbooks

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
RUNBOOKS = ROOT / "runbooks"


@pytest.fixture(scope="session")
def renderer() -> Renderer:
    return make_renderer(TEMPLATES)


@pytest.fixture(scope="session")
def shipped_runbooks() -> dict[str, Runbook]:
    runbook_set = load_runbooks(RUNBOOKS)
    assert not runbook_set.problems, runbook_set.problems
    return runbook_set.runbooks
