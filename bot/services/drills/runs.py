"""Running a drill: start (by schedule or by hand), play its values, time out, abort, report.

Every step is a timer (``bot.core.drills``' kinds) and every change is conditional, so each
happens once per run however many replicas run and however often a timer is retried:

- ``start`` creates the run for its slot (``drill_runs`` is unique per runbook, drill and
  ``scheduled_for``), announces it, and plans one ``drill.step`` per scenario value and the
  ``drill.timeout``, in the same transaction;
- ``step`` stores its value in the run's own stream ``drill:ID`` (never ``live``: the sample's
  unique key makes a repeat store nothing), judges the criteria on that stream with the same
  core as a real breach, and on a breach opens the drill's recommendation and approval request
  (``drill`` kind) in the drill's thread, with the same expiry and escalation timers; no
  cooldown is read or started and no track record is changed (drills are shown apart);
- a decision, ``drill.timeout``, a real breach or rollback of the runbook, or ``/drill stop``
  ends it (``end_drill``); ``conclude`` then scores it and posts the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.core.approvals import REQUEST, RequestState
from bot.core.criteria import CriterionState, Sample
from bot.core.decision import Decision, auto_execute_at, decide_on
from bot.core.drills import (
    DRILL,
    DRILL_STEP,
    DRILL_TIMEOUT,
    ENDED,
    DrillState,
    drill_stream,
)
from bot.core.rollbacks import RECOMMENDATION, RecommendationState
from bot.core.runbook import Drill, Runbook
from bot.core.subjects import drill_subject
from bot.core.trail import ACTOR_BOT
from bot.services.drills.approval import ACTION, LABEL, end_drill, lock_run
from bot.services.drills.report import RunRecord, report_context, scored, start_context
from bot.services.outbox.jobs import PostDrill, PostRollback, UpdateRollback
from bot.services.postmortems import prompt_context
from bot.services.rollbacks.contexts import recommendation_context
from bot.services.rollbacks.requesting import MONITORING, fingerprint, refresh
from bot.store import UnitOfWork, advance
from bot.store.criterion_states import current_evaluations, record_samples
from bot.store.locks import lock_key
from bot.store.samples import Observation
from bot.store.tables import ApprovalRequest, DrillRun, RollbackRecommendation, row_id
from bot.store.timers import schedule_timer

SCHEDULE = MONITORING  # who asks, for a drill the cron schedule started (as monitoring does)
# the approval engine's timers (bot.scheduler.handlers), planned here in the deciding unit
REQUEST_EXPIRE, REQUEST_ESCALATE = "request.expire", "request.escalate"
REQUEST_AUTO_EXECUTE = "request.auto_execute"


class NotAnnounced(RuntimeError):
    """The drill's announcement is not posted yet: its thread is unknown (retried)."""


@dataclass(frozen=True)
class Started:
    run_id: int | None  # None: this slot's run already exists, or another drill runs
    text: str
    busy: bool = False  # another drill of the runbook is running


def running_run(uow: UnitOfWork, runbook_id: str) -> DrillRun | None:
    return uow.session.exec(
        select(DrillRun).where(
            DrillRun.runbook_id == runbook_id, DrillRun.state == DrillState.RUNNING
        )
    ).first()


