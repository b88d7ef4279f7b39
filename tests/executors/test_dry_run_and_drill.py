"""Dry-run paths and drills call nothing: no request reaches the receiver, no command runs."""

from __future__ import annotations

import sys
from pathlib import Path

from bot.core.runbook import CommandExecutor, DryRunExecutor, WebhookExecutor
from bot.executors import run_executor
from bot.runbooks.files import load_runbooks
from tests.executors.support import FIXED_NOW, Receiver, Sleeps, make_request

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"


def test_a_dry_run_path_records_its_note_and_runs_nothing(sleeps: Sleeps) -> None:
    executor = DryRunExecutor(type="dry-run", note="traffic shift is done by hand")

    outcome = run_executor(
        executor, request=make_request(), secrets={}, clock=lambda: FIXED_NOW, sleep=sleeps
    )

    assert outcome.outcome == "dry_run"
    assert outcome.attempts == 0
    assert outcome.target == "traffic shift is done by hand"
    assert "traffic shift is done by hand" in outcome.detail
    assert outcome.duration_seconds == 0
    assert outcome.output_excerpt is None


def test_a_drill_never_calls_the_webhook(receiver: Receiver, sleeps: Sleeps) -> None:
    executor = WebhookExecutor(type="webhook", url=receiver.url, secret_env="NOT_SET_ANYWHERE")

    outcome = run_executor(
        executor,
        request=make_request(drill=True),
        secrets={},
        clock=lambda: FIXED_NOW,
        sleep=sleeps,
    )

    assert outcome.outcome == "dry_run"
    assert outcome.attempts == 0
    assert outcome.target == receiver.url
    assert receiver.url in outcome.detail and "Drill" in outcome.detail
    assert receiver.requests == []
    assert sleeps == []


def test_a_drill_never_runs_the_command(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    argv = [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"]
    executor = CommandExecutor(type="command", argv=argv)

    outcome = run_executor(executor, request=make_request(drill=True), secrets={})

    assert outcome.outcome == "dry_run"
    assert "Drill" in outcome.detail and sys.executable in outcome.detail
    assert not marker.exists()


def test_every_path_of_the_example_runbooks_is_a_dry_run_in_a_drill() -> None:
    runbooks = load_runbooks(RUNBOOKS)
    assert runbooks.runbooks and not runbooks.problems
    for runbook in runbooks.runbooks.values():
        for path in runbook.paths:
            request = make_request(runbook_id=runbook.id, path_id=path.id, drill=True)

            outcome = run_executor(path.executor, request=request, secrets={})

            assert outcome.outcome == "dry_run", (runbook.id, path.id)
            assert outcome.target
