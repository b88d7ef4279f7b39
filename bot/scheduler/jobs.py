"""The scheduled jobs: thin functions that call a service with ``now``.

APScheduler stores a job by the import path of its function and its arguments, so a job
cannot hold the service it calls. Each job names the database it belongs to, and the
scheduler serving that database registers itself here when it starts: the one process-wide
table in the code base, and the reason for it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.scheduler.runner import ReleaseScheduler

log = logging.getLogger(__name__)
_SCHEDULERS: dict[str, ReleaseScheduler] = {}


def bind(database_key: str, scheduler: ReleaseScheduler) -> None:
    _SCHEDULERS[database_key] = scheduler


def unbind(database_key: str, scheduler: ReleaseScheduler) -> None:
    if _SCHEDULERS.get(database_key) is scheduler:
        del _SCHEDULERS[database_key]


def _scheduler(database_key: str) -> ReleaseScheduler | None:
    scheduler = _SCHEDULERS.get(database_key)
    if scheduler is None:
        log.warning("no scheduler serves %s in this process; job skipped", database_key)
    return scheduler


def expire_request(database_key: str, request_id: int) -> None:
    """Expire an approval request (of any kind) still undecided at its deadline."""
    scheduler = _scheduler(database_key)
    if scheduler is not None:
        scheduler.approvals().expire(request_id=request_id, now=scheduler.clock())
        scheduler.wake_delivery()


def escalate_request(database_key: str, request_id: int) -> None:
    scheduler = _scheduler(database_key)
    if scheduler is not None:
        scheduler.approvals().escalate(request_id=request_id, now=scheduler.clock())
        scheduler.wake_delivery()


def auto_execute(database_key: str, request_id: int) -> None:
    scheduler = _scheduler(database_key)
    if scheduler is not None:
        scheduler.decisions().auto_execute(request_id=request_id, now=scheduler.clock())
        scheduler.wake_delivery()


def validate_execution(database_key: str, execution_id: int) -> None:
    scheduler = _scheduler(database_key)
    if scheduler is not None:
        scheduler.executions().validate(execution_id=execution_id)
        scheduler.wake_delivery()


def remind_review(database_key: str, review_id: int) -> None:
    scheduler = _scheduler(database_key)
    if scheduler is None:
        return
    if not scheduler.reviews().remind(review_id=review_id, now=scheduler.clock()):
        scheduler.cancel_reminders(review_id=review_id)
    scheduler.wake_delivery()


def sweep(database_key: str) -> None:
    """The safety net: expire whatever is overdue, even if its own job was lost."""
    scheduler = _scheduler(database_key)
    if scheduler is not None:
        if scheduler.approvals().expire_due(now=scheduler.clock()):
            scheduler.wake_delivery()
