"""The timers of monitoring: one recurring ``prometheus.query`` per query-backed criterion,
and a repeating ``gate.check`` per readiness review with self-checking gates.

Its key is ``query:RUNBOOK:METRIC`` and its slots are ``Every(interval)`` since the epoch,
the same on every replica, so each slot is stored once and run by one replica. The handler
reads the query at the slot's time (``timer.due_at``), which makes a retry or a takeover ask
the same question, and the poller skips a slot already read. A ``gate.check`` (key
``review:ID``) repeats every ``GATE_CHECK_EVERY`` from the review's start; once no checked
gate is open, it cancels its next run.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from bot.core.runbook import Runbook
from bot.scheduler.reports import key_id
from bot.scheduler.slots import Every, Recurring
from bot.scheduler.worker import Record, TimerWorker
from bot.services.due_work import GATE_CHECK as GATE_CHECK
from bot.services.due_work import GATE_CHECK_EVERY as GATE_CHECK_EVERY
from bot.store import UnitOfWork
from bot.store.timers import Timer, cancel_timers

if TYPE_CHECKING:
    from bot.services.monitoring.gate_checks import GateCheckService
    from bot.services.monitoring.queries import QueryPoller

PROMETHEUS_QUERY = "prometheus.query"


def query_key(runbook_id: str, metric: str) -> str:
    return f"query:{runbook_id}:{metric}"


def register_queries(worker: TimerWorker, poller: QueryPoller, runbooks: Iterable[Runbook]) -> int:
    """Register the handler and every query-backed criterion's series; how many there are."""

    def poll(timer: Timer, now: datetime) -> None:
        runbook_id, metric = timer.key.removeprefix("query:").split(":", 1)
        poller.poll(runbook_id=runbook_id, metric=metric, at=timer.due_at, now=now)

    worker.register(PROMETHEUS_QUERY, poll)
    count = 0
    for runbook in runbooks:
        for criterion in runbook.criteria:
            if criterion.query is not None:
                key = query_key(runbook.id, criterion.metric)
                worker.recurring(Recurring(PROMETHEUS_QUERY, key, Every(criterion.interval)))
                count += 1
    return count


def register_gate_checks(worker: TimerWorker, checks: GateCheckService) -> None:
    def check(timer: Timer, now: datetime) -> Record | None:
        if checks.check_review(review_id=key_id(timer.key, "review"), now=now):
            return None

        def stop(uow: UnitOfWork) -> None:  # nothing left to check: no next run
            cancel_timers(uow.session, kind=GATE_CHECK, key=timer.key, now=now)

        return stop

    worker.register(GATE_CHECK, check)
