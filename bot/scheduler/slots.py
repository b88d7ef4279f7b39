"""When recurring work is due: slot arithmetic only, the clock passed in.

Every replica plans the same slots (the same ``due_at`` for the same work), so the timers'
unique key stores each slot once and exactly one replica runs it. ``Every`` counts slots from
the Unix epoch, so they do not depend on when a replica started; ``Cron`` uses APScheduler 3's
``CronTrigger`` purely as arithmetic (``get_next_fire_time``), time zones and daylight saving
included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.triggers.cron import CronTrigger

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TICK = timedelta(microseconds=1)


class Slots(Protocol):
    def next_after(self, after: datetime) -> datetime | None:
        """The first slot strictly after ``after`` (None: there is no later one)."""
        ...


@dataclass(frozen=True)
class Every:
    """Every ``interval``, on its multiples since the Unix epoch (``Every(30 s)``: :00, :30)."""

    interval: timedelta

    def __post_init__(self) -> None:
        if self.interval <= timedelta(0):
            raise ValueError("interval must be positive")

    def next_after(self, after: datetime) -> datetime:
        elapsed = after - EPOCH
        return EPOCH + (elapsed // self.interval + 1) * self.interval


@dataclass(frozen=True)
class Cron:
    """A crontab expression (``"0 15 * * wed"``) in a time zone (an IANA name)."""

    expression: str
    timezone: str = "UTC"
    _trigger: CronTrigger = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        trigger = CronTrigger.from_crontab(self.expression, timezone=self.timezone)
        object.__setattr__(self, "_trigger", trigger)

    def next_after(self, after: datetime) -> datetime | None:
        fire: datetime | None = self._trigger.get_next_fire_time(None, after + _TICK)
        return None if fire is None else fire.astimezone(UTC)


def next_repeat(due_at: datetime, every: timedelta, now: datetime) -> datetime:
    """The next slot of a repeating timer, ``due_at + n * every``, strictly after both
    ``due_at`` and ``now``: slots missed while nobody ran are skipped, not run one by one."""
    if now < due_at:
        return due_at + every
    return due_at + ((now - due_at) // every + 1) * every


@dataclass(frozen=True)
class Recurring:
    """Work of ``kind`` about ``key`` due at every slot of ``slots``.

    Registered with a ``TimerWorker`` (``recurring``), it is planned by every replica at
    start-up (the next slot after now) and, when a slot is claimed, the one after it, in the
    claim's own transaction: a handler that fails, or a replica that dies, never stops the
    series. After an outage of every replica, the slot planned before it runs once, late,
    and the series continues from now: the slots in between are coalesced into that one run.
    """

    kind: str
    key: str
    slots: Slots
    payload: dict[str, Any] = field(default_factory=dict)
