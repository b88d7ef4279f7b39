"""A readiness review read as one value: its runbook, release, review row and gate states."""

from __future__ import annotations

from typing import NamedTuple

from sqlmodel import Session, col, select

from bot.core.releases import GateStatus
from bot.core.runbook import Runbook
from bot.runbooks.registry import RunbookRegistry
from bot.store.tables import GateState, ReadinessReview, Release


class ReviewRows(NamedTuple):
    runbook: Runbook
    release: Release
    review: ReadinessReview
    gates: list[GateState]  # in id order: the runbook's order when the review started

    def gate_statuses(self) -> list[tuple[str, GateStatus]]:
        return [(gate.gate_id, GateStatus(gate.state)) for gate in self.gates]


def load_review(
    session: Session, *, review_id: int, runbooks: RunbookRegistry
) -> ReviewRows | None:
    """The review with its release, gate states and runbook; None if any is gone."""
    review = session.get(ReadinessReview, review_id)
    if review is None:
        return None
    release = session.get(Release, review.release_id)
    runbook = runbooks.get(review.runbook_id)
    if release is None or runbook is None:
        return None
    gates = list(
        session.exec(
            select(GateState).where(GateState.review_id == review_id).order_by(col(GateState.id))
        ).all()
    )
    return ReviewRows(runbook, release, review, gates)
