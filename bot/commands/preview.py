"""``releasebot preview TEMPLATE --runbook ID``: a template rendered with sample data, as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.config import Settings
from bot.core.runbook import Runbook
from bot.render import RenderError, make_renderer
from bot.runbooks.files import load_runbooks
from bot.services.previews.messages import sample_context


def _runbooks(directory: Path) -> tuple[dict[str, Runbook], list[str]]:
    """The valid runbooks of ``directory`` by id, and the problems of the others."""
    runbook_set = load_runbooks(directory)
    return runbook_set.runbooks, [str(problem) for problem in runbook_set.problems]


def run(args: argparse.Namespace, settings: Settings) -> int:
    renderer = make_renderer(settings.templates_dir)
    available = renderer.available()
    if args.template not in available:
        listed = ", ".join(available) or f"none (no templates in {settings.templates_dir})"
        print(
            f"releasebot preview: unknown template {args.template!r}; available: {listed}",
            file=sys.stderr,
        )
        return 1
    if not Path(settings.runbooks_dir).is_dir():
        print(f"releasebot preview: no runbook folder {settings.runbooks_dir}", file=sys.stderr)
        return 1
    runbooks, problems = _runbooks(Path(settings.runbooks_dir))
    runbook = runbooks.get(args.runbook)
    if runbook is None:
        listed = ", ".join(sorted(runbooks)) or "none"
        print(
            f"releasebot preview: unknown runbook {args.runbook!r}; available: {listed}",
            file=sys.stderr,
        )
        if problems:
            print("invalid runbooks (see `releasebot check`):", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
        return 1
    try:
        rendered = renderer.render(args.template, sample_context(args.template, runbook))
    except (RenderError, KeyError) as error:
        print(f"releasebot preview: {error}", file=sys.stderr)
        return 1
    print(json.dumps(rendered, indent=2, ensure_ascii=False))
    return 0
