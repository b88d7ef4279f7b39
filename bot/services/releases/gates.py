"""The gates of a readiness review: who may mark them, marking one once, and what the marked
gates mean for the review (``bot.core.releases``): blocked by a failure, or the go asked for.

Each mark is one unit of work (locked on the review, so gates marked at once are marked in
turn and one of them sees the others); user groups are looked up before it, never inside it
(``resolving_groups``). A refusal is recorded in the trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Engine

from bot.core.gate_checks import CheckResult
from bot.core.releases import (
    GATE,
    RELEASE,
    REVIEW,
    GateStatus,
    Readiness,
    ReleaseState,
    ReviewState,
    gates_verdict,
)
from bot.core.runbook import Gate
from bot.core.subjects import release_subject
from bot.core.trail import ACTOR_BOT
from bot.render.escaping import mrkdwn_text as esc
from bot.runbooks.registry import RunbookRegistry
from bot.services.approvals.clicks import MISPLACED_TEXT, Clicked, misplaced
from bot.services.outbox.jobs import PostInThread, UpdateChecklist
from bot.services.releases.contexts import gate_update_context
from bot.services.releases.go_no_go import open_go_no_go
from bot.services.releases.review_rows import ReviewRows, load_review
from bot.services.replies import Reply
from bot.services.roles import GroupDirectory, MembershipUnavailable, resolving_groups, roles_of
from bot.store import UnitOfWork, advance
from bot.store.gate_checks import checks_of
from bot.store.locks import lock_row
from bot.store.tables import GateState, ReadinessReview, Release, row_id
from bot.store.units import DirectUnits, UnitRunner

GateOutcome = Literal["passed", "failed", "waived"]


@dataclass(frozen=True)
class _GateAt:
    """A gate being marked: the review's rows, the runbook's gate and its stored state."""

    rows: ReviewRows
    gate: Gate
    state: GateState
    check: CheckResult | None = None  # the bot's proposal, for a self-checking gate


class GateService:
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

    def check_gate(
        self,
        *,
        review_id: int,
        gate_id: str,
        outcome: GateOutcome,
        user_id: str,
        now: datetime,
        clicked: Clicked | None = None,
    ) -> Reply:
        """May ``user_id`` mark this gate? A refusal is recorded in the trail (used before
        asking for a reason, so nobody types one only to be refused)."""

        def attempt(groups: GroupDirectory) -> Reply:
            def unit(uow: UnitOfWork) -> Reply:
                found = self._gate_at(
                    uow, review_id=review_id, gate_id=gate_id, user_id=user_id, outcome=outcome,
                    now=now,
                )  # fmt: skip
                if isinstance(found, Reply):
                    return found
                refusal = self._gate_refusal(
                    uow, found, user_id=user_id, outcome=outcome, groups=groups, now=now,
                    clicked=clicked,
                )  # fmt: skip
                return refusal or Reply(True, found.gate.title)

            return self.units.run(unit)

        return resolving_groups(self.directory, attempt)

    def mark_gate(
        self,
        *,
        review_id: int,
        gate_id: str,
        outcome: GateOutcome,
        user_id: str,
        now: datetime,
        reason: str | None = None,
        clicked: Clicked | None = None,
    ) -> Reply:
        def attempt(groups: GroupDirectory) -> Reply:
            def unit(uow: UnitOfWork) -> Reply:
                found = self._gate_at(
                    uow, review_id=review_id, gate_id=gate_id, user_id=user_id, outcome=outcome,
                    now=now,
                )  # fmt: skip
                if isinstance(found, Reply):
                    return found
                refusal = self._gate_refusal(
                    uow, found, user_id=user_id, outcome=outcome, groups=groups, now=now,
                    clicked=clicked,
                )  # fmt: skip
                if refusal is not None:
                    return refusal
                return self._mark(uow, found, outcome=outcome, user_id=user_id, reason=reason,
                                  now=now)  # fmt: skip

            return self.units.run(unit)

        return resolving_groups(self.directory, attempt)

    def _gate_at(
        self, uow: UnitOfWork, *, review_id: int, gate_id: str, user_id: str,
        outcome: GateOutcome, now: datetime,
    ) -> _GateAt | Reply:  # fmt: skip
        """The gate to mark; a gate the runbook no longer has is refused (and recorded)."""
        # gates marked at once must not each see the other open: mark them in turn
        lock_row(uow.session, model=ReadinessReview, row_id=review_id)
        rows = load_review(uow.session, review_id=review_id, runbooks=self.runbooks)
        if rows is None:
            return Reply(False, "This review no longer exists.")
        state = next((s for s in rows.gates if s.gate_id == gate_id), None)
        gate = rows.runbook.gate(gate_id)
        if state is None or gate is None:
            uow.trail(
                kind="gate.refused",
                actor=user_id,
                subject=release_subject(rows.runbook.id, rows.release.version),
                at=now,
                channel_id=rows.review.channel_id,
                thread_ts=rows.release.thread_ts,
                payload={"gate": gate_id, "outcome": outcome, "why": "unknown_gate",
                         "roles_held": None},
            )  # fmt: skip
            return Reply(False, f"The runbook has no gate `{esc(gate_id)}` any more.")
        check = checks_of(uow.session, review_id=review_id).get(gate_id) if gate.check else None
        return _GateAt(rows, gate, state, check)

    def _gate_refusal(
        self,
        uow: UnitOfWork,
        found: _GateAt,
        *,
        user_id: str,
        outcome: GateOutcome,
        groups: GroupDirectory,
        now: datetime,
        clicked: Clicked | None = None,
    ) -> Reply | None:
        """Why ``user_id`` may not mark this gate now, or None; every refusal goes to the
        trail (``gate.refused``: who, the owner role if they hold it, why)."""
        (runbook, _, review, _), gate, state = found.rows, found.gate, found.state

        def refuse(why: str, text: str, held: bool | None, **detail: str | None) -> Reply:
            return self._refuse(
                uow, found, user_id=user_id, outcome=outcome, now=now, why=why, text=text,
                held=held, detail=detail,
            )  # fmt: skip

        wrong = misplaced(
            clicked, channel_id=review.channel_id, message_ts=review.message_ts,
            thread_ts=found.rows.release.thread_ts,
        )  # fmt: skip
        if wrong is not None and clicked is not None:
            text = MISPLACED_TEXT.format(noun="review")
            refused = refuse(wrong, text, None, **clicked.details())
            return Reply(False, refused.text, misplaced=True)
        try:
            held = gate.owner in roles_of(runbook, user_id, groups, among=[gate.owner])
        except MembershipUnavailable as error:
            return refuse(
                "membership_unavailable",
                f"I could not check that you are in *{gate.owner}* ({esc(error)}), "
                "so nothing was recorded. Try again shortly.",
                None,
                detail=str(error),
            )
        if not held:
            return refuse(
                "not_owner",
                f"Only members of *{gate.owner}* can mark "
                f"“{esc(gate.title)}”; nothing was recorded.",
                False,
                owner_role=gate.owner,
            )
        if state.state != GateStatus.PENDING:
            return self._already_marked(uow, found, user_id=user_id, outcome=outcome, now=now)
        if review.state != ReviewState.PENDING:
            text = f"This review takes no more marks ({review.state}); nothing was recorded."
            return refuse("review_closed", text, True, review_state=review.state)
        return None

    def _already_marked(
        self, uow: UnitOfWork, found: _GateAt, *, user_id: str, outcome: GateOutcome,
        now: datetime,
    ) -> Reply:  # fmt: skip
        gate, state = found.gate, found.state
        return self._refuse(
            uow, found, user_id=user_id, outcome=outcome, now=now, why="already_marked",
            text=f"“{esc(gate.title)}” was already marked {state.state} by "
            f"<@{state.marked_by}>.",
            held=True, detail={"marked": state.state, "marked_by": state.marked_by},
        )  # fmt: skip

    def _refuse(
        self,
        uow: UnitOfWork,
        found: _GateAt,
        *,
        user_id: str,
        outcome: GateOutcome,
        now: datetime,
        why: str,
        text: str,
        held: bool | None,
        detail: dict[str, str | None],
    ) -> Reply:
        """Record a refused mark (``held``: whether they hold the owner role; None: unknown)."""
        (runbook, release, review, _), gate = found.rows, found.gate
        uow.trail(
            kind="gate.refused",
            actor=user_id,
            actor_role=gate.owner if held else None,
            subject=release_subject(runbook.id, release.version),
            at=now,
            channel_id=review.channel_id,
            thread_ts=release.thread_ts,
            payload={
                "gate": gate.id,
                "outcome": outcome,
                "why": why,
                "roles_held": None if held is None else [gate.owner] if held else [],
                **detail,
            },
        )
        return Reply(False, text)

    def _mark(
        self,
        uow: UnitOfWork,
        found: _GateAt,
        *,
        outcome: GateOutcome,
        user_id: str,
        reason: str | None,
        now: datetime,
    ) -> Reply:
        """Mark the gate (once), say so in the thread, and decide what the review does next
        (a go/no-go asked for plans its expiry in this unit)."""
        (runbook, release, review, states), gate, state = found.rows, found.gate, found.state
        check = found.check
        overrides = check is not None and check.proposal is not None and (
            f"{check.proposal}ed" != outcome
        )
        if overrides and not reason:
            assert check is not None
            return Reply(
                False,
                f"The bot proposes {check.proposal} for “{esc(gate.title)}”: overriding it "
                "needs a reason; nothing was recorded.",
            )
        won = advance(
            uow.session, model=GateState, row_id=row_id(state), lifecycle=GATE,
            to_state=GateStatus(outcome), now=now,
            values={"marked_by": user_id, "marked_by_role": gate.owner, "note": reason,
                    "marked_at": now},
        )  # fmt: skip
        uow.session.refresh(state)
        if not won:  # a double click, or another replica, got there first
            marked = _GateAt(found.rows, gate, state)
            return self._already_marked(uow, marked, user_id=user_id, outcome=outcome, now=now)
        uow.trail(
            kind=f"gate.{outcome}",
            actor=user_id,
            actor_role=gate.owner,
            subject=release_subject(runbook.id, release.version),
            at=now,
            channel_id=review.channel_id,
            thread_ts=release.thread_ts,
            payload={
                "gate": gate.id, "title": gate.title, "reason": reason,
                **(_check_payload(check, overrides) if check is not None else {}),
            },
        )  # fmt: skip
        states = [s if s.id != state.id else state for s in states]
        review_id = row_id(review)
        uow.enqueue(UpdateChecklist(review_id=review_id), now=now)
        context = gate_update_context(runbook, release, review, state, states, check)
        uow.enqueue(
            PostInThread(review_id=review_id, template="gate_update", context=context), now=now
        )
        self._after_gates(uow, review_id=review_id, now=now)
        return Reply(True, f"Marked “{esc(gate.title)}” {outcome}.")

    def proposal_of(self, *, review_id: int, gate_id: str) -> str | None:
        """The bot's proposal for a self-checking gate (``pass``/``fail``), if it made one."""

        def unit(uow: UnitOfWork) -> str | None:
            check = checks_of(uow.session, review_id=review_id).get(gate_id)
            return check.proposal if check is not None else None

        return self.units.run(unit)

    def _after_gates(self, uow: UnitOfWork, *, review_id: int, now: datetime) -> None:
        """When no gate is open: block on a failure, otherwise ask for the go."""
        rows = load_review(uow.session, review_id=review_id, runbooks=self.runbooks)
        assert rows is not None
        runbook, release, review, _ = rows
        verdict = gates_verdict(rows.gate_statuses())
        if verdict.readiness is Readiness.OPEN:
            return None
        if verdict.readiness is Readiness.BLOCKED:
            if advance(
                uow.session, model=ReadinessReview, row_id=review_id, lifecycle=REVIEW,
                to_state=ReviewState.NO_GO, from_states=[ReviewState.PENDING], now=now,
                values={"decided_by": ACTOR_BOT, "decided_at": now},
            ):  # fmt: skip
                advance(
                    uow.session, model=Release, row_id=row_id(release), lifecycle=RELEASE,
                    to_state=ReleaseState.NO_GO, now=now,
                )  # fmt: skip
                uow.trail(
                    kind="release.blocked",
                    actor=ACTOR_BOT,
                    subject=release_subject(runbook.id, release.version),
                    at=now,
                    channel_id=review.channel_id,
                    thread_ts=release.thread_ts,
                    payload={"failed_gates": list(verdict.failed)},
                )
                text = (
                    f"⛔ Release {esc(release.version)} is blocked: failed gate(s) "
                    + ", ".join(f"`{g}`" for g in verdict.failed)
                    + ". No go/no-go is requested."
                )
                uow.enqueue(PostInThread(review_id=review_id, text=text), now=now)
            return None
        if not advance(
            uow.session, model=ReadinessReview, row_id=review_id, lifecycle=REVIEW,
            to_state=ReviewState.AWAITING_GO, now=now,
        ):  # fmt: skip
            return
        open_go_no_go(uow, rows, now=now)


def _check_payload(check: CheckResult, overrides: bool) -> dict[str, object]:
    """What the trail keeps of a self-checking gate's proposal when its owner marks it."""
    return {"proposal": check.proposal, "evidence": check.evidence, "override": overrides}
