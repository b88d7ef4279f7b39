"""From metric samples to a rollback recommendation in the release channel.

``on_samples`` is called after monitoring's samples are stored: it evaluates the runbook's
criteria from their stored states, and on a breach posts (or updates) the recommendation with
its approval request. A recommendation is bound to its evidence (path, severity, breached
metrics): when the evidence changes before quorum, the old request is superseded and its
votes are void, and the thread says so (``bot.services.rollbacks.requesting``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.core.criteria import CriterionState
from bot.core.decision import Decision, auto_execute_at, decide_on
from bot.core.query_evidence import with_reading
from bot.core.releases import ReleaseState
from bot.core.rollbacks import RECOMMENDATION, RecommendationState
from bot.core.runbook import Runbook
from bot.core.subjects import rollback_subject
from bot.core.trail import ACTOR_BOT
from bot.render.escaping import mrkdwn_text as esc
from bot.runbooks.registry import RunbookRegistry
from bot.services.drills.runs import abort_for_real
from bot.services.due_work import plan_auto_execute
from bot.services.outbox.jobs import PostMessage, PostRollback
from bot.services.replies import Reply
from bot.services.rollbacks.history import last_rollback_at, path_records
from bot.services.rollbacks.requesting import (
    MONITORING,
    context_for,
    fingerprint,
    new_request,
    refresh,
    supersede,
)
from bot.store import UnitOfWork
from bot.store.criterion_states import current_evaluations
from bot.store.inbox import claim_delivery
from bot.store.locks import lock_key
from bot.store.query_readings import latest_readings
from bot.store.tables import Release, RollbackRecommendation, row_id
from bot.store.units import DirectUnits, UnitRunner


class RollbackService:
    def __init__(
        self,
        *,
        engine: Engine,
        runbooks: RunbookRegistry,
        units: UnitRunner | None = None,
    ) -> None:
        self.engine = engine
        self.runbooks = runbooks
        self.units = units if units is not None else DirectUnits(engine)

    def evaluate(self, session: Session, *, runbook: Runbook, now: datetime) -> Decision:
        # Each criterion's stored replay: a few rows, however long the history. The past
        # rollbacks matter only to a breach (cooldown, ranking): read them only then.
        evaluations = current_evaluations(session, runbook=runbook, now=now)
        if any(criterion.query is not None for criterion in runbook.criteria):
            # query-backed criteria: the query and its raw value, or why it gave none
            readings = latest_readings(session, runbook_id=runbook.id)
            evaluations = [with_reading(e, readings.get(e.metric)) for e in evaluations]
        breach = any(e.state is CriterionState.BREACH for e in evaluations)
        return decide_on(
            runbook,
            evaluations,
            now,
            records=path_records(session, runbook_id=runbook.id) if breach else None,
            last_rollback_at=last_rollback_at(session, runbook_id=runbook.id) if breach else None,
        )

    def on_samples(self, runbook_id: str, now: datetime) -> str:
        """Evaluate after new samples; returns a short account of what was decided."""
        runbook = self.runbooks.get(runbook_id)
        if runbook is None:
            return f"unknown runbook {runbook_id}"
        decision = self.units.run(
            lambda uow: self._evaluate_and_recommend(
                uow, runbook=runbook, now=now, requested_by=MONITORING, reason=None
            )
        )
        return decision.summary()

    def request_by_hand(
        self, *, runbook_id: str, user_id: str, channel_id: str, reason: str | None, now: datetime
    ) -> Reply:
        """``/rollback RUNBOOK [REASON]``: a recommendation from the latest samples."""
        runbook = self.runbooks.get(runbook_id)
        if runbook is None:
            return Reply(
                False, f"Unknown runbook `{esc(runbook_id)}`. {self.runbooks.known_text()}"
            )
        decision = self.units.run(
            lambda uow: self._evaluate_and_recommend(
                uow, runbook=runbook, now=now, requested_by=user_id, reason=reason
            )
        )
        if decision.recommendation is None:
            lines = [f"No rollback recommended for `{runbook.id}`: {esc(decision.summary())}"]
            lines += [f"• `{e.metric}` {e.state}: {esc(e.explanation)}" for e in decision.criteria]
            return Reply(True, "\n".join(lines))
        channels = ", ".join(f"<#{c}>" for c in runbook.channels[:1])
        return Reply(
            True,
            f"Recommended `{decision.recommendation.path.id}` for `{runbook.id}`; see {channels}.",
        )

    # --- recommending ---------------------------------------------------------------------

    def _evaluate_and_recommend(
        self,
        uow: UnitOfWork,
        *,
        runbook: Runbook,
        now: datetime,
        requested_by: str,
        reason: str | None,
    ) -> Decision:
        """Evaluate and, on a breach, recommend (its timers planned in this unit)."""
        decision = self.evaluate(uow.session, runbook=runbook, now=now)
        if decision.breached:  # a real breach stops a drill of the same runbook
            abort_for_real(uow, runbook_id=runbook.id, now=now, why=(
                "a real breach of " + ", ".join(f"`{e.metric}`" for e in decision.breached)
                + " was detected; deal with it first"))  # fmt: skip
        if decision.recommendation is not None:
            self._recommend(
                uow, runbook=runbook, decision=decision, now=now, requested_by=requested_by,
                reason=reason,
            )  # fmt: skip
        return decision

    def _recommend(
        self,
        uow: UnitOfWork,
        *,
        runbook: Runbook,
        decision: Decision,
        now: datetime,
        requested_by: str,
        reason: str | None,
    ) -> None:
        # one recommendation per runbook, even when two replicas evaluate at once
        lock_key(uow.session, key=f"rollbacks:{runbook.id}")
        active = uow.session.exec(
            select(RollbackRecommendation)
            .where(
                RollbackRecommendation.runbook_id == runbook.id,
                RollbackRecommendation.state == RecommendationState.PENDING,
                col(RollbackRecommendation.drill_run_id).is_(None),
            )
            .order_by(col(RollbackRecommendation.id).desc())
        ).first()
        if active is None:
            self._open(
                uow,
                runbook=runbook,
                decision=decision,
                now=now,
                requested_by=requested_by,
                reason=reason,
            )
        elif active.trigger.get("fingerprint") == fingerprint(decision):
            refresh(uow, runbook=runbook, recommendation=active, decision=decision, now=now)
        else:
            supersede(uow, runbook=runbook, recommendation=active, decision=decision, now=now)

    def _open(
        self,
        uow: UnitOfWork,
        *,
        runbook: Runbook,
        decision: Decision,
        now: datetime,
        requested_by: str,
        reason: str | None,
    ) -> None:
        assert decision.recommendation is not None and decision.severity is not None
        path = decision.recommendation.path
        channel_id, thread_ts, release_id = self._placement(uow, runbook)
        recommendation = RollbackRecommendation(
            runbook_id=runbook.id,
            runbook_version=runbook.version,
            release_id=release_id,
            path_id=path.id,
            state=RECOMMENDATION.initial.value,
            reason=reason,
            requested_by=requested_by,
            trigger={
                "fingerprint": fingerprint(decision),
                "severity": decision.severity,
                "criteria": [[e.metric, str(e.state), e.explanation] for e in decision.criteria],
            },
            impact={
                "score": decision.recommendation.score,
                "arithmetic": decision.recommendation.arithmetic,
                "alternatives": [
                    [a.path.id, a.score, a.reason] for a in decision.recommendation.alternatives
                ],
            },
            channel_id=channel_id,
            thread_ts=thread_ts,
            created_at=now,
            updated_at=now,
        )
        uow.session.add(recommendation)
        uow.session.flush()
        request = new_request(
            uow, runbook=runbook, recommendation=recommendation, decision=decision, now=now
        )
        auto_at = auto_execute_at(runbook, decision)
        subject = rollback_subject(row_id(recommendation))
        uow.trail(
            kind="rollback.recommended",
            actor=requested_by if requested_by != MONITORING else ACTOR_BOT,
            subject=subject,
            at=now,
            channel_id=channel_id,
            thread_ts=thread_ts,
            payload={
                "runbook": runbook.id,
                "runbook_version": runbook.version,
                "path": path.id,
                "severity": decision.severity,
                "reason": reason,
                "request_id": request.id,
                "explanation": decision.recommendation.explanation,
                "criteria": recommendation.trigger["criteria"],
                "auto_execute_at": auto_at,
            },
        )
        context = context_for(runbook, request, decision, now, requested_by, auto_at)
        recommendation.trigger = {**recommendation.trigger, "context": context}
        uow.session.add(recommendation)
        root = PostRollback(
            recommendation_id=row_id(recommendation),
            template="rollback_recommendation",
            context=context,
            as_root=True,
        )
        uow.enqueue(root, now=now)
        if auto_at is not None:
            plan_auto_execute(uow, request_id=row_id(request), at=auto_at, now=now)

    # --- helpers --------------------------------------------------------------------------

    def _placement(self, uow: UnitOfWork, runbook: Runbook) -> tuple[str, str | None, int | None]:
        """The runbook's first channel, in the active release's thread when there is one."""
        release = uow.session.exec(
            select(Release)
            .where(
                Release.runbook_id == runbook.id,
                col(Release.state).in_((ReleaseState.REVIEWING, ReleaseState.GO)),
                col(Release.thread_ts).is_not(None),
            )
            .order_by(col(Release.id).desc())
        ).first()
        if release is not None and release.channel_id is not None:
            return release.channel_id, release.thread_ts, release.id
        return runbook.channels[0], None, None

    def record_alert_without_value(
        self, *, runbook_id: str, metric: str, key: str, now: datetime
    ) -> None:
        """A firing alert we cannot judge (no value): say so once, never call it healthy."""
        runbook = self.runbooks.get(runbook_id)
        if runbook is None:
            return
        text = (
            f"❔ Monitoring reports `{esc(metric)}` of `{runbook.id}` firing without a "
            "value, so I cannot judge it against the runbook: insufficient data, "
            "not healthy. Check the alert's `value` annotation."
        )

        def unit(uow: UnitOfWork) -> None:
            if claim_delivery(uow.session, key=key, now=now):
                uow.enqueue(PostMessage(channel_id=runbook.channels[0], text=text), now=now)

        self.units.run(unit)
