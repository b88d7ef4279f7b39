"""From metric samples to a rollback recommendation in the release channel.

``on_samples`` is called after monitoring's samples are stored: it evaluates the runbook's
criteria from their stored states, and on a breach posts (or updates) the recommendation with
its approval request. A recommendation is bound to its evidence (path, severity, breached
metrics): when the evidence changes before quorum, the old request is superseded and its
votes are void, and the thread says so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.core.criteria import CriterionState
from bot.core.decision import Decision, auto_execute_at, decide_on
from bot.core.runbook import Runbook
from bot.core.trail import ACTOR_BOT, rollback_subject
from bot.render.escaping import mrkdwn_text as esc
from bot.services import jobs
from bot.services.history import last_rollback_at, path_records
from bot.services.ledger import row_id, trail
from bot.services.registry import RunbookRegistry
from bot.services.replies import Reply
from bot.services.rollback_views import recommendation_context
from bot.services.scheduling import RollbackScheduling
from bot.store import session_scope, transition_state
from bot.store.criterion_states import current_evaluations
from bot.store.inbox import claim_delivery
from bot.store.locks import lock_key
from bot.store.tables import ApprovalRequest, Release, RollbackRecommendation

MONITORING = "monitoring"


def fingerprint(decision: Decision) -> list[Any]:
    assert decision.recommendation is not None
    return [
        decision.recommendation.path.id,
        decision.severity,
        sorted(e.metric for e in decision.breached),
    ]


class RollbackService:
    def __init__(
        self,
        *,
        engine: Engine,
        runbooks: RunbookRegistry,
        scheduling: RollbackScheduling | None = None,
    ) -> None:
        self.engine = engine
        self.runbooks = runbooks
        self.scheduling = scheduling

    def evaluate(self, session: Session, *, runbook: Runbook, now: datetime) -> Decision:
        # Each criterion's stored replay: a few rows, however long the history. The past
        # rollbacks matter only to a breach (cooldown, ranking): read them only then.
        evaluations = current_evaluations(session, runbook=runbook, now=now)
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
        with session_scope(self.engine) as session:
            decision = self.evaluate(session, runbook=runbook, now=now)
            if decision.recommendation is None:
                return decision.summary()
            scheduled = self._recommend(
                session,
                runbook=runbook,
                decision=decision,
                now=now,
                requested_by=MONITORING,
                reason=None,
            )
        self._schedule(scheduled)
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
        with session_scope(self.engine) as session:
            decision = self.evaluate(session, runbook=runbook, now=now)
            if decision.recommendation is None:
                lines = [f"No rollback recommended for `{runbook.id}`: {esc(decision.summary())}"]
                lines += [
                    f"• `{e.metric}` {e.state}: {esc(e.explanation)}" for e in decision.criteria
                ]
                return Reply(True, "\n".join(lines))
            scheduled = self._recommend(
                session,
                runbook=runbook,
                decision=decision,
                now=now,
                requested_by=user_id,
                reason=reason,
            )
        self._schedule(scheduled)
        channels = ", ".join(f"<#{c}>" for c in runbook.channels[:1])
        return Reply(
            True,
            f"Recommended `{decision.recommendation.path.id}` for `{runbook.id}`; see {channels}.",
        )

    # --- recommending ---------------------------------------------------------------------

    def _recommend(
        self,
        session: Session,
        *,
        runbook: Runbook,
        decision: Decision,
        now: datetime,
        requested_by: str,
        reason: str | None,
    ) -> list[Any]:
        # one recommendation per runbook, even when two replicas evaluate at once
        lock_key(session, key=f"rollbacks:{runbook.id}")
        active = session.exec(
            select(RollbackRecommendation)
            .where(
                RollbackRecommendation.runbook_id == runbook.id,
                col(RollbackRecommendation.state).in_(("pending", "held")),
                col(RollbackRecommendation.drill_run_id).is_(None),
            )
            .order_by(col(RollbackRecommendation.id).desc())
        ).first()
        if active is None:
            return self._open(
                session,
                runbook=runbook,
                decision=decision,
                now=now,
                requested_by=requested_by,
                reason=reason,
            )
        if active.trigger.get("fingerprint") == fingerprint(decision):
            self._refresh(
                session, runbook=runbook, recommendation=active, decision=decision, now=now
            )
            return []
        return self._supersede(
            session, runbook=runbook, recommendation=active, decision=decision, now=now
        )

    def _request_for(
        self, session: Session, recommendation: RollbackRecommendation
    ) -> ApprovalRequest | None:
        return session.exec(
            select(ApprovalRequest)
            .where(
                ApprovalRequest.recommendation_id == recommendation.id,
                col(ApprovalRequest.state).in_(("pending", "held")),
            )
            .order_by(col(ApprovalRequest.id).desc())
        ).first()

    def _open(
        self,
        session: Session,
        *,
        runbook: Runbook,
        decision: Decision,
        now: datetime,
        requested_by: str,
        reason: str | None,
    ) -> list[Any]:
        assert decision.recommendation is not None and decision.severity is not None
        path = decision.recommendation.path
        channel_id, thread_ts, release_id = self._placement(session, runbook)
        recommendation = RollbackRecommendation(
            runbook_id=runbook.id,
            runbook_version=runbook.version,
            release_id=release_id,
            path_id=path.id,
            state="pending",
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
        session.add(recommendation)
        session.flush()
        request = self._new_request(
            session, runbook=runbook, recommendation=recommendation, decision=decision, now=now
        )
        auto_at = auto_execute_at(runbook, decision)
        subject = rollback_subject(row_id(recommendation))
        trail(
            session,
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
        context = self._context(runbook, request, decision, now, requested_by, auto_at)
        recommendation.trigger = {**recommendation.trigger, "context": context}
        session.add(recommendation)
        jobs.post_rollback(
            session,
            recommendation_id=row_id(recommendation),
            template="rollback_recommendation",
            context=context,
            now=now,
            as_root=True,
        )
        return [
            ("request", row_id(request), runbook, decision.recommendation.approval, now),
            *([("auto", row_id(request), auto_at)] if auto_at is not None else []),
        ]

    def _new_request(
        self,
        session: Session,
        *,
        runbook: Runbook,
        recommendation: RollbackRecommendation,
        decision: Decision,
        now: datetime,
    ) -> ApprovalRequest:
        assert decision.recommendation is not None
        rule = decision.recommendation.approval
        request = ApprovalRequest(
            subject=rollback_subject(row_id(recommendation)),
            action="rollback",
            recommendation_id=recommendation.id,
            path_id=decision.recommendation.path.id,
            roles={role: list(runbook.roles.get(role, [])) for role in rule.roles},
            quorum=rule.required_total,
            requested_by=recommendation.requested_by,
            state="pending",
            expires_at=now + rule.expires_after,
            channel_id=recommendation.channel_id,
            message_ts=recommendation.message_ts,
            created_at=now,
            updated_at=now,
        )
        session.add(request)
        session.flush()
        return request

    def _refresh(
        self,
        session: Session,
        *,
        runbook: Runbook,
        recommendation: RollbackRecommendation,
        decision: Decision,
        now: datetime,
    ) -> None:
        """Same evidence, newer values: update the message in place, post nothing new."""
        request = self._request_for(session, recommendation)
        if request is None:
            return
        auto = auto_execute_at(runbook, decision)
        auto_at = (
            request.created_at + (auto - decision.now)
            if auto is not None and request.state == "pending"
            else None
        )
        context = self._context(
            runbook, request, decision, now, recommendation.requested_by, auto_at
        )
        context["detected_at"] = request.created_at.isoformat()
        recommendation.trigger = {**recommendation.trigger, "context": context}
        session.add(recommendation)
        jobs.update_rollback(
            session,
            recommendation_id=row_id(recommendation),
            template="rollback_recommendation",
            context=context,
            now=now,
        )

    def _supersede(
        self,
        session: Session,
        *,
        runbook: Runbook,
        recommendation: RollbackRecommendation,
        decision: Decision,
        now: datetime,
    ) -> list[Any]:
        """The evidence changed before quorum: void the votes, ask again on the new evidence."""
        assert decision.recommendation is not None
        old = self._request_for(session, recommendation)
        subject = rollback_subject(row_id(recommendation))
        if old is not None and not transition_state(
            session,
            model=ApprovalRequest,
            row_id=row_id(old),
            from_states=("pending", "held"),
            to_state="superseded",
            now=now,
            values={"decided_at": now},
        ):
            return []
        before = recommendation.trigger.get("fingerprint")
        recommendation.path_id = decision.recommendation.path.id
        recommendation.trigger = {
            **recommendation.trigger,
            "fingerprint": fingerprint(decision),
            "severity": decision.severity,
        }
        recommendation.updated_at = now
        session.add(recommendation)
        request = self._new_request(
            session, runbook=runbook, recommendation=recommendation, decision=decision, now=now
        )
        trail(
            session,
            kind="approval.voided",
            actor=ACTOR_BOT,
            subject=subject,
            at=now,
            channel_id=recommendation.channel_id,
            thread_ts=recommendation.thread_ts,
            message_ts=recommendation.message_ts,
            payload={
                "old_request_id": old.id if old else None,
                "new_request_id": request.id,
                "evidence_before": before,
                "evidence_now": fingerprint(decision),
            },
        )
        jobs.post_rollback_text(
            session,
            recommendation_id=row_id(recommendation),
            now=now,
            text=(
                f"⚠️ The evidence changed ({_describe(before)} → "
                f"{_describe(fingerprint(decision))}) before the decision: earlier "
                "votes are void. Please vote again on the updated recommendation."
            ),
        )
        auto_at = auto_execute_at(runbook, decision)
        context = self._context(
            runbook, request, decision, now, recommendation.requested_by, auto_at
        )
        recommendation.trigger = {**recommendation.trigger, "context": context}
        session.add(recommendation)
        jobs.update_rollback(
            session,
            recommendation_id=row_id(recommendation),
            template="rollback_recommendation",
            context=context,
            now=now,
        )
        return [
            ("request", row_id(request), runbook, decision.recommendation.approval, now),
            *([("auto", row_id(request), auto_at)] if auto_at is not None else []),
        ]

    # --- helpers --------------------------------------------------------------------------

    def _placement(self, session: Session, runbook: Runbook) -> tuple[str, str | None, int | None]:
        """The runbook's first channel, in the active release's thread when there is one."""
        release = session.exec(
            select(Release)
            .where(
                Release.runbook_id == runbook.id,
                col(Release.state).in_(("reviewing", "go")),
                col(Release.thread_ts).is_not(None),
            )
            .order_by(col(Release.id).desc())
        ).first()
        if release is not None and release.channel_id is not None:
            return release.channel_id, release.thread_ts, release.id
        return runbook.channels[0], None, None

    @staticmethod
    def _context(
        runbook: Runbook,
        request: ApprovalRequest,
        decision: Decision,
        now: datetime,
        requested_by: str,
        auto_at: datetime | None,
    ) -> dict[str, Any]:
        assert decision.recommendation is not None and decision.severity is not None
        return recommendation_context(
            runbook,
            request_id=row_id(request),
            recommendation=decision.recommendation,
            evaluations=decision.criteria,
            severity=decision.severity,
            detected_at=now,
            requested_by=None if requested_by == MONITORING else requested_by,
            expires_at=request.expires_at or now,
            auto_execute_at=auto_at,
        )

    def _schedule(self, scheduled: list[Any]) -> None:
        if self.scheduling is None:
            return
        for item in scheduled:
            if item[0] == "request":
                _, request_id, runbook, rule, now = item
                self.scheduling.schedule_expiry(request_id=request_id, at=now + rule.expires_after)
                delay = rule.escalation_delay
                if delay is not None:
                    self.scheduling.schedule_escalation(request_id=request_id, at=now + delay)
            elif item[0] == "auto":
                self.scheduling.schedule_auto_execute(request_id=item[1], at=item[2])

    def record_alert_without_value(
        self, *, runbook_id: str, metric: str, key: str, now: datetime
    ) -> None:
        """A firing alert we cannot judge (no value): say so once, never call it healthy."""
        runbook = self.runbooks.get(runbook_id)
        if runbook is None:
            return
        with session_scope(self.engine) as session:
            if not claim_delivery(session, key=key, now=now):
                return
            jobs.post_message(
                session,
                channel_id=runbook.channels[0],
                now=now,
                text=(
                    f"❔ Monitoring reports `{esc(metric)}` of `{runbook.id}` firing without a "
                    "value, so I cannot judge it against the runbook: insufficient data, "
                    "not healthy. Check the alert's `value` annotation."
                ),
            )


def _describe(evidence: Any) -> str:
    if not isinstance(evidence, list) or len(evidence) != 3:
        return "unknown"
    path, severity, metrics = evidence
    return f"`{path}` at {severity} for {', '.join(metrics) or 'nothing'}"
