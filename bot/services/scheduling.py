"""What the services ask of the scheduler (``bot.scheduler.runner``), always after commit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol


class ReviewScheduling(Protocol):
    """What readiness reviews ask for: the go/no-go's expiry, reminders of open gates."""

    def schedule_expiry(self, *, request_id: int, at: datetime) -> None: ...

    def schedule_reminders(self, *, review_id: int, every: timedelta, start: datetime) -> None: ...

    def schedule_gate_checks(self, *, review_id: int, start: datetime) -> None: ...


class RollbackScheduling(Protocol):
    def schedule_expiry(self, *, request_id: int, at: datetime) -> None: ...

    def schedule_escalation(self, *, request_id: int, at: datetime) -> None: ...

    def schedule_auto_execute(self, *, request_id: int, at: datetime) -> None: ...

    def schedule_validation(self, *, execution_id: int, at: datetime) -> None: ...
