"""Every template against its typed context (``bot.render.contexts``).

- each name a template reads from its context is a key of the template's TypedDict (a template
  cannot rely on something no builder promises);
- the previews' contexts, which the real builders make from sample rows, have exactly the keys
  of their TypedDicts, at every depth, with values of the declared types, and survive JSON (they
  are stored in outbox jobs);
- a key a builder forgets, or one it adds, fails here.
"""

from __future__ import annotations

import json
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import pytest
from jinja2 import meta

from bot.core.runbook import Runbook
from bot.render import REQUIRED_TEMPLATES, Renderer
from bot.render.contexts import CONTEXTS
from bot.render.problems import example_runbook
from bot.services.previews.messages import sample_context

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
GLOBALS = {"gate_icons", "state_icons"}  # the renderer's own globals, not the context's


def shape_problems(value: Any, expected: Any, where: str = "context") -> list[str]:
    """Where ``value`` does not have the type ``expected`` (TypedDicts checked key by key)."""
    origin = get_origin(expected)
    if expected is Any:
        return []
    if typing.is_typeddict(expected):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        hints = get_type_hints(expected)
        problems = [f"{where}: missing key {key!r}" for key in hints if key not in value]
        problems += [f"{where}: key {key!r} is not in {expected.__name__}"
                     for key in value if key not in hints]  # fmt: skip
        for key, hint in hints.items():
            if key in value:
                problems += shape_problems(value[key], hint, f"{where}.{key}")
        return problems
    if origin in (typing.Union, types.UnionType):
        options = [shape_problems(value, option, where) for option in get_args(expected)]
        return [] if any(not found for found in options) else min(options, key=len)
    if origin is Literal:
        return [] if value in get_args(expected) else [f"{where}: {value!r} not one of {expected}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        (item,) = get_args(expected)
        return [p for i, v in enumerate(value) for p in shape_problems(v, item, f"{where}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        key_type, value_type = get_args(expected)
        return [p for k, v in value.items()
                for p in shape_problems(k, key_type, f"{where} key") +
                shape_problems(v, value_type, f"{where}[{k!r}]")]  # fmt: skip
    if expected is type(None):
        return [] if value is None else [f"{where}: expected None, got {value!r}"]
    if expected is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected a number, got {value!r}"]
    if expected is int and isinstance(value, bool):
        return [f"{where}: expected an integer, got {value!r}"]
    if expected is datetime:
        return [] if isinstance(value, datetime) else [f"{where}: expected a datetime"]
    return [] if isinstance(value, expected) else [f"{where}: expected {expected}, got {value!r}"]


def runbooks(shipped: dict[str, Runbook]) -> list[Runbook]:
    return [*shipped.values(), example_runbook()]


def test_every_required_template_has_a_typed_context() -> None:
    assert set(CONTEXTS) == set(REQUIRED_TEMPLATES)


@pytest.mark.parametrize("name", REQUIRED_TEMPLATES)
def test_a_template_reads_only_what_its_context_promises(renderer: Renderer, name: str) -> None:
    source = (TEMPLATES / f"{name}.json.j2").read_text(encoding="utf-8")
    used = meta.find_undeclared_variables(renderer.environment.parse(source))
    assert used - GLOBALS <= set(get_type_hints(CONTEXTS[name])), used - GLOBALS


@pytest.mark.parametrize("name", REQUIRED_TEMPLATES)
def test_the_builders_contexts_have_exactly_the_typed_shape(
    shipped_runbooks: dict[str, Runbook], name: str
) -> None:
    for runbook in runbooks(shipped_runbooks):
        context = sample_context(name, runbook)
        assert shape_problems(context, CONTEXTS[name]) == [], runbook.id
        assert json.loads(json.dumps(context)) == context  # storable in an outbox job


def test_the_shape_check_catches_a_missing_an_extra_and_a_mistyped_key(
    shipped_runbooks: dict[str, Runbook],
) -> None:
    context = sample_context("approval_state", shipped_runbooks["ranking-model"])
    del context["quorum"]
    context["quorom"] = 2
    context["votes"] = [{**context["votes"][0], "decision": "maybe"}]
    problems = shape_problems(context, CONTEXTS["approval_state"])
    assert "context: missing key 'quorum'" in problems
    assert "context: key 'quorom' is not in ApprovalStateContext" in problems
    assert any(problem.startswith("context.votes[0].decision: 'maybe'") for problem in problems)
