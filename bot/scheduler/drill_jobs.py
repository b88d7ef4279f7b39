"""The drills' timers: thin handlers calling ``DrillService`` with the timer's ``now``.

Each runbook drill's cron ``schedule`` in its ``timezone`` is a recurring timer (kind
``drill.start``, key ``drill:RUNBOOK:DRILL``): every replica plans the same slots, the
timers' unique ``(kind, key, due_at)`` stores each once, one replica claims it, and the run
is unique per slot besides (``drill_runs``' ``uq_drill_runs_slot``). A run's steps, timeout
and report are one-off timers keyed ``drill:ID``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.core.drills import DRILL_CONCLUDE, DRILL_START, DRILL_STEP, DRILL_TIMEOUT, schedule_key
from bot.runbooks.registry import RunbookRegistry
from bot.scheduler.reports import key_id, report_failed_timer
from bot.scheduler.slots import Cron, Recurring
from bot.scheduler.worker import TimerWorker
from bot.store.timers import Timer

if TYPE_CHECKING:
    from bot.services.drills.service import DrillService


@dataclass
class DrillJobs:
    drills: DrillService
    registry: RunbookRegistry
    after: Callable[[], None]

    def register(self, worker: TimerWorker) -> None:
        worker.register(DRILL_START, self.start, report=report_failed_timer)
        worker.register(DRILL_STEP, self.step, report=report_failed_timer)
        worker.register(DRILL_TIMEOUT, self.time_out, report=report_failed_timer)
        worker.register(DRILL_CONCLUDE, self.conclude, report=report_failed_timer)
        for runbook in self.registry:
            for drill in runbook.drills:
                worker.recurring(
                    Recurring(
                        DRILL_START,
                        schedule_key(runbook.id, drill.id),
                        Cron(drill.schedule, drill.timezone),
                        payload={"runbook": runbook.id, "drill": drill.id},
                    )
                )

    def start(self, timer: Timer, now: datetime) -> None:
        runbook_id = str(timer.payload.get("runbook", ""))
        drill_id = str(timer.payload.get("drill", ""))
        self.drills.start_scheduled(
            runbook_id=runbook_id, drill_id=drill_id, slot=timer.due_at, now=now
        )
        self.after()

    def step(self, timer: Timer, now: datetime) -> None:
        index = int(timer.payload.get("index", 0))
        self.drills.step(run_id=key_id(timer.key, "drill"), index=index, at=timer.due_at, now=now)
        self.after()

    def time_out(self, timer: Timer, now: datetime) -> None:
        self.drills.time_out(run_id=key_id(timer.key, "drill"), now=now)
        self.after()

    def conclude(self, timer: Timer, now: datetime) -> None:
        self.drills.conclude(run_id=key_id(timer.key, "drill"), now=now)
        self.after()
