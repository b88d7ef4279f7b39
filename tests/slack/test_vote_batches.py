"""Votes committed together: the requests of a batch are read ahead in one statement, and
each vote still sees the votes before it, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from bot.runbooks.files import load_runbooks
from bot.runbooks.registry import RunbookRegistry
from bot.services.approvals.requests import APPROVAL_REQUEST
from bot.services.replies import Reply
from bot.store import UnitOfWork, read_connection, verify_trail
from bot.store.tables import ApprovalRequest, ApprovalVote
from bot.store.transitions import table_of
from bot.store.units import GroupCommitter, _Queued
from tests.services.go_no_go_support import NOW, approval_engine, open_go_no_gos

ROOT = Path(__file__).resolve().parents[2]


def test_a_batch_of_votes_reads_its_requests_once_and_counts_each_vote_in_turn(
    engine: Engine,
) -> None:
    registry = RunbookRegistry(load_runbooks(ROOT / "runbooks").runbooks)
    first, second = open_go_no_gos(engine, registry, 2)
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
    votes = approval_engine(engine, registry, units=queue)

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