def start_run(
    uow: UnitOfWork,
    *,
    runbook: Runbook,
    drill: Drill,
    slot: datetime,
    started_by: str | None,
    now: datetime,
) -> Started:
    """Create, announce and plan the run of ``drill`` for ``slot`` (once per slot)."""
    lock_key(uow.session, key=f"drills:{runbook.id}")
    existing = uow.session.exec(
        select(DrillRun).where(
            DrillRun.runbook_id == runbook.id, DrillRun.drill_id == drill.id,
            DrillRun.scheduled_for == slot,
        )
    ).first()  # fmt: skip
    if existing is not None:
        return Started(None, f"This drill already started (run {existing.id}).")
    busy = running_run(uow, runbook.id)
    if busy is not None:
        return Started(None, f"a drill of `{runbook.id}` is already running (run {busy.id}): "
                             f"stop it first with `/drill stop {runbook.id}`.",
                       busy=True)  # fmt: skip
    run = DrillRun(
        runbook_id=runbook.id, runbook_version=runbook.version, drill_id=drill.id,
        scheduled_for=slot, state=DRILL.initial.value,
        channel_id=drill.channel or runbook.channels[0], started_at=now,
        results={"started_by": started_by}, created_at=now, updated_at=now,
    )  # fmt: skip
    try:
        with uow.session.begin_nested():
            uow.session.add(run)
            uow.session.flush()
    except IntegrityError:  # another replica created this slot's run just now
        return Started(None, "This drill already started.")
    run_id = row_id(run)
    advance(uow.session, model=DrillRun, row_id=run_id, lifecycle=DRILL,
            to_state=DrillState.RUNNING, now=now)  # fmt: skip
    subject = drill_subject(run_id)
    uow.trail(
        kind="drill.started", actor=started_by or ACTOR_BOT, subject=subject, at=now,
        channel_id=run.channel_id,
        payload={"runbook": runbook.id, "runbook_version": runbook.version, "drill": drill.id,
                 "scheduled_for": slot.isoformat(), "started_by": started_by,
                 "metric": drill.scenario.metric, "values": list(drill.scenario.values),
                 "expected_path": drill.expected_path},
    )  # fmt: skip
    context = start_context(runbook, drill, run_id, started_at=now, started_by=started_by)
    uow.enqueue(PostDrill(drill_run_id=run_id, template="drill_start", context=context,
                          as_root=True), now=now)  # fmt: skip
    interval = drill.scenario.interval
    for index in range(len(drill.scenario.values)):
        schedule_timer(uow.session, kind=DRILL_STEP, key=subject, due_at=now + interval * index,
                       payload={"index": index}, now=now)  # fmt: skip
    schedule_timer(uow.session, kind=DRILL_TIMEOUT, key=subject, due_at=now + drill.timeout,
                   now=now)  # fmt: skip
    return Started(run_id, f"🧪 Drill `{drill.id}` of `{runbook.id}` started (run {run_id}) "
                           f"in <#{run.channel_id}>.")  # fmt: skip


def play_step(
    uow: UnitOfWork, *, runbook: Runbook, drill: Drill, run_id: int, index: int, at: datetime,
    now: datetime,
) -> None:  # fmt: skip
    """Store value ``index`` at ``at`` (its slot) in the run's stream, judge, recommend."""
    run = lock_run(uow, run_id)
    if run is None or run.state != DrillState.RUNNING or index >= len(drill.scenario.values):
        return
    value = drill.scenario.values[index]
    stream = drill_stream(run_id)
    sample = Sample(metric=drill.scenario.metric, value=value, at=at)
    record_samples(uow.session, runbook=runbook, observations=[Observation(sample)],
                   source="drill", now=now, stream=stream)  # fmt: skip
    criterion = runbook.criterion(drill.scenario.metric)
    beyond = criterion is not None and (
        value > criterion.breach_point if criterion.direction == "above"
        else value < criterion.breach_point
    )  # fmt: skip
    if beyond and "first_beyond_at" not in run.results:
        run.results = {**run.results, "first_beyond_at": at.isoformat()}
        run.updated_at = now
        uow.session.add(run)
    evaluations = current_evaluations(uow.session, runbook=runbook, now=at, stream=stream)
    if not any(e.state is CriterionState.BREACH for e in evaluations):
        return
    decision = decide_on(runbook, evaluations, at)  # no cooldown, no track record
    if decision.recommendation is None or decision.severity is None:
        return
    existing = uow.session.exec(
        select(RollbackRecommendation).where(RollbackRecommendation.drill_run_id == run_id)
    ).first()
    if existing is not None:  # one recommendation per run; newer values of the same evidence
        if existing.state == RecommendationState.PENDING and (
            existing.trigger.get("fingerprint") == fingerprint(decision)
        ):
            refresh(uow, runbook=runbook, recommendation=existing, decision=decision, now=now)
        return
    if run.thread_ts is None:
        raise NotAnnounced(f"drill run {run_id} is not announced yet")
    _recommend(uow, runbook=runbook, run=run, decision=decision, now=now)


