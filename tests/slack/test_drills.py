"""Game-day drills end to end: signed slash commands and clicks through the emulator, the
drills' timers run by the bot's worker on a controllable clock (no long sleeps)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.cli import main
from bot.devtools.sandbox import Sandbox
from bot.services.rollbacks.history import last_rollback_at, path_records
from bot.store import (
    export_subject,
    read_connection,
    session_scope,
    verify_trail,
)
from bot.store.subjects import subject_summary
from bot.store.tables import DrillRun, Execution
from tests.slack.rollback_support import Receiver, alert, post, rollback_runbooks, wait_until
from tests.slack.support import RANKING, Bot, answer_text
from tests.slack.test_app_home import open_home

DRILL = "drill:1"
# Wednesday 2026-11-25, 15:00 in Berlin (CET, UTC+1) is 14:00 UTC: the drill's cron slot.
SLOT = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def move(sandbox: Sandbox, clock: Clock, to: datetime) -> None:
    clock.now = to
    sandbox.runtime.scheduler.worker.wake()


def test_a_scheduled_drill_plays_is_approved_dry_run_and_reported(
    database_url: str, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = Clock(SLOT - timedelta(seconds=30))
    runbooks = rollback_runbooks(tmp_path, receiver)  # previous-model: a webhook executor
    with Sandbox.start(database_url=database_url, runbooks_dir=runbooks, clock=clock) as sandbox:
        bot = Bot(sandbox)
        assert ("drill.start", "drill:ranking-model:error-spike") in (
            sandbox.runtime.scheduler.open_timers()
        )
        move(sandbox, clock, SLOT)
        wait_until(lambda: "drill.started" in bot.trail_kinds(DRILL), sandbox)
        channel = bot.transcript()
        assert "DRILL: Error-rate spike after a bad deploy" in channel
        assert "This is a drill." in channel

        move(sandbox, clock, SLOT + timedelta(minutes=3))  # values 0.012 ... 0.041 played
        wait_until(lambda: "drill.detected" in bot.trail_kinds(DRILL), sandbox)
        assert "DRILL · 🚨 Rollback recommended" in bot.transcript()
        move(sandbox, clock, SLOT + timedelta(minutes=4))  # the last value updates the message
        wait_until(lambda: "error_rate` at 0.044" in bot.transcript(), sandbox)
        assert "DRILL · 🚨 Rollback recommended" in bot.transcript()

        move(sandbox, clock, SLOT + timedelta(minutes=5))
        button = bot.driver.find_button(RANKING, "Approve")
        bot.driver.click("U0ELENA", RANKING, "Approve", button.message.ts)  # not eligible
        bot.driver.click("U0BRUNO", RANKING, "Approve", button.message.ts)
        move(sandbox, clock, SLOT + timedelta(minutes=7))
        bot.driver.click("U0DMITRI", RANKING, "Approve", button.message.ts)  # via @oncall
        wait_until(lambda: "drill.scored" in bot.trail_kinds(DRILL), sandbox)

        assert receiver.calls == []  # a drill never calls the webhook
        kinds = [k for k in bot.trail_kinds(DRILL) if not k.startswith("slack.")]
        expected = ("drill.started", "drill.detected", "approval.refused", "drill.approved",
                    "drill.decided", "drill.ended", "rollback.executed",
                    "drill.first_response", "drill.dry_run_validated", "drill.scored")
        for kind in expected:
            assert kind in kinds, kinds
        assert kinds.count("drill.first_response") == 1
        [first] = [e for e in bot.trail(DRILL) if e.kind == "drill.first_response"]
        assert first.actor == "U0BRUNO" and first.payload["seconds_after_recommendation"] == 120
        report = bot.transcript()
        print(report)
        assert "DRILL report: Error-rate spike after a bad deploy" in report
        assert "would have POSTed" in report
        # detection 15 + expected path 15 + first response (2 min of 30) 19 + decision
        # (4 min of 30) 22 + one refusal 5 + dry run 15 = 91
        assert "score 91/100" in report, report
        assert "= 91" in report

        with session_scope(sandbox.runtime.engine) as session:
            run = session.get(DrillRun, 1)
            assert run is not None and run.state == "reported"
            assert run.scheduled_for == SLOT and run.results["score"] == 91
            # not left "watching" a live window: pruning waits for no drill
            [execution] = session.exec(select(Execution)).all()
            assert execution.dry_run and execution.validation_state is None
            # the real paths' cooldown and track record ignore the drill
            assert last_rollback_at(session, runbook_id="ranking-model") is None
            assert all(r.uses == 0 for r in path_records(session, runbook_id="ranking-model")
                       .values())  # fmt: skip
        exported = export_subject(sandbox.runtime.engine, subject="drill:1", fmt="md")
        assert verify_trail(sandbox.runtime.engine).intact
        assert "drill.scored" in exported and "drill.started" in exported
        with read_connection(sandbox.runtime.engine) as connection:
            listed = subject_summary(connection, subject="drill:1")
        assert listed is not None and listed.kind == "drill" and listed.status == "reported"
        assert listed.runbook_id == "ranking-model" and "score 91/100" in (listed.outcome or "")
        page = open_home(bot, "U0CHIARA")
        assert "Recent drills" in page and "error-spike run 1" in page and "91/100" in page
        monkeypatch.setenv("RELEASEBOT_DATABASE_URL", database_url)
        capsys.readouterr()
        assert main(["trail", "export", "drill:1", "--format", "md"]) == 0
        printed = capsys.readouterr().out
        assert printed.index("drill.started") < printed.index("drill.detected") < printed.index(
            "drill.scored")


def test_nobody_answers_the_drill_times_out_and_says_so(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    clock = Clock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    runbooks = rollback_runbooks(tmp_path, receiver)
    ranking = runbooks / "ranking-model.yaml"  # the drill times out before the request expires
    expected = "    expected_path: previous-model\n"
    assert expected in ranking.read_text()
    ranking.write_text(ranking.read_text().replace(expected, expected + "    timeout: 15m\n"))
    with Sandbox.start(database_url=database_url, runbooks_dir=runbooks, clock=clock) as sandbox:
        bot = Bot(sandbox)
        outsider = bot.driver.slash_command("U0ELENA", RANKING, "/drill", "start ranking-model "
                                            "error-spike")  # fmt: skip
        assert "Only *release_champion*" in answer_text(outsider)
        answer = bot.driver.slash_command("U0ALICE", RANKING, "/drill", "ranking-model "
                                          "error-spike")  # fmt: skip
        assert "started (run 1)" in answer_text(answer)
        sandbox.settle()
        move(sandbox, clock, clock.now + timedelta(minutes=4))
        wait_until(lambda: "drill.detected" in bot.trail_kinds(DRILL), sandbox)
        bot.driver.click("U0ALICE", RANKING, "Approve")  # the starter, alone: refused
        sandbox.settle()
        assert "separation of duties" in " ".join(bot.ephemerals("U0ALICE"))
        detected = clock.now
        move(sandbox, clock, detected + timedelta(minutes=10))  # escalate_after: 20m / 2
        wait_until(lambda: "approval.escalated" in bot.trail_kinds(DRILL), sandbox)
        assert "DRILL · 📣 This drill rollback is still waiting" in bot.transcript()
        move(sandbox, clock, datetime(2026, 11, 23, 9, 15, 1, tzinfo=UTC))  # the drill's 15 m
        wait_until(lambda: "drill.scored" in bot.trail_kinds(DRILL), sandbox)
        report = bot.transcript()
        assert "Time is up: nobody decided within the drill's timeout" in report
        assert "Timed out: nobody decided in time" in report
        assert "nobody answered" in report
        assert "Escalated to: ml_lead" in report
        with session_scope(sandbox.runtime.engine) as session:
            run = session.get(DrillRun, 1)
            assert run is not None and run.state == "reported"
            assert run.results["outcome"] == "timed_out"
            assert run.results["score"] < 50
        refused = [e for e in bot.trail("drill:ranking-model.error-spike")]
        assert refused and refused[0].kind == "drill.refused"
        history = bot.driver.slash_command("U0ALICE", RANKING, "/drill", "history ranking-model")
        assert "run 1" in answer_text(history) and "/100" in answer_text(history)
        listing = bot.driver.slash_command("U0ALICE", RANKING, "/drill", "list")
        assert "Wed 2026-11-25 15:00 CET" in answer_text(listing)

        # a second run, stopped by hand: only a starter may stop it
        again = bot.driver.slash_command("U0BRUNO", RANKING, "/drill", "start ranking-model "
                                         "error-spike")  # fmt: skip
        assert "started (run 2)" in answer_text(again)
        sandbox.settle()
        refused = bot.driver.slash_command("U0ELENA", RANKING, "/drill", "stop ranking-model")
        assert "may stop drills" in answer_text(refused)
        stopped = bot.driver.slash_command("U0ALICE", RANKING, "/drill", "stop ranking-model")
        assert "stopped" in answer_text(stopped)
        wait_until(lambda: "drill.scored" in bot.trail_kinds("drill:2"), sandbox)
        assert "Drill aborted by @alice: stopped by hand (`/drill stop`)" in bot.transcript()
        assert "Aborted: stopped by hand (`/drill stop`)" in bot.transcript()
        assert receiver.calls == []


def test_a_real_alert_aborts_the_drill(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    clock = Clock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    runbooks = rollback_runbooks(tmp_path, receiver)
    with Sandbox.start(database_url=database_url, runbooks_dir=runbooks, clock=clock) as sandbox:
        bot = Bot(sandbox)
        bot.driver.slash_command("U0BRUNO", RANKING, "/drill", "start ranking-model error-spike")
        sandbox.settle()
        move(sandbox, clock, clock.now + timedelta(minutes=1))
        wait_until(lambda: len(bot.trail_kinds(DRILL)) >= 2, sandbox)
        for value in (0.031, 0.036, 0.041):  # Alertmanager's notifications, a real spike
            move(sandbox, clock, clock.now + timedelta(seconds=20))
            assert post(sandbox, "alertmanager", alert(value))[0] == 202
        wait_until(lambda: "drill.scored" in bot.trail_kinds(DRILL), sandbox)
        assert "Drill aborted: a real breach of `error_rate`" in bot.transcript()
        assert "Aborted: a real breach" in bot.transcript(), bot.transcript()
        assert "rollback.recommended" in bot.trail_kinds("rollback:1")
        left = sandbox.runtime.scheduler.open_timers()
        assert not [t for t in left if t[1] == DRILL and t[0] in ("drill.step", "drill.timeout")]
        assert receiver.calls == []


def test_a_slot_is_skipped_while_a_drill_runs_or_when_the_schedule_changed(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    clock = Clock(SLOT - timedelta(minutes=2))
    runbooks = rollback_runbooks(tmp_path, receiver)
    with Sandbox.start(database_url=database_url, runbooks_dir=runbooks, clock=clock) as sandbox:
        bot = Bot(sandbox)
        drills = sandbox.runtime.services.drills
        assert drills is not None  # a slot planned under an older schedule: not a slot now
        stale = SLOT - timedelta(hours=4, minutes=1)
        assert not drills.start_scheduled(runbook_id="ranking-model", drill_id="error-spike",
                                          slot=stale, now=clock.now)  # fmt: skip
        started = bot.driver.slash_command("U0ALICE", RANKING, "/drill",
                                           "start ranking-model error-spike")  # fmt: skip
        assert "started (run 1)" in answer_text(started)
        clock.now += timedelta(seconds=1)
        busy = bot.driver.slash_command("U0BRUNO", RANKING, "/drill",
                                        "start ranking-model error-spike")  # fmt: skip
        assert "A drill of `ranking-model` is already running (run 1)" in answer_text(busy)
        move(sandbox, clock, SLOT)
        wait_until(lambda: "was skipped" in bot.transcript(), sandbox)
        assert "The scheduled drill `error-spike` of `ranking-model` was skipped: a drill" in (
            bot.transcript()
        )
        with session_scope(sandbox.runtime.engine) as session:
            assert len(session.exec(select(DrillRun)).all()) == 1
        assert bot.transcript().count("was skipped") == 1


def test_a_pre_approved_path_runs_dry_unless_held_as_for_real(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    clock = Clock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    auto = "\n    auto_execute: {max_severity: critical, veto_window: 2m}"
    runbooks = rollback_runbooks(tmp_path, receiver, extra=auto)
    with Sandbox.start(database_url=database_url, runbooks_dir=runbooks, clock=clock) as sandbox:
        bot = Bot(sandbox)
        bot.driver.slash_command("U0ALICE", RANKING, "/drill", "start ranking-model error-spike")
        sandbox.settle()
        move(sandbox, clock, clock.now + timedelta(minutes=3))
        wait_until(lambda: "drill.detected" in bot.trail_kinds(DRILL), sandbox)
        bot.driver.click("U0ELENA", RANKING, "Hold")  # not an approving role: refused
        sandbox.settle()
        move(sandbox, clock, clock.now + timedelta(minutes=2, seconds=1))
        wait_until(lambda: "drill.scored" in bot.trail_kinds(DRILL), sandbox)
        kinds = bot.trail_kinds(DRILL)
        assert "rollback.hold_refused" in kinds and "drill.approved" in kinds
        assert "pre-approved, not held" in bot.transcript()
        assert "Decided: the path was approved" in bot.transcript()
        assert receiver.calls == []
