"""A drill's approval request: the rollback kind, labelled as a drill, ending the drill.

It counts votes, refuses outsiders and self-approval, escalates and expires exactly as a real
rollback does (it is the rollback kind, ``RollbackApproval``, with its own ``action`` so that
the engine's trail events and messages say *drill*). Its request's subject is ``drill:ID``, so
the whole run is one trail subject. Closing it ends the drill: an approval creates the one
dry-run Execution (the recommendation belongs to a drill, so ``dry_run`` is set and the
executor is never called) whose completion plans the report; any other outcome plans the
report at once.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlmodel import select

from bot.core.approvals import RequestState
from bot.core.drills import DRILL, DRILL_CONCLUDE, DRILL_STEP, DRILL_TIMEOUT, DrillState
from bot.core.trail import ACTOR_BOT
from bot.render.contexts import ApprovalStateContext
from bot.services.approvals.kinds import Ballot
from bot.services.approvals.requests import Join, JoinedRows
from bot.services.replies import Reply
from bot.services.rollbacks.decisions import RollbackApproval, RollbackOf
from bot.store import UnitOfWork, advance
from bot.store.tables import ApprovalRequest, DrillRun, RollbackRecommendation
from bot.store.timers import cancel_timers, schedule_timer

ACTION = "drill"
LABEL = "🧪 DRILL · "


class DrillApproval(RollbackApproval):
    """The drill kind of approval request (``ApprovalKind``)."""

    action: str = ACTION
    noun: str = "drill rollback"
    joins: tuple[Join, ...] = ()  # the rollback kind's join serves both (one reader)

    def ballot(self, request: ApprovalRequest, rows: JoinedRows) -> Ballot[RollbackOf] | Reply:
        found = super().ballot(request, rows)
        if isinstance(found, Reply):
            return found
        return replace(found, title=LABEL + found.title, prompt=LABEL + found.prompt)

    def reply_in_thread(
        self,
        uow: UnitOfWork,
        ballot: Ballot[RollbackOf],
        *,
        now: datetime,
        template: str | None = None,
        context: ApprovalStateContext | None = None,
        text: str | None = None,
    ) -> None:
        labelled = None if text is None else LABEL + text
        super().reply_in_thread(
            uow, ballot, now=now, template=template, context=context, text=labelled
        )
        if template == "approval_state" and context is not None:
            _first_response(uow, ballot, context, now=now)

    def decision_details(self, ballot: Ballot[RollbackOf], *, auto: bool) -> dict[str, Any]:
        return {**super().decision_details(ballot, auto=auto),
                "drill_run_id": ballot.about.recommendation.drill_run_id}  # fmt: skip

    def announce(
        self,
        uow: UnitOfWork,
        ballot: Ballot[RollbackOf],
        state: RequestState,
        context: ApprovalStateContext,
        *,
        now: datetime,
    ) -> None:
        super().announce(uow, ballot, state, context, now=now)
        recommendation = ballot.about.recommendation
        run_id = recommendation.drill_run_id
        if run_id is None:
            return
        end_drill(uow, run_id=run_id, outcome=state.value, recommendation=recommendation,
                  now=now, report=state is not RequestState.APPROVED)  # fmt: skip


def _first_response(
    uow: UnitOfWork, ballot: Ballot[RollbackOf], context: ApprovalStateContext, *, now: datetime
) -> None:
    """``drill.first_response`` when the vote just counted is the request's first."""
    votes = context["votes"]
    run_id = ballot.about.recommendation.drill_run_id
    if len(votes) != 1 or run_id is None:
        return
    vote = votes[0]
    at = vote["at"]
    if (datetime.fromisoformat(at) if isinstance(at, str) else at) != now:
        return  # an older vote, shown again (at the expiry, say)
    detected = ballot.request.created_at
    uow.trail(
        kind="drill.first_response", actor=vote["user"], actor_role=",".join(vote["roles"]),
        subject=f"drill:{run_id}", at=now, channel_id=ballot.request.channel_id,
        thread_ts=ballot.thread_ts,
        payload={"decision": vote["decision"], "request_id": ballot.request.id,
                 "seconds_after_recommendation": round((now - detected).total_seconds(), 3)},
    )  # fmt: skip


def lock_run(uow: UnitOfWork, run_id: int) -> DrillRun | None:
    """The run, read afresh and locked until the unit commits (PostgreSQL; SQLite has one
    writer): a step and an abort never overwrite each other's results."""
    return uow.session.exec(
        select(DrillRun)
        .where(DrillRun.id == run_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def end_drill(
    uow: UnitOfWork,
    *,
    run_id: int,
    outcome: str,
    now: datetime,
    recommendation: RollbackRecommendation | None = None,
    report: bool = True,
    reason: str | None = None,
) -> bool:
    """End a running drill once (conditionally): decided, timed out or aborted; its trail
    events (``drill.decided`` for a decision, ``drill.ended``), and its report planned unless
    a dry run must finish first. False when the run was not running."""
    run = lock_run(uow, run_id)
    if run is None:
        return False
    to_state = {
        "approved": DrillState.DECIDED,
        "rejected": DrillState.DECIDED,
        "aborted": DrillState.ABORTED,
    }.get(outcome, DrillState.TIMED_OUT)
    results = {**run.results, "outcome": outcome, "ended_at": now.isoformat()}
    if to_state is DrillState.DECIDED:
        results["decided_at"] = now.isoformat()
    if reason is not None:
        results["abort_reason"] = reason
    if not advance(
        uow.session, model=DrillRun, row_id=run_id, lifecycle=DRILL, to_state=to_state, now=now,
        from_states=[DrillState.RUNNING],
        values={"results": results, "completed_at": now,
                "decided_at": now if to_state is DrillState.DECIDED else None},
    ):  # fmt: skip
        return False
    subject = f"drill:{run_id}"
    where = {"channel_id": run.channel_id, "thread_ts": run.thread_ts}
    if to_state is DrillState.DECIDED:
        uow.trail(kind="drill.decided", actor=ACTOR_BOT, subject=subject, at=now, **where,
                  payload={"outcome": outcome, "path": recommendation.path_id
                           if recommendation else None})  # fmt: skip
    uow.trail(kind="drill.ended", actor=ACTOR_BOT, subject=subject, at=now, **where,
              payload={"state": to_state.value, "outcome": outcome, "reason": reason})
    for kind in (DRILL_STEP, DRILL_TIMEOUT):  # what is left of the run is not wanted now
        cancel_timers(uow.session, kind=kind, key=subject, now=now)
    if report:
        schedule_timer(uow.session, kind=DRILL_CONCLUDE, key=subject, due_at=now, now=now)
    return True
