"""The bot's proposal for each self-checking gate of a review (``bot.core.gate_checks``).

One row per review and gate, replaced by each check; ``save_check`` says whether the
proposal changed, so that the trail and the checklist hear of each new proposal once (the
evidence's figures move with every check; the stored evidence is always the latest).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Field, Session, SQLModel

from bot.core.gate_checks import CheckResult
from bot.store.columns import UTCDateTime
from bot.store.transitions import connection_of, table_of


class GateCheckRow(SQLModel, table=True):
    """A self-checking gate's latest proposal (``pass``, ``fail`` or None) and evidence."""

    __tablename__ = "gate_checks"

    review_id: int = Field(primary_key=True)
    gate_id: str = Field(primary_key=True)
    proposal: str | None = None
    evidence: str
    checked_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


GATE_CHECKS = table_of(GateCheckRow)


def save_check(
    session: Session, *, review_id: int, gate_id: str, result: CheckResult, now: datetime
) -> bool:
    """Store ``result`` (the caller holds the review's lock); whether it is a new proposal."""
    row = session.get(GateCheckRow, (review_id, gate_id))
    if row is None:
        session.add(
            GateCheckRow(
                review_id=review_id, gate_id=gate_id, proposal=result.proposal,
                evidence=result.evidence, checked_at=now,
            )  # fmt: skip
        )
        return True
    changed = row.proposal != result.proposal
    row.proposal, row.evidence, row.checked_at = result.proposal, result.evidence, now
    session.add(row)
    return changed


def checks_of(session: Session, *, review_id: int) -> dict[str, CheckResult]:
    """The stored proposal of each checked gate of ``review_id``, by gate id."""
    rows = connection_of(session).execute(
        select(GATE_CHECKS).where(GATE_CHECKS.c.review_id == review_id)
    ).all()
    return {row.gate_id: CheckResult(row.proposal, row.evidence) for row in rows}
