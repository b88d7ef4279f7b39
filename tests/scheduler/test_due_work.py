"""The reviews' and rollbacks' timers, on SQLite and PostgreSQL: planned by the services in
the unit of work that decides them, and each due action done once per (kind, key, due time),
even when a replica's claim is taken over while its handler runs (issue 14: reminders and
escalations were not guarded, so a takeover repeated them)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from bot.runbooks.files import load_runbooks
from bot.runbooks.registry import RunbookRegistry
from bot.scheduler.handlers import ReleaseJobs
from bot.scheduler.worker import LeaseLost, TimerWorker
from bot.services.due_work import REQUEST_ESCALATE, REQUEST_EXPIRE, REVIEW_REMIND
from bot.services.releases.reviews import ReviewService
from bot.services.roles import StaticDirectory
from bot.services.rollbacks.decisions import RollbackDecisions
from bot.services.rollbacks.executions import ExecutionService
from bot.store import TrailEventRow, UnitOfWork, read_connection, session_scope
from bot.store.outbox import OutboxJob
from bot.store.tables import ApprovalRequest
from bot.store.timers import LEASE, Timer, claim_next_timer, finish_timer, schedule_timer, timers_of
from bot.store.transitions import table_of
from bot.store.units import DirectUnits
from tests.services.go_no_go_support import GROUPS, NOW, approval_engine, open_go_no_gos

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def runbooks() -> RunbookRegistry:
    found = load_runbooks(ROOT / "runbooks")
    assert not found.problems
    return RunbookRegistry(found.runbooks)


def jobs(engine: Engine, runbooks: RunbookRegistry) -> ReleaseJobs:
    directory = StaticDirectory(GROUPS)
    approvals = approval_engine(engine, runbooks)
    return ReleaseJobs(
        reviews=ReviewService(engine=engine, runbooks=runbooks, directory=directory),
        approvals=approvals,
        decisions=RollbackDecisions(
            approvals=approvals, directory=directory, units=DirectUnits(engine)
        ),
        executions=ExecutionService(
            engine=engine, runbooks=runbooks, directory=directory, secrets={}, clock=lambda: NOW
        ),
        units=DirectUnits(engine),
        after=lambda: None,
    )


def count(engine: Engine, kind: str, text: str) -> tuple[int, int]:
    """(trail events of ``kind``, outbox posts whose payload holds ``text``)."""
    events, outbox = table_of(TrailEventRow), table_of(OutboxJob)
    with read_connection(engine) as connection:
        trail = connection.execute(
            select(func.count()).select_from(events).where(events.c.kind == kind)
        ).scalar_one()
        posts = sum(text in str(p) for p in connection.execute(select(outbox.c.payload)).scalars())
    return int(trail), posts


def test_the_services_plan_their_timers_in_the_deciding_unit(
    engine: Engine, runbooks: RunbookRegistry
) -> None:
    """No scheduler at all: the services' own units stored the go/no-go's expiry (at its
    stored deadline) and the review's reminders."""
    [request_id] = open_go_no_gos(engine, runbooks, 1)
    with read_connection(engine) as connection:
        timers = {(t.kind, t.key): t for t in timers_of(connection)}
        expires_at = connection.execute(select(table_of(ApprovalRequest).c.expires_at)).scalar_one()
    assert timers[(REQUEST_EXPIRE, f"request:{request_id}")].due_at == expires_at
    reminder = timers[(REVIEW_REMIND, "review:1")]
    assert reminder.due_at == NOW + timedelta(hours=2) and reminder.repeat_seconds == 7200


@pytest.mark.parametrize(
    ("kind", "key", "trail_kind", "text"),
    [
        (REQUEST_ESCALATE, "request:1", "approval.escalated", "still waiting for a decision"),
        (REVIEW_REMIND, "review:1", "review.reminded", "Reminder:"),
    ],
)
def test_a_takeover_never_repeats_an_escalation_or_a_reminder(
    engine: Engine, runbooks: RunbookRegistry, kind: str, key: str, trail_kind: str, text: str
) -> None:
    """Replica a claims the timer and runs its handler, then stalls past its lease; replica b
    takes the timer over and does the work. When a wakes up, its work is refused whole."""
    if kind == REVIEW_REMIND:  # a review with its gates still open
        assert ReviewService(
            engine=engine, runbooks=runbooks, directory=StaticDirectory(GROUPS)
        ).start_review(
            runbook_id="fraud-model", version="v1.0.0", channel_id="C0FRAUDREL",
            user_id="U0HANNA", now=NOW,
        ).ok  # fmt: skip
    else:
        open_go_no_gos(engine, runbooks, 1)
    due = NOW + timedelta(minutes=5)
    with session_scope(engine) as session:
        schedule_timer(session, kind=kind, key=key, due_at=due, now=NOW)
    bound = jobs(engine, runbooks)
    b = TimerWorker(engine=engine, clock=lambda: due, replica="b")
    bound.register(b)

    with session_scope(engine) as session:
        claimed = claim_next_timer(session, now=due, kinds=[kind], replica="a")
    assert isinstance(claimed, Timer) and claimed.key == key
    handler = bound.remind_review if kind == REVIEW_REMIND else bound.escalate_request
    record = handler(claimed, due)
    assert count(engine, trail_kind, text) == (0, 0)  # nothing written by the handler itself

    later = due + LEASE + timedelta(seconds=1)
    assert b.run_due(later) >= 1  # a's lease ran out: b takes over and does it
    assert count(engine, trail_kind, text) == (1, 1)

    def done(uow: UnitOfWork) -> None:  # what a's worker does when its handler returns
        assert callable(record)
        record(uow)
        if not finish_timer(uow.session, timer=claimed, now=later):
            raise LeaseLost("taken over")

    with pytest.raises(LeaseLost):
        DirectUnits(engine).run(done)
    b.run_due(later + timedelta(seconds=1))
    assert count(engine, trail_kind, text) == (1, 1)
