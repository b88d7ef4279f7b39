"""The timers of reviews and rollbacks: thin handlers that call a service with ``now``.

Each handler's effect happens once per ``(kind, key, due_at)``, however often it runs
(a takeover, a replica dying after the service's commit but before the timer's):
expiring, auto-executing and validating are conditional state changes, so running them again
changes nothing; a reminder or an escalation is not a state change, so it is returned as a
``Record`` that the worker commits with the timer's completion, only while its claim holds
(fenced): its trail event and its post are stored with the timer done, or not at all.
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
from bot.services.due_work import (
    EXECUTION_RUN,
    EXECUTION_VALIDATE,
    REQUEST_AUTO_EXECUTE,
    REQUEST_ESCALATE,
    REQUEST_EXPIRE,
    REVIEW_REMIND,
)
from bot.services.rollbacks.in_flight import resume
from bot.store import UnitOfWork
from bot.store.tables import ApprovalRequest
from bot.store.timers import Timer, prune_finished_timers, schedule_timer
from bot.store.units import UnitRunner

if TYPE_CHECKING:
    from bot.services.approvals.engine import ApprovalEngine
    from bot.services.releases.reviews import ReviewService
    from bot.services.rollbacks.decisions import RollbackDecisions
    from bot.services.rollbacks.executions import ExecutionService

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
        worker.after_record = self.after  # what a Record queued is delivered once committed
        for kind, handler in (
            (REQUEST_EXPIRE, self.expire_request),
            (REQUEST_ESCALATE, self.escalate_request),
            (REQUEST_AUTO_EXECUTE, self.auto_execute),
            (EXECUTION_VALIDATE, self.validate_execution),
            (EXECUTION_RUN, self.resume_execution),
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

    def escalate_request(self, timer: Timer, now: datetime) -> Record:
        return self.approvals.escalating(request_id=key_id(timer.key, "request"), now=now)

    def auto_execute(self, timer: Timer, now: datetime) -> None:
        self.decisions.auto_execute(request_id=key_id(timer.key, "request"), now=now)
        self.after()

    def validate_execution(self, timer: Timer, now: datetime) -> None:
        self.executions.validate(execution_id=key_id(timer.key, "execution"), now=now)
        self.after()

    def resume_execution(self, timer: Timer, now: datetime) -> Record | None:
        """An execution whose replica died while it ran: run again or reported
        (``bot.services.rollbacks.in_flight``)."""
        return resume(self.executions, execution_id=key_id(timer.key, "execution"), now=now)

    def remind_review(self, timer: Timer, now: datetime) -> Record:
        """Remind, or (the review is decided) cancel the next reminder, planned on claim."""
        return self.reviews.reminding(review_id=key_id(timer.key, "review"), now=now)

    def sweep(self, timer: Timer, now: datetime) -> Record:
        """The safety net: every request undecided past its expiry gets an expiry timer, in
        case its own was never planned (a request opened by a version that planned timers
        after its commit). An expiry already planned for that time is not planned again, so
        one that failed for good stays failed, and each expiry is retried and reported on
        its own: one failing never holds up the others."""

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