def _recommend(
    uow: UnitOfWork, *, runbook: Runbook, run: DrillRun, decision: Decision, now: datetime
) -> None:
    run_id = row_id(run)
    rec = decision.recommendation
    assert rec is not None and decision.severity is not None
    requested_by = run.results.get("started_by") or SCHEDULE
    recommendation = RollbackRecommendation(
        runbook_id=runbook.id, runbook_version=runbook.version, drill_run_id=run_id,
        path_id=rec.path.id, state=RECOMMENDATION.initial.value, reason="drill",
        requested_by=requested_by,
        trigger={"fingerprint": fingerprint(decision), "severity": decision.severity,
                 "criteria": [[e.metric, str(e.state), e.explanation] for e in decision.criteria]},
        impact={"score": rec.score, "arithmetic": rec.arithmetic,
                "alternatives": [[a.path.id, a.score, a.reason] for a in rec.alternatives]},
        channel_id=run.channel_id, thread_ts=run.thread_ts, created_at=now, updated_at=now,
    )  # fmt: skip
    uow.session.add(recommendation)
    uow.session.flush()
    rule = rec.approval
    subject = drill_subject(run_id)
    request = ApprovalRequest(
        subject=subject, action=ACTION, recommendation_id=recommendation.id,
        path_id=rec.path.id,
        roles={role: list(runbook.roles.get(role, [])) for role in rule.roles},
        quorum=rule.required_total, requested_by=requested_by,
        state=REQUEST.initial.value, expires_at=now + rule.expires_after,
        channel_id=run.channel_id, created_at=now, updated_at=now,
    )  # fmt: skip
    uow.session.add(request)
    uow.session.flush()
    request_id = row_id(request)
    run.results = {**run.results, "recommended_path": rec.path.id,
                   "detected_at": now.isoformat()}  # fmt: skip
    uow.session.add(run)
    uow.trail(
        kind="drill.detected", actor=ACTOR_BOT, subject=subject, at=now,
        channel_id=run.channel_id, thread_ts=run.thread_ts,
        payload={"path": rec.path.id, "severity": decision.severity, "request_id": request_id,
                 "first_beyond_at": run.results.get("first_beyond_at"),
                 "explanation": rec.explanation},
    )  # fmt: skip
    auto = auto_execute_at(runbook, decision)  # pre-approved: runs unless held, as for real
    auto_at = None if auto is None else now + (auto - decision.now)
    context = recommendation_context(
        runbook, request_id=request_id, recommendation=rec, evaluations=decision.criteria,
        severity=decision.severity, detected_at=now,
        requested_by=None if requested_by == SCHEDULE else requested_by,
        expires_at=request.expires_at or now, auto_execute_at=auto_at, drill=True,
    )  # fmt: skip
    recommendation.trigger = {**recommendation.trigger, "context": context}
    uow.session.add(recommendation)
    uow.enqueue(PostRollback(recommendation_id=row_id(recommendation),
                             template="rollback_recommendation", context=context,
                             as_root=True), now=now)  # fmt: skip
    key = f"request:{request_id}"
    schedule_timer(uow.session, kind=REQUEST_EXPIRE, key=key, due_at=now + rule.expires_after,
                   now=now)  # fmt: skip
    if rule.escalation_delay is not None:
        schedule_timer(uow.session, kind=REQUEST_ESCALATE, key=key,
                       due_at=now + rule.escalation_delay, now=now)  # fmt: skip
    if auto_at is not None:
        schedule_timer(uow.session, kind=REQUEST_AUTO_EXECUTE, key=key, due_at=auto_at, now=now)


