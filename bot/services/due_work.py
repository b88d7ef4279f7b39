"""The time-driven work the services plan, as timers (``bot.store.timers``) inside the unit of
work that decides it: a decision and its timers commit together or not at all, so a crash
between the two can never lose a timer. The handlers that run them: ``bot.scheduler.handlers``.

Every timer is unique per ``(kind, key, due_at)``: planning it again (a retry, the expiry
sweep, another replica) stores it once.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Protocol

from bot.store import UnitOfWork
from bot.store.timers import Timer, schedule_timer

REQUEST_EXPIRE = "request.expire"
REQUEST_ESCALATE = "request.escalate"
REQUEST_AUTO_EXECUTE = "request.auto_execute"
EXECUTION_VALIDATE = "execution.validate"
EXECUTION_RUN = "execution.run"
REVIEW_REMIND = "review.remind"
GATE_CHECK = "gate.check"
GATE_CHECK_EVERY = timedelta(minutes=1)


class InFlight(Protocol):
    """Work started at once on this replica under a timer it claims itself (an execution):
    which replica, for how long a claim holds, and the renewal of the lease while the work
    runs (the scheduler's ``TimerWorker``)."""

    replica: str
    lease: timedelta

    def holding(self, timer: Timer) -> AbstractContextManager[None]: ...


def request_key(request_id: int) -> str:
    return f"request:{request_id}"


def execution_key(execution_id: int) -> str:
    return f"execution:{execution_id}"


def review_key(review_id: int) -> str:
    return f"review:{review_id}"


def plan_request(
    uow: UnitOfWork,
    *,
    request_id: int,
    expires_at: datetime,
    escalate_at: datetime | None,
    now: datetime,
) -> None:
    """An approval request's expiry (at its stored deadline) and, if any, its escalation."""
    key = request_key(request_id)
    schedule_timer(uow.session, kind=REQUEST_EXPIRE, key=key, due_at=expires_at, now=now)
    if escalate_at is not None:
        schedule_timer(uow.session, kind=REQUEST_ESCALATE, key=key, due_at=escalate_at, now=now)


def plan_auto_execute(uow: UnitOfWork, *, request_id: int, at: datetime, now: datetime) -> None:
    schedule_timer(
        uow.session, kind=REQUEST_AUTO_EXECUTE, key=request_key(request_id), due_at=at, now=now
    )


def plan_validation(uow: UnitOfWork, *, execution_id: int, at: datetime, now: datetime) -> None:
    schedule_timer(
        uow.session, kind=EXECUTION_VALIDATE, key=execution_key(execution_id), due_at=at, now=now
    )


def plan_reminders(
    uow: UnitOfWork, *, review_id: int, every: timedelta, start: datetime, now: datetime
) -> None:
    """A review's reminders: every ``every`` after ``start`` until cancelled."""
    schedule_timer(
        uow.session, kind=REVIEW_REMIND, key=review_key(review_id), due_at=start + every,
        repeat_every=every, now=now,
    )  # fmt: skip


def plan_gate_checks(uow: UnitOfWork, *, review_id: int, start: datetime, now: datetime) -> None:
    """A review's self-checking gates: checked at ``start``, then every ``GATE_CHECK_EVERY``
    until no checked gate is open (``bot.scheduler.queries``)."""
    schedule_timer(
        uow.session, kind=GATE_CHECK, key=review_key(review_id), due_at=start,
        repeat_every=GATE_CHECK_EVERY, now=now,
    )  # fmt: skip
