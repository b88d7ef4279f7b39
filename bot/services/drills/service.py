"""The drills' service: what ``/drill`` and the drills' timers call (see ``runs``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import col, select

from bot.core.drills import DrillState, starter_roles, trend
from bot.core.runbook import Drill, Runbook
from bot.render.escaping import mrkdwn_text as esc
from bot.runbooks.registry import RunbookRegistry
from bot.scheduler.slots import Cron
from bot.services.drills.runs import (
    Started,
    conclude_run,
    play_step,
    running_run,
    start_run,
    stop_run,
)
from bot.services.outbox.jobs import PostMessage
from bot.services.replies import Reply
from bot.services.roles import GroupDirectory, MembershipUnavailable, resolving_groups, roles_of
from bot.store import UnitOfWork
from bot.store.tables import DrillRun, row_id
from bot.store.units import DirectUnits, UnitRunner

HISTORY = 10
SECOND = timedelta(seconds=1)


class DrillService:
    def __init__(
        self,
        *,
        engine: Engine,
        runbooks: RunbookRegistry,
        directory: GroupDirectory,
        units: UnitRunner | None = None,
    ) -> None:
        self.engine = engine
        self.runbooks = runbooks
        self.directory = directory
        self.units = units if units is not None else DirectUnits(engine)

    def _find(self, runbook_id: str, drill_id: str | None) -> tuple[Runbook, Drill | None] | Reply:
        runbook = self.runbooks.get(runbook_id)
        if runbook is None:
            return Reply(False, f"Unknown runbook `{esc(runbook_id)}`. "
                                f"{self.runbooks.known_text()}")  # fmt: skip
        if drill_id is None:
            return runbook, None
        drill = next((d for d in runbook.drills if d.id == drill_id), None)
        if drill is None:
            known = ", ".join(f"`{d.id}`" for d in runbook.drills) or "none"
            return Reply(False, f"`{runbook.id}` has no drill `{esc(drill_id)}` (drills: {known}).")
        return runbook, drill

    def _may_start(
        self, uow: UnitOfWork, runbook: Runbook, drill: Drill, user_id: str,
        groups: GroupDirectory, *, action: str, now: datetime,
    ) -> Reply | None:  # fmt: skip
        roles = starter_roles(runbook, drill)
        try:
            held = roles_of(runbook, user_id, groups, among=roles) if roles else frozenset()
        except MembershipUnavailable as error:
            return Reply(False, f"I could not check your roles ({esc(error)}); try again.")
        if held or user_id in runbook.owners:
            return None
        uow.trail(kind="drill.refused", actor=user_id,
                  subject=f"drill:{runbook.id}.{drill.id}", at=now,
                  payload={"action": action, "runbook": runbook.id, "drill": drill.id,
                           "why": "not_a_starter", "starters": roles})  # fmt: skip
        named = ", ".join(f"*{r}*" for r in roles) or "the runbook's owners"
        return Reply(False, f"Only {named} (or the runbook's owners) may {action} drills of "
                            f"`{runbook.id}`; this refusal is in the trail.")  # fmt: skip

    # --- by hand ------------------------------------------------------------------------------

    def start_by_hand(
        self, *, runbook_id: str, drill_id: str, user_id: str, now: datetime
    ) -> Reply:
        found = self._find(runbook_id, drill_id)
        if isinstance(found, Reply):
            return found
        runbook, drill = found
        assert drill is not None

        def attempt(groups: GroupDirectory) -> Reply:
            def unit(uow: UnitOfWork) -> Reply:
                refused = self._may_start(uow, runbook, drill, user_id, groups, action="start",
                                          now=now)  # fmt: skip
                if refused is not None:
                    return refused
                started = start_run(uow, runbook=runbook, drill=drill, slot=now,
                                    started_by=user_id, now=now)  # fmt: skip
                text = started.text[:1].upper() + started.text[1:]
                return Reply(started.run_id is not None, text)

            return self.units.run(unit)

        return resolving_groups(self.directory, attempt)

    def stop_by_hand(self, *, runbook_id: str, user_id: str, now: datetime) -> Reply:
        found = self._find(runbook_id, None)
        if isinstance(found, Reply):
            return found
        runbook = found[0]

        def attempt(groups: GroupDirectory) -> Reply:
            def unit(uow: UnitOfWork) -> Reply:
                run = running_run(uow, runbook.id)
                drill = self._drill_of(run) if run is not None else None
                if run is None or drill is None:
                    return Reply(False, f"No drill of `{runbook.id}` is running.")
                refused = self._may_start(uow, runbook, drill[1], user_id, groups, action="stop",
                                          now=now)  # fmt: skip
                if refused is not None:
                    return refused
                stop_run(uow, run=run, outcome="aborted", now=now, by=user_id,
                         reason="stopped by hand (`/drill stop`)")  # fmt: skip
                return Reply(True, f"Drill run {run.id} of `{runbook.id}` stopped.")

            return self.units.run(unit)

        return resolving_groups(self.directory, attempt)

    # --- timers -------------------------------------------------------------------------------

    def _drill_of(self, run: DrillRun) -> tuple[Runbook, Drill] | None:
        runbook = self.runbooks.get(run.runbook_id)
        drill = next((d for d in runbook.drills if d.id == run.drill_id), None) if runbook else None
        return None if runbook is None or drill is None else (runbook, drill)

    def start_scheduled(
        self, *, runbook_id: str, drill_id: str, slot: datetime, now: datetime
    ) -> bool:
        """The cron slot ``slot`` of a drill came: start its run (once per slot)."""
        found = self._find(runbook_id, drill_id)
        if isinstance(found, Reply) or found[1] is None:
            return False  # the drill was removed from the runbook: nothing to do
        runbook, drill = found[0], found[1]
        if Cron(drill.schedule, drill.timezone).next_after(slot - SECOND) != slot:
            return False  # planned under a schedule the runbook no longer has

        def unit(uow: UnitOfWork) -> Started:
            started = start_run(uow, runbook=runbook, drill=drill, slot=slot, started_by=None,
                                now=now)  # fmt: skip
            if started.run_id is None and started.busy:
                text = f"🧪 The scheduled drill `{drill.id}` of `{runbook.id}` was skipped: "
                uow.enqueue(PostMessage(channel_id=drill.channel or runbook.channels[0],
                                        text=text + started.text), now=now)  # fmt: skip
            return started

        return self.units.run(unit).run_id is not None

    def step(self, *, run_id: int, index: int, at: datetime, now: datetime) -> None:
        def unit(uow: UnitOfWork) -> None:
            run = uow.session.get(DrillRun, run_id)
            found = self._drill_of(run) if run is not None else None
            if found is not None:
                play_step(uow, runbook=found[0], drill=found[1], run_id=run_id, index=index,
                          at=at, now=now)  # fmt: skip

        self.units.run(unit)

    def time_out(self, *, run_id: int, now: datetime) -> bool:
        def unit(uow: UnitOfWork) -> bool:
            run = uow.session.get(DrillRun, run_id)
            if run is None or run.state != DrillState.RUNNING:
                return False
            return stop_run(uow, run=run, outcome="timed_out", reason=None, now=now)

        return self.units.run(unit)

    def conclude(self, *, run_id: int, now: datetime) -> bool:
        def unit(uow: UnitOfWork) -> bool:
            run = uow.session.get(DrillRun, run_id)
            found = self._drill_of(run) if run is not None else None
            if found is None:
                return False
            return conclude_run(uow, runbook=found[0], drill=found[1], run_id=run_id, now=now)

        return self.units.run(unit)

    # --- reading ------------------------------------------------------------------------------

    def describe_list(self, *, runbook_id: str | None, now: datetime) -> str:
        runbooks = [self.runbooks.get(runbook_id)] if runbook_id else list(self.runbooks)
        lines = []
        for runbook in runbooks:
            if runbook is None:
                return f"Unknown runbook `{esc(runbook_id or '')}`. {self.runbooks.known_text()}"
            for drill in runbook.drills:
                next_at = Cron(drill.schedule, drill.timezone).next_after(now)
                local = next_at.astimezone(_zone(drill.timezone)).strftime(
                    "%a %Y-%m-%d %H:%M %Z") if next_at else "never"  # fmt: skip
                lines.append(f"• `{runbook.id}` `{drill.id}`: {esc(drill.title)}; next "
                             f"{local} ({drill.timezone}), `{drill.schedule}`")  # fmt: skip
        return "🧪 *Drills*\n" + ("\n".join(lines) or "_No runbook has drills._")

    def recent(self, runbook_id: str, limit: int = HISTORY) -> list[DrillRun]:
        def unit(uow: UnitOfWork) -> list[DrillRun]:
            return list(uow.session.exec(
                select(DrillRun).where(DrillRun.runbook_id == runbook_id)
                .order_by(col(DrillRun.id).desc()).limit(limit)
            ).all())  # fmt: skip

        return self.units.run(unit)

    def describe_history(self, *, runbook_id: str) -> str:
        found = self._find(runbook_id, None)
        if isinstance(found, Reply):
            return found.text
        runs = self.recent(runbook_id)
        if not runs:
            return f"No drill of `{runbook_id}` has run yet."
        lines = [f"🧪 *Last drills of `{runbook_id}`* (newest first)"]
        for run in runs:
            results = run.results
            score = results.get("score")
            lines.append(
                f"• run {row_id(run)} `{run.drill_id}` "
                f"{(run.started_at or run.created_at).strftime('%Y-%m-%d %H:%M')} UTC: "
                f"{results.get('outcome', run.state).replace('_', ' ')}"
                + (f", score *{score}*/100" if score is not None else f" ({run.state})")
            )
        scores = [r.results["score"] for r in reversed(runs) if "score" in r.results]
        lines.append(f"Trend: {trend(scores)}")
        return "\n".join(lines)


def _zone(name: str):  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