def stop_run(uow: UnitOfWork, *, run: DrillRun, outcome: str, reason: str | None,
             now: datetime, by: str | None = None) -> bool:  # fmt: skip
    """End a running drill without a decision (timed out or aborted): close its open request
    (its buttons go), say why in the thread, plan the report."""
    run_id = row_id(run)
    if not end_drill(uow, run_id=run_id, outcome=outcome, now=now, reason=reason):
        return False
    for recommendation in uow.session.exec(
        select(RollbackRecommendation).where(RollbackRecommendation.drill_run_id == run_id)
    ).all():
        for request in uow.session.exec(
            select(ApprovalRequest).where(
                ApprovalRequest.recommendation_id == recommendation.id,
                col(ApprovalRequest.state).in_(REQUEST.open_states),
            )
        ).all():
            advance(uow.session, model=ApprovalRequest, row_id=row_id(request),
                    lifecycle=REQUEST, to_state=RequestState.EXPIRED, now=now,
                    values={"decided_at": now})  # fmt: skip
        if advance(uow.session, model=RollbackRecommendation, row_id=row_id(recommendation),
                   lifecycle=RECOMMENDATION, to_state=RecommendationState.EXPIRED, now=now,
                   values={"decided_at": now}):  # fmt: skip
            shown = recommendation.trigger.get("context")
            if isinstance(shown, dict):
                context = {**shown, "decision": outcome, "auto_execute": None}
                uow.enqueue(UpdateRollback(recommendation_id=row_id(recommendation),
                                           template="rollback_recommendation",
                                           context=context), now=now)  # fmt: skip
    text = (
        f"{LABEL}⏱️ Time is up: nobody decided within the drill's timeout."
        if outcome == "timed_out"
        else f"{LABEL}🛑 Drill aborted{f' by <@{by}>' if by else ''}: {reason}"
    )
    uow.enqueue(PostDrill(drill_run_id=run_id, text=text), now=now)
    return True


def conclude_run(uow: UnitOfWork, *, runbook: Runbook, drill: Drill, run_id: int,
                 now: datetime) -> bool:  # fmt: skip
    """Score an ended run and post its report (once: the change to ``reported``)."""
    run = uow.session.get(DrillRun, run_id)
    if run is None or run.state not in ENDED:
        return False
    record = RunRecord(uow.session, run)
    result, facts = scored(runbook, drill, record)
    context = report_context(runbook, drill, record, result)
    results = {**run.results, "score": result.total, "score_arithmetic": result.arithmetic,
               "dry_run_validated": facts.dry_run_validated}  # fmt: skip
    first_vote = record.votes[0] if record.votes else None
    values = {"results": results, "acknowledged_at": first_vote and first_vote.created_at,
              "acknowledged_by": first_vote and first_vote.user_id}  # fmt: skip
    if not advance(uow.session, model=DrillRun, row_id=run_id, lifecycle=DRILL,
                   to_state=DrillState.REPORTED, now=now, values=values):  # fmt: skip
        return False
    subject = drill_subject(run_id)
    where = {"channel_id": run.channel_id, "thread_ts": run.thread_ts}
    if record.execution is not None:
        uow.trail(kind="drill.dry_run_validated" if facts.dry_run_validated
                  else "drill.dry_run_not_validated", actor=ACTOR_BOT, subject=subject, at=now,
                  **where, payload={"execution_id": record.execution.id,
                                    "result": record.execution.result})  # fmt: skip
    uow.trail(kind="drill.scored", actor=ACTOR_BOT, subject=subject, at=now, **where,
              payload={"score": result.total, "arithmetic": result.arithmetic,
                       "outcome": facts.outcome, "report": dict(context)})  # fmt: skip
    uow.enqueue(PostDrill(drill_run_id=run_id, template="drill_report", context=context), now=now)
    uow.enqueue(PostDrill(drill_run_id=run_id, template="postmortem_prompt",
                          context=prompt_context(runbook, subject)), now=now)  # fmt: skip
    return True


def abort_for_real(uow: UnitOfWork, *, runbook_id: str, why: str, now: datetime) -> bool:
    """A real breach or rollback of ``runbook_id``: abort its running drill at once (the
    chaos tools' stop condition), saying why. In the caller's unit of work."""
    run = running_run(uow, runbook_id)
    if run is None:
        return False
    return stop_run(uow, run=run, outcome="aborted", reason=why, now=now)
