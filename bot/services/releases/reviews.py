"""Readiness reviews: start one, mark gates, decide the go/no-go, expire, remind.

Each function is one unit of work: load the state, ask the core, save the decision, its
trail events and the Slack work it implies (outbox jobs) in one transaction, and return what
the person who acted should be told. Nothing here talks to Slack directly.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.core.trail import ACTOR_BOT, release_subject
from bot.render.escaping import mrkdwn_text as esc
from bot.runbooks.registry import RunbookRegistry
from bot.services.ledger import review_bundle, row_id, trail
from bot.services.outbox import jobs
from bot.services.releases.contexts import (
    checklist_context,
    gate_update_context,
    go_no_go_context,
)
from bot.services.replies import Reply
from bot.services.roles import GroupDirectory, MembershipUnavailable, roles_of
from bot.store import session_scope, transition_state
from bot.store.inbox import claim_delivery
from bot.store.locks import lock_row
from bot.store.tables import ApprovalRequest, ApprovalVote, GateState, ReadinessReview, Release

GateOutcome = Literal["passed", "failed", "waived"]
MAX_VERSION_LENGTH = 64


class Scheduling(Protocol):
    """What the reviews ask of the scheduler (``bot.scheduler.runner``), after commit."""

    def schedule_expiry(self, *, request_id: int, at: datetime) -> None: ...

    def schedule_reminders(self, *, review_id: int, every: timedelta, start: datetime) -> None: ...


class ReviewService:
    def __init__(
        self,
        *,
        engine: Engine,
        runbooks: RunbookRegistry,
        directory: GroupDirectory,
        scheduling: Scheduling | None = None,
    ) -> None:
        self.engine = engine
        self.runbooks = runbooks
        self.directory = directory
        self.scheduling = scheduling

    # --- starting -------------------------------------------------------------------------

    def start_review(
        self,
        *,
        runbook_id: str,
        version: str,
        channel_id: str,
        user_id: str,
        now: datetime,
        source: str = "slash_command",
        delivery_key: str | None = None,
    ) -> Reply:
        runbook = self.runbooks.get(runbook_id)
        if runbook is None:
            return Reply(
                False, f"Unknown runbook `{esc(runbook_id)}`. {self.runbooks.known_text()}"
            )
        if channel_id not in runbook.channels:
            channels = ", ".join(f"<#{c}>" for c in runbook.channels)
            return Reply(False, f"`{runbook.id}` does not watch this channel; use {channels}.")
        if runbook.readiness is None:
            return Reply(False, f"`{runbook.id}` has no readiness review in its runbook.")
        if not version or len(version) > MAX_VERSION_LENGTH or any(c.isspace() for c in version):
            return Reply(
                False, f"A version is one word of at most {MAX_VERSION_LENGTH} characters."
            )
        subject = release_subject(runbook.id, version)
        review_id: int | None = None
        try:
            with session_scope(self.engine) as session:
                if delivery_key is not None and not claim_delivery(
                    session, key=delivery_key, now=now
                ):
                    return Reply(True, "Already handled.")
                release = Release(
                    runbook_id=runbook.id,
                    runbook_version=runbook.version,
                    version=version,
                    state="reviewing",
                    started_by=user_id,
                    channel_id=channel_id,
                    created_at=now,
                    updated_at=now,
                )
                session.add(release)
                session.flush()
                review = ReadinessReview(
                    release_id=row_id(release),
                    runbook_id=runbook.id,
                    runbook_version=runbook.version,
                    state="pending",
                    channel_id=channel_id,
                    created_at=now,
                    updated_at=now,
                )
                session.add(review)
                session.flush()
                for stage in runbook.readiness.stages:
                    for gate in stage.gates:
                        session.add(
                            GateState(
                                review_id=row_id(review),
                                stage_id=stage.id,
                                gate_id=gate.id,
                                state="pending",
                                updated_at=now,
                            )
                        )
                session.flush()
                trail(
                    session,
                    kind="release.started",
                    actor=user_id,
                    subject=subject,
                    at=now,
                    channel_id=channel_id,
                    payload={
                        "runbook_version": runbook.version,
                        "version": version,
                        "source": source,
                        "review_id": review.id,
                        "gates": [g.id for s in runbook.readiness.stages for g in s.gates],
                    },
                )
                jobs.post_checklist(session, review_id=row_id(review), now=now)
                review_id = review.id
        except IntegrityError:
            return Reply(
                False,
                f"Release {esc(version)} of `{runbook.id}` is already under review: "
                f"see its thread, or `/release status {runbook.id}`.",
            )
        every = runbook.readiness.remind_every
        if self.scheduling is not None and every is not None and review_id is not None:
            self.scheduling.schedule_reminders(review_id=review_id, every=every, start=now)
        return Reply(True, f"Starting the readiness review of `{runbook.id}` {esc(version)}.")

    # --- gates ----------------------------------------------------------------------------

    def check_gate(
        self,
        *,
        review_id: int,
        gate_id: str,
        outcome: GateOutcome,
        user_id: str,
        now: datetime,
    ) -> Reply:
        """May ``user_id`` mark this gate? A refusal is recorded in the trail (used before
        asking for a reason, so nobody types one only to be refused)."""
        with session_scope(self.engine) as session:
            found = self._gate_in(session, review_id=review_id, gate_id=gate_id)
            if isinstance(found, Reply):
                return found
            refusal = self._gate_refusal(session, found, user_id=user_id, outcome=outcome, now=now)
            return refusal or Reply(True, found[4].title)

    def _gate_in(
        self, session: Session, *, review_id: int, gate_id: str
    ) -> Reply | tuple[Any, ...]:
        # gates marked at once must not each see the other open: mark them in turn
        lock_row(session, model=ReadinessReview, row_id=review_id)
        bundle = review_bundle(session, review_id=review_id, runbooks=self.runbooks)
        if bundle is None:
            return Reply(False, "This review no longer exists.")
        runbook, release, review, states = bundle
        state = next((s for s in states if s.gate_id == gate_id), None)
        gate = runbook.gate(gate_id)
        if state is None or gate is None:
            return Reply(False, f"The runbook has no gate `{esc(gate_id)}` any more.")
        return runbook, release, review, states, gate, state

    def _gate_refusal(
        self,
        session: Session,
        found: tuple[Any, ...],
        *,
        user_id: str,
        outcome: GateOutcome,
        now: datetime,
    ) -> Reply | None:
        """Why ``user_id`` may not mark this gate now, or None; refusals go to the trail."""
        runbook, release, review, _, gate, state = found

        def refuse(why: str, text: str, **detail: str) -> Reply:
            trail(
                session,
                kind="gate.refused",
                actor=user_id,
                subject=release_subject(runbook.id, release.version),
                at=now,
                channel_id=review.channel_id,
                thread_ts=release.thread_ts,
                payload={"gate": gate.id, "outcome": outcome, "why": why, **detail},
            )
            return Reply(False, text)

        try:
            held = roles_of(runbook, user_id, self.directory, among=[gate.owner])
        except MembershipUnavailable as error:
            return refuse(
                "membership_unavailable",
                f"I could not check that you are in *{gate.owner}* ({esc(error)}), "
                "so nothing was recorded. Try again shortly.",
                detail=str(error),
            )
        if gate.owner not in held:
            return refuse(
                "not_owner",
                f"Only members of *{gate.owner}* can mark "
                f"“{esc(gate.title)}”; nothing was recorded.",
                owner_role=gate.owner,
            )
        if review.state != "pending":
            return Reply(False, f"This review is already decided ({review.state}).")
        if state.state != "pending":
            return Reply(
                False,
                f"“{esc(gate.title)}” was already marked {state.state} by <@{state.marked_by}>.",
            )
        return None

    def mark_gate(
        self,
        *,
        review_id: int,
        gate_id: str,
        outcome: GateOutcome,
        user_id: str,
        now: datetime,
        reason: str | None = None,
    ) -> Reply:
        with session_scope(self.engine) as session:
            found = self._gate_in(session, review_id=review_id, gate_id=gate_id)
            if isinstance(found, Reply):
                return found
            refusal = self._gate_refusal(session, found, user_id=user_id, outcome=outcome, now=now)
            if refusal is not None:
                return refusal
            runbook, release, review, states, gate, state = found
            won = transition_state(
                session,
                model=GateState,
                row_id=row_id(state),
                from_states="pending",
                to_state=outcome,
                now=now,
                values={
                    "marked_by": user_id,
                    "marked_by_role": gate.owner,
                    "note": reason,
                    "marked_at": now,
                },
            )
            if not won:  # a double click, or another replica, got there first
                session.refresh(state)
                return Reply(
                    False,
                    f"“{esc(gate.title)}” was already marked {state.state} "
                    f"by <@{state.marked_by}>.",
                )
            session.refresh(state)
            trail(
                session,
                kind=f"gate.{outcome}",
                actor=user_id,
                actor_role=gate.owner,
                subject=release_subject(runbook.id, release.version),
                at=now,
                channel_id=review.channel_id,
                thread_ts=release.thread_ts,
                payload={"gate": gate_id, "title": gate.title, "reason": reason},
            )
            states = [s if s.id != state.id else state for s in states]
            jobs.update_checklist(session, review_id=review_id, now=now)
            jobs.post_in_thread(
                session,
                review_id=review_id,
                template="gate_update",
                now=now,
                context=gate_update_context(runbook, release, review, state, states),
            )
            expiry = self._after_gates(session, review_id=review_id, now=now)
        if expiry is not None and self.scheduling is not None:
            self.scheduling.schedule_expiry(request_id=expiry[0], at=expiry[1])
        return Reply(True, f"Marked “{esc(gate.title)}” {outcome}.")

    def _after_gates(
        self, session: Session, *, review_id: int, now: datetime
    ) -> tuple[int, datetime] | None:
        """When the last gate is marked: block on a failure, otherwise ask for the go.

        Returns the new go/no-go request's id and expiry, to be scheduled after commit.
        """
        bundle = review_bundle(session, review_id=review_id, runbooks=self.runbooks)
        assert bundle is not None
        runbook, release, review, states = bundle
        if any(s.state == "pending" for s in states):
            return None
        assert runbook.readiness is not None
        subject = release_subject(runbook.id, release.version)
        failed = [s.gate_id for s in states if s.state == "failed"]
        if failed:
            if transition_state(
                session,
                model=ReadinessReview,
                row_id=review_id,
                from_states="pending",
                to_state="no_go",
                now=now,
                values={"decided_by": ACTOR_BOT, "decided_at": now},
            ):
                transition_state(
                    session,
                    model=Release,
                    row_id=row_id(release),
                    from_states="reviewing",
                    to_state="no_go",
                    now=now,
                )
                trail(
                    session,
                    kind="release.blocked",
                    actor=ACTOR_BOT,
                    subject=subject,
                    at=now,
                    channel_id=review.channel_id,
                    thread_ts=release.thread_ts,
                    payload={"failed_gates": failed},
                )
                jobs.post_text_in_thread(
                    session,
                    review_id=review_id,
                    now=now,
                    text=f"⛔ Release {esc(release.version)} is blocked: failed gate(s) "
                    + ", ".join(f"`{g}`" for g in failed)
                    + ". No go/no-go is requested.",
                )
            return None
        if not transition_state(
            session,
            model=ReadinessReview,
            row_id=review_id,
            from_states="pending",
            to_state="awaiting_go",
            now=now,
        ):
            return None
        rule = runbook.readiness.go_no_go
        request = ApprovalRequest(
            subject=subject,
            action="go_no_go",
            review_id=review_id,
            roles={role: list(runbook.roles.get(role, [])) for role in rule.roles},
            quorum=rule.required_total,
            requested_by=release.started_by,
            state="pending",
            expires_at=now + rule.expires_after,
            channel_id=review.channel_id,
            created_at=now,
            updated_at=now,
        )
        session.add(request)
        session.flush()
        trail(
            session,
            kind="go_no_go.requested",
            actor=ACTOR_BOT,
            subject=subject,
            at=now,
            channel_id=review.channel_id,
            thread_ts=release.thread_ts,
            payload={
                "request_id": request.id,
                "roles": dict(rule.roles),
                "quorum": rule.required_total,
                "expires_at": now + rule.expires_after,
            },
        )
        jobs.post_in_thread(
            session,
            review_id=review_id,
            template="go_no_go_request",
            now=now,
            context=go_no_go_context(runbook, release, review, request, states),
            remember_request=request.id,
        )
        return row_id(request), now + rule.expires_after

    # --- go / no-go -----------------------------------------------------------------------

    def remind(self, *, review_id: int, now: datetime) -> bool:
        """Nudge the owners of open gates in the thread; False once the review is decided."""
        with session_scope(self.engine) as session:
            bundle = review_bundle(session, review_id=review_id, runbooks=self.runbooks)
            if bundle is None or bundle[2].state != "pending":
                return False
            runbook, release, review, states = bundle
            open_gates = [runbook.gate(s.gate_id) for s in states if s.state == "pending"]
            owners = sorted({g.owner for g in open_gates if g is not None})
            mentions = " ".join(
                (f"<!subteam^{m}>" if m.startswith("S") else f"<@{m}>")
                for role in owners
                for m in runbook.roles.get(role, [])
            )
            titles = ", ".join(f"“{esc(g.title)}”" for g in open_gates if g is not None)
            trail(
                session,
                kind="review.reminded",
                actor=ACTOR_BOT,
                subject=release_subject(runbook.id, release.version),
                at=now,
                channel_id=review.channel_id,
                thread_ts=release.thread_ts,
                payload={"open_gates": [g.id for g in open_gates if g is not None]},
            )
            jobs.post_text_in_thread(
                session,
                review_id=review_id,
                now=now,
                text=f"⏰ Reminder: {len(open_gates)} gate(s) still open: {titles}. {mentions}",
            )
        return True


__all__ = ["ApprovalVote", "Reply", "ReviewService", "checklist_context"]
