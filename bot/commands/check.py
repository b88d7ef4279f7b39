"""``releasebot check``: validate every runbook and template."""

from __future__ import annotations

import argparse
import sys

from bot.config import Settings
from bot.render import template_problems
from bot.runbooks.files import load_runbooks
from bot.services.previews.messages import sample_context


def run(args: argparse.Namespace, settings: Settings) -> int:
    runbook_set = load_runbooks(settings.runbooks_dir)
    problems = [str(problem) for problem in runbook_set.problems]
    runbooks = list(runbook_set.runbooks.values())
    templates = template_problems(settings.templates_dir, runbooks, samples=sample_context)
    problems.extend(f"{p.path}:{p.line}: {p.field}: {p.message}" for p in templates)
    if problems:
        for problem in problems:
            print(problem)
        print(f"releasebot check: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    names = ", ".join(
        f"{runbook_id} v{runbook.version}"
        for runbook_id, runbook in sorted(runbook_set.runbooks.items())
    )
    count = len(list(settings.templates_dir.glob("*.json.j2")))
    print(
        f"ok: {len(runbook_set.runbooks)} runbook(s) ({names or 'none'}) "
        f"and {count} template(s) are valid"
    )
    for runbook in runbooks:  # valid, but its queries would only give insufficient data
        asks = any(c.query for c in runbook.criteria) or any(
            g.check is not None and g.check.query is not None
            for stage in (runbook.readiness.stages if runbook.readiness else [])
            for g in stage.gates
        )
        if asks and runbook.prometheus is None and settings.prometheus_url is None:
            print(
                f"note: {runbook.id} asks Prometheus but has no server: set "
                "RELEASEBOT_PROMETHEUS_URL or its prometheus.url (until then its queries are "
                "insufficient data)",
                file=sys.stderr,
            )
    return 0
