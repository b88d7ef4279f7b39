"""The timers of reviews and rollbacks: thin handlers that call a service with ``now``.

Each handler is safe to run twice for one ``(kind, key, due_at)`` because the service's
change is conditional: expiring, auto-executing or validating again changes nothing. (A
reminder or an escalation is not guarded by its service yet: should a replica die after the
service committed but before the timer did, the takeover would repeat it; see
docs/time-driven-work.md.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import col, select

from bot.scheduler.reports import key_id, report_failed_timer
from bot.scheduler.slots import Every, Recurring
from bot.scheduler.worker import Record, TimerWorker
from bot.store import UnitOfWork
from bot.store.tables import ApprovalRequest
from bot.store.timers import Timer, cancel_timers, prune_finished_timers, schedule_timer
from bot.store.units import UnitRunner

if TYPE_CHECKING:
    from bot.services.approvals.engine import ApprovalEngine
    from bot.services.releases.reviews import ReviewService
    from bot.services.rollbacks.decisions import RollbackDecisions
    from bot.services.rollbacks.executions import ExecutionService

REQUEST_EXPIRE = "request.expire"
REQUEST_ESCALATE = "request.escalate"
REQUEST_AUTO_EXECUTE = "request.auto_execute"
EXECUTION_VALIDATE = "execution.validate"
REVIEW_REMIND = "review.remind"
EXPIRY_SWEEP = "expiry.sweep"
TIMERS_PRUNE = "timers.prune"
SYSTEM = "system"  # the key of work about nothing in particular

SWEEP_EVERY = timedelta(seconds=30)
PRUNE_EVERY = timedelta(hours=1)
KEEP_FINISHED = timedelta(days=7)
PRUNE_BATCH = 500


@dataclass
class ReleaseJobs:
    """The handlers, bound to the services they call; ``after`` wakes the workers that
    deliver what a handler queued (Slack messages, an execution)."""

    reviews: ReviewService
    approvals: ApprovalEngine
    decisions: RollbackDecisions
    executions: ExecutionService
    units: UnitRunner
    after: Callable[[], None]

    def register(self, worker: TimerWorker) -> None:
        for kind, handler in (
            (REQUEST_EXPIRE, self.expire_request),
            (REQUEST_ESCALATE, self.escalate_request),
            (REQUEST_AUTO_EXECUTE, self.auto_execute),
            (EXECUTION_VALIDATE, self.validate_execution),
            (REVIEW_REMIND, self.remind_review),
        ):
            worker.register(kind, handler, report=report_failed_timer)
        worker.register(EXPIRY_SWEEP, self.sweep)
        worker.register(TIMERS_PRUNE, self.prune)
        worker.recurring(Recurring(EXPIRY_SWEEP, SYSTEM, Every(SWEEP_EVERY)))
        worker.recurring(Recurring(TIMERS_PRUNE, SYSTEM, Every(PRUNE_EVERY)))

    def expire_request(self, timer: Timer, now: datetime) -> None:
        """An approval request (of any kind) still undecided at its deadline."""
        self.approvals.expire(request_id=key_id(timer.key, "request"), now=now)
        self.after()

    def escalate_request(self, timer: Timer, now: datetime) -> None:
        self.approvals.escalate(request_id=key_id(timer.key, "request"), now=now)
        self.after()

    def auto_execute(self, timer: Timer, now: datetime) -> None:
        self.decisions.auto_execute(request_id=key_id(timer.key, "request"), now=now)
        self.after()

    def validate_execution(self, timer: Timer, now: datetime) -> None:
        self.executions.validate(execution_id=key_id(timer.key, "execution"))
        self.after()

    def remind_review(self, timer: Timer, now: datetime) -> Record | None:
        """Remind, or (the review is decided) cancel the next reminder, planned on claim."""
        reminded = self.reviews.remind(review_id=key_id(timer.key, "review"), now=now)
        self.after()
        if reminded:
            return None

        def cancel(uow: UnitOfWork) -> None:
            cancel_timers(uow.session, kind=REVIEW_REMIND, key=timer.key, now=now)

        return cancel

    def sweep(self, timer: Timer, now: datetime) -> Record:
        """The safety net: every request undecided past its expiry gets an expiry timer, in
        case its own was never planned (the services plan timers after their commit, so a
        crash in between loses them). An expiry already planned for that time is not planned
        again, so one that failed for good stays failed, and each expiry is retried and
        reported on its own: one failing never holds up the others."""

        def plan(uow: UnitOfWork) -> None:
            session = uow.session
            overdue = session.exec(
                select(ApprovalRequest.id, ApprovalRequest.expires_at).where(
                    col(ApprovalRequest.action).in_(("go_no_go", "rollback")),
                    col(ApprovalRequest.state).in_(("pending", "held")),
                    col(ApprovalRequest.expires_at) <= now,
                )
            ).all()
            for request_id, expires_at in overdue:
                if request_id is not None and expires_at is not None:
                    schedule_timer(
                        session,
                        kind=REQUEST_EXPIRE,
                        key=f"request:{request_id}",
                        due_at=expires_at,
                        now=now,
                    )

        return plan

    def prune(self, timer: Timer, now: datetime) -> None:
        """Delete timers finished more than ``KEEP_FINISHED`` ago, in small transactions."""
        before = now - KEEP_FINISHED
        while (
            self.units.run(
                lambda uow: prune_finished_timers(uow.session, before=before, limit=PRUNE_BATCH)
            )
            == PRUNE_BATCH
        ):
            pass
