"""Readiness reviews: start one (its release, review and gates), remind the gate owners.

Each action is one unit of work: load the state, decide, save the decision, its trail events
and the Slack work it implies (outbox jobs) in one transaction, and return what the person who
acted should be told. Nothing here talks to Slack. Marking gates and asking for the go:
``bot.services.releases.gates``; the go/no-go itself is an approval request
(``bot.services.releases.go_no_go``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from bot.core.releases import (
    GATE,
    RELEASE,
    REVIEW,
    GateStatus,
    ReviewState,
)
from bot.core.subjects import release_subject
from bot.core.trail import ACTOR_BOT
from bot.render.escaping import mrkdwn_text as esc
from bot.runbooks.registry import RunbookRegistry
from bot.services.due_work import REVIEW_REMIND, plan_gate_checks, plan_reminders, review_key
from bot.services.outbox.jobs import PostChecklist, PostInThread
from bot.services.releases.review_rows import load_review
from bot.services.replies import Reply
from bot.services.roles import (
    GroupDirectory,
    mentions,
)
from bot.store import UnitOfWork
from bot.store.inbox import claim_delivery
from bot.store.tables import GateState, ReadinessReview, Release, row_id
from bot.store.timers import cancel_timers
from bot.store.units import DirectUnits, UnitRunner

MAX_VERSION_LENGTH = 64


class ReviewService:
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
        readiness = runbook.readiness
        if readiness is None:
            return Reply(False, f"`{runbook.id}` has no readiness review in its runbook.")
        if not version or len(version) > MAX_VERSION_LENGTH or any(c.isspace() for c in version):
            return Reply(
                False, f"A version is one word of at most {MAX_VERSION_LENGTH} characters."
            )
        subject = release_subject(runbook.id, version)

        def unit(uow: UnitOfWork) -> int | None:
            session = uow.session
            if delivery_key is not None and not claim_delivery(session, key=delivery_key, now=now):
                return None
            release = Release(
                runbook_id=runbook.id,
                runbook_version=runbook.version,
                version=version,
                state=RELEASE.initial.value,
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
                state=REVIEW.initial.value,
                channel_id=channel_id,
                created_at=now,
                updated_at=now,
            )
            session.add(review)
            session.flush()
            for stage in readiness.stages:
                for gate in stage.gates:
                    session.add(
                        GateState(
                            review_id=row_id(review),
                            stage_id=stage.id,
                            gate_id=gate.id,
                            state=GATE.initial.value,
                            updated_at=now,
                        )
                    )
            session.flush()
            uow.trail(
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
                    "gates": [g.id for s in readiness.stages for g in s.gates],
                },
            )
            uow.enqueue(PostChecklist(review_id=row_id(review)), now=now)
            every = readiness.remind_every
            if every is not None:
                plan_reminders(uow, review_id=row_id(review), every=every, start=now, now=now)
            if any(gate.check is not None for stage in readiness.stages for gate in stage.gates):
                plan_gate_checks(uow, review_id=row_id(review), start=now, now=now)
            return row_id(review)

        try:
            review_id = self.units.run(unit)
        except IntegrityError:
            return Reply(
                False,
                f"Release {esc(version)} of `{runbook.id}` is already under review: "
                f"see its thread, or `/release status {runbook.id}`.",
            )
        if review_id is None:
            return Reply(True, "Already handled.")
        return Reply(True, f"Starting the readiness review of `{runbook.id}` {esc(version)}.")

    # --- time -----------------------------------------------------------------------------

    def remind(self, *, review_id: int, now: datetime) -> bool:
        """Nudge the owners of open gates in the thread; False once the review is decided."""
        return self.units.run(self.reminding(review_id=review_id, now=now))

    def reminding(self, *, review_id: int, now: datetime) -> Callable[[UnitOfWork], bool]:
        """``remind`` as a unit of work, for a timer to commit with its own completion (so a
        takeover never repeats it); once the review is decided it cancels the next reminder
        instead (False)."""

        def unit(uow: UnitOfWork) -> bool:
            rows = load_review(uow.session, review_id=review_id, runbooks=self.runbooks)
            if rows is None or rows.review.state != ReviewState.PENDING:
                cancel_timers(uow.session, kind=REVIEW_REMIND, key=review_key(review_id), now=now)
                return False
            runbook, release, review, states = rows
            open_gates = [runbook.gate(s.gate_id) for s in states if s.state == GateStatus.PENDING]
            known = [gate for gate in open_gates if gate is not None]
            owners = sorted({gate.owner for gate in known})
            titles = ", ".join(f"“{esc(gate.title)}”" for gate in known)
            uow.trail(
                kind="review.reminded",
                actor=ACTOR_BOT,
                subject=release_subject(runbook.id, release.version),
                at=now,
                channel_id=review.channel_id,
                thread_ts=release.thread_ts,
                payload={"open_gates": [gate.id for gate in known]},
            )
            text = (
                f"⏰ Reminder: {len(open_gates)} gate(s) still open: {titles}. "
                f"{mentions(runbook, owners)}"
            )
            uow.enqueue(PostInThread(review_id=review_id, text=text), now=now)
            return True

        return unit
