"""Pending go/no-gos of the shipped fraud-model runbook, made through the services."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select

from bot.runbooks.registry import RunbookRegistry
from bot.services.approvals.engine import ApprovalEngine
from bot.services.releases.gates import GateService
from bot.services.releases.go_no_go import GoNoGo
from bot.services.releases.reviews import ReviewService
from bot.services.roles import StaticDirectory
from bot.services.rollbacks.decisions import RollbackApproval
from bot.store import read_connection
from bot.store.tables import ApprovalRequest, ReadinessReview, Release
from bot.store.transitions import table_of
from bot.store.units import UnitRunner

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
GROUPS = {"S0COMPLIANCE": ["U0JULIA", "U0KEMAL"], "S0PAYONCALL": ["U0IVAN"]}
GATES = {
    "backtest": "U0HANNA",
    "model-risk-review": "U0FARAH",
    "shadow-agreement": "U0HANNA",
    "compliance-signoff": "U0KEMAL",
}


def open_go_no_gos(
    engine: Engine, runbooks: RunbookRegistry, count: int, *, major: int = 1
) -> list[int]:
    """``count`` fraud-model releases (``v{major}.{n}.0``) with every gate passed by its owner:
    the ids of all the pending go/no-gos, oldest first."""
    reviews = ReviewService(engine=engine, runbooks=runbooks, directory=StaticDirectory(GROUPS))
    gates = GateService(engine=engine, runbooks=runbooks, directory=StaticDirectory(GROUPS))
    review_table, release_table = table_of(ReadinessReview), table_of(Release)
    for index in range(count):
        version = f"v{major}.{index}.0"
        assert reviews.start_review(
            runbook_id="fraud-model", version=version, channel_id="C0FRAUDREL",
            user_id="U0HANNA", now=NOW,
        ).ok  # fmt: skip
        with read_connection(engine) as connection:
            review_id = connection.execute(
                select(review_table.c.id)
                .join(release_table, release_table.c.id == review_table.c.release_id)
                .where(release_table.c.version == version)
            ).scalar_one()
        for gate_id, owner in GATES.items():
            assert gates.mark_gate(
                review_id=review_id, gate_id=gate_id, outcome="passed", user_id=owner, now=NOW
            ).ok
    requests = table_of(ApprovalRequest)
    with read_connection(engine) as connection:
        return list(connection.execute(select(requests.c.id).order_by(requests.c.id)).scalars())


def approval_engine(
    engine: Engine, runbooks: RunbookRegistry, units: UnitRunner | None = None
) -> ApprovalEngine:
    """The engine with both kinds of request, as ``bot.bootstrap`` builds it."""
    return ApprovalEngine(
        engine=engine,
        runbooks=runbooks,
        kinds=[GoNoGo(runbooks=runbooks), RollbackApproval(runbooks=runbooks)],
        directory=StaticDirectory(GROUPS),
        units=units,
    )
