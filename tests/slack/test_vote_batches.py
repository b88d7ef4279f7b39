"""Votes committed together: the requests of a batch are read ahead in one statement, and
each vote still sees the votes before it, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from bot.runbooks.files import load_runbooks
from bot.runbooks.registry import RunbookRegistry
from bot.services.approvals.engine import ApprovalEngine
from bot.services.approvals.requests import APPROVAL_REQUEST
from bot.services.releases.gates import GateService
from bot.services.releases.go_no_go import GoNoGo
from bot.services.releases.reviews import ReviewService
from bot.services.replies import Reply
from bot.services.roles import StaticDirectory
from bot.services.rollbacks.decisions import RollbackApproval
from bot.store import UnitOfWork, read_connection, verify_trail
from bot.store.tables import ApprovalRequest, ApprovalVote, ReadinessReview, Release
from bot.store.transitions import table_of
from bot.store.units import GroupCommitter, _Queued

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
GROUPS = {"S0COMPLIANCE": ["U0JULIA", "U0KEMAL"], "S0PAYONCALL": ["U0IVAN"]}
GATES = {
    "backtest": "U0HANNA",
    "model-risk-review": "U0FARAH",
    "shadow-agreement": "U0HANNA",
    "compliance-signoff": "U0KEMAL",
}


def _pending_go_no_gos(engine: Engine, registry: RunbookRegistry, count: int) -> list[int]:
    reviews = ReviewService(engine=engine, runbooks=registry, directory=StaticDirectory(GROUPS))
    gates = GateService(engine=engine, runbooks=registry, directory=StaticDirectory(GROUPS))
    for index in range(count):
        version = f"v1.{index}.0"
        assert reviews.start_review(
            runbook_id="fraud-model", version=version, channel_id="C0FRAUDREL",
            user_id="U0HANNA", now=NOW,
        ).ok  # fmt: skip
        review_table, release_table = table_of(ReadinessReview), table_of(Release)
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


def test_a_batch_of_votes_reads_its_requests_once_and_counts_each_vote_in_turn(
    engine: Engine,
) -> None:
    registry = RunbookRegistry(load_runbooks(ROOT / "runbooks").runbooks)
    first, second = _pending_go_no_gos(engine, registry, 2)
    directory = StaticDirectory(GROUPS)
    committer = GroupCommitter(engine)
    read_ahead: list[list[int]] = []

    class Queue:
        """Takes the units the engine hands over, so that they can be committed as one batch."""

        def __init__(self) -> None:
            self.units: list[_Queued] = []

        def run(self, unit: Callable[[UnitOfWork], Reply]) -> Reply:
            self.units.append(_Queued(unit))
            return Reply(True, "queued")

    queue = Queue()
    votes = ApprovalEngine(
        engine=engine,
        runbooks=registry,
        kinds=[GoNoGo(runbooks=registry), RollbackApproval(runbooks=registry)],
        directory=directory,
        units=queue,
    )

    def prefetch(uow: UnitOfWork, request_ids: list[int]) -> None:
        read_ahead.append(request_ids)
        votes.prefetch(uow, request_ids)

    committer.prefetch(APPROVAL_REQUEST, prefetch)
    later = NOW + timedelta(minutes=1)
    for request_id, user_id in [
        (first, "U0JULIA"),  # compliance
        (first, "U0JULIA"),  # her double click, in the same transaction
        (first, "U0FARAH"),  # risk officer: with Julia, the quorum
        (second, "U0JULIA"),
    ]:
        votes.vote(request_id=request_id, user_id=user_id, decision="approve", now=later)
    batch = queue.units
    committer._commit(batch)
    replies = [queued.future.result() for queued in batch]
    assert [reply.text for reply in replies] == [
        "Approval recorded.",
        "Your vote was already counted; it counts once.",
        "Approval recorded.",
        "Approval recorded.",
    ]
    assert committer.batches == 1  # one transaction for the four clicks
    assert read_ahead == [[first, second]]  # both requests read (and locked) in one statement
    requests, stored = table_of(ApprovalRequest), table_of(ApprovalVote)
    with read_connection(engine) as connection:
        states = dict(connection.execute(select(requests.c.id, requests.c.state)).all())
        voters = connection.execute(
            select(stored.c.request_id, stored.c.user_id).order_by(stored.c.id)
        ).all()
    assert states == {first: "approved", second: "pending"}
    assert [tuple(row) for row in voters] == [
        (first, "U0JULIA"),
        (first, "U0FARAH"),
        (second, "U0JULIA"),
    ]
    assert verify_trail(engine).intact
