"""Executors: run an approved rollback path (webhook, command or dry run) and report what happened.

One entry point, ``run_executor``. It reads no globals and no environment: the caller passes
``secrets``, a mapping of environment-variable names to values built at the edge (webhooks
take their signing secret from it, commands their ``PATH``, ``LANG`` and ``HOME``). It never
raises for a failed rollback: every failure is an ``ExecutionOutcome`` with a detail sentence.

A drill (``request.drill``) never calls anything: every path answers ``dry_run``, naming what
would have run.
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Callable, Mapping

from bot.clock import Clock, utc_now
from bot.core.runbook import CommandExecutor, DryRunExecutor, WebhookExecutor
from bot.executors.command import run_command
from bot.executors.models import (
    EXCERPT_LIMIT,
    ExecutionOutcome,
    ExecutionRequest,
    Outcome,
    excerpt,
    finished,
)
from bot.executors.signing import sign, verify_signature
from bot.executors.webhook import display_url, run_webhook

__all__ = [
    "AnyExecutor",
    "EXCERPT_LIMIT",
    "ExecutionOutcome",
    "ExecutionRequest",
    "Outcome",
    "describe_target",
    "excerpt",
    "run_executor",
    "sign",
    "verify_signature",
]

logger = logging.getLogger(__name__)
AnyExecutor = WebhookExecutor | CommandExecutor | DryRunExecutor


def run_executor(
    executor: AnyExecutor,
    *,
    request: ExecutionRequest,
    secrets: Mapping[str, str],
    clock: Clock = utc_now,
    sleep: Callable[[float], None] = time.sleep,
) -> ExecutionOutcome:
    """Run ``executor`` for ``request`` (or, in a drill or dry run, only say what would run).

    ``clock`` gives the start and finish times and the webhook timestamp; ``sleep`` waits
    between webhook retries. Both are parameters so tests control them.
    """
    if request.drill or isinstance(executor, DryRunExecutor):
        return _dry_run(executor, request=request, clock=clock)
    try:
        if isinstance(executor, WebhookExecutor):
            return run_webhook(executor, request=request, secrets=secrets, clock=clock, sleep=sleep)
        return run_command(executor, request=request, secrets=secrets, clock=clock)
    except Exception as error:  # a bug here must not lose the rollback's record
        logger.exception("executor for %s/%s crashed", request.runbook_id, request.path_id)
        now = clock()
        return finished(
            "failed",
            attempts=0,
            started_at=now,
            finished_at=now,
            target=describe_target(executor),
            detail=f"The executor failed unexpectedly ({type(error).__name__}: {error}).",
        )


def describe_target(executor: AnyExecutor) -> str:
    """What the executor runs: its URL, its command line, or its dry-run note."""
    if isinstance(executor, WebhookExecutor):
        return display_url(executor.url)
    if isinstance(executor, CommandExecutor):
        return shlex.join(executor.argv)
    return executor.note or "dry run"


def _dry_run(executor: AnyExecutor, *, request: ExecutionRequest, clock: Clock) -> ExecutionOutcome:
    now = clock()
    target = describe_target(executor)
    if isinstance(executor, WebhookExecutor):
        detail = f"Drill: would have POSTed to {target}; nothing was called."
    elif isinstance(executor, CommandExecutor):
        detail = f"Drill: would have run `{target}`; nothing was run."
    else:
        note = f": {executor.note}" if executor.note else "."
        prefix = "Drill, and the path is a dry run" if request.drill else "Dry run"
        detail = f"{prefix}; nothing was executed{note}"
    return finished(
        "dry_run", attempts=0, started_at=now, finished_at=now, detail=detail, target=target
    )
