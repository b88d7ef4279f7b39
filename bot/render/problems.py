"""Template problems for ``releasebot check``: syntax, missing templates, invalid output.

Each template is parsed (a syntax error names its line), and each required template is
rendered with the sample context of every runbook given and validated as Slack would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError

from bot.core.runbook import Runbook
from bot.render.renderer import (
    REQUIRED_TEMPLATES,
    TEMPLATE_SUFFIX,
    RenderError,
    make_renderer,
)

# What gives a template's sample context for a runbook (``bot.services.previews``: the real
# context builders fed with sample rows), passed in: templates are checked, not built, here.
SampleContexts = Callable[[str, Runbook], Mapping[str, Any]]


@dataclass(frozen=True)
class TemplateProblem:
    """One thing wrong with a template, printed as ``path:line: field: message``."""

    path: Path
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


EXAMPLE_RUNBOOK: dict[str, Any] = {
    "id": "example-model",
    "version": 1,
    "title": "Example model",
    "channels": ["C0EXAMPLE"],
    "roles": {"oncall": ["S0ONCALL"], "release_champion": ["U0ALICE"]},
    "criteria": [{"metric": "error_rate", "above": 0.02, "margin": 0.005, "severity": "high"}],
    "paths": [
        {
            "id": "previous-model",
            "title": "Replace the model with the previous version",
            "kind": "model_replacement",
            "covers": "critical",
            "impact": {"revenue": 2, "customer": 2, "regulatory": 0},
            "approval": {"roles": {"oncall": 1}},
            "executor": {"type": "dry-run"},
            "validation": {"metric": "error_rate", "window": "10m", "endorse_role": "oncall"},
        }
    ],
    "readiness": {
        "stages": [
            {
                "id": "offline",
                "title": "Offline evaluation",
                "gates": [{"id": "eval", "title": "Evaluation passed", "owner": "oncall"}],
            }
        ],
        "go_no_go": {"roles": {"release_champion": 1}},
    },
}


def example_runbook() -> Runbook:
    """A small valid runbook, for checking templates when no runbook folder is at hand."""
    return Runbook.model_validate(EXAMPLE_RUNBOOK)


def template_problems(
    templates_dir: Path,
    runbooks: Iterable[Runbook] | None = None,
    *,
    samples: SampleContexts,
) -> list[TemplateProblem]:
    """Every problem of the templates in ``templates_dir``.

    ``runbooks`` supply the sample data (the valid runbooks of the folder, say); without them
    a small built-in example runbook is used.
    """
    templates_dir = Path(templates_dir)
    if not templates_dir.is_dir():
        return [TemplateProblem(templates_dir, 0, "templates", "no such folder")]
    renderer = make_renderer(templates_dir)
    problems: list[TemplateProblem] = []
    broken: set[str] = set()
    for path in sorted(templates_dir.glob(f"*{TEMPLATE_SUFFIX}")):
        try:
            source = path.read_text(encoding="utf-8")
            renderer.environment.parse(source, path.name, str(path))
        except TemplateSyntaxError as error:
            problems.append(TemplateProblem(path, error.lineno, "syntax", error.message or ""))
            broken.add(path.name.removesuffix(TEMPLATE_SUFFIX))
        except (OSError, UnicodeDecodeError) as error:
            problems.append(TemplateProblem(path, 0, "template", f"cannot be read: {error}"))
            broken.add(path.name.removesuffix(TEMPLATE_SUFFIX))
    available = set(renderer.available())
    chosen = list(runbooks) if runbooks is not None else []
    for name in REQUIRED_TEMPLATES:
        path = templates_dir / f"{name}{TEMPLATE_SUFFIX}"
        if name not in available:
            problems.append(TemplateProblem(path, 0, "template", "required template is missing"))
            continue
        if name in broken:
            continue
        for runbook in chosen or [example_runbook()]:
            try:
                renderer.render(name, samples(name, runbook))
            except RenderError as error:
                field = "output" if error.block_index is None else f"blocks[{error.block_index}]"
                problems.append(
                    TemplateProblem(
                        path, error.line or 0, field, f"with runbook {runbook.id}: {error.detail}"
                    )
                )
                break
    return problems
