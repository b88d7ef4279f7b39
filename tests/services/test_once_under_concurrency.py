"""Endorse and validate are conditional state changes: two at once give one trail event and
one post, on SQLite and on PostgreSQL (issue 14: both used to win on PostgreSQL, because the
check was made in Python and the update moved ``succeeded`` to ``succeeded`` unconditionally).

On PostgreSQL both transactions are made to read the unendorsed row before either writes
(the endorsing role is a user group, and the test's directory holds each thread at the group
look-up, which ``roles_of`` makes inside the unit); SQLite has one writer, so there the two
simply run at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from bot.runbooks.files import load_runbooks
from bot.runbooks.registry import RunbookRegistry
from bot.services.replies import Reply
from bot.services.rollbacks.executions import ExecutionService
from bot.store import TrailEventRow, read_connection, session_scope
from bot.store.engine import is_sqlite
from bot.store.outbox import OutboxJob
from bot.store.tables import ApprovalRequest, Execution, RollbackRecommendation, row_id
from bot.store.transitions import table_of
from tests.slack.support import copy_runbooks

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
LEADS = "S0LEADS"


class HeldDirectory:
    """Members of the leads' group; with ``barrier``, each look-up waits for the other
    thread's, so both units have read the execution before either updates it."""

    def __init__(self, barrier: threading.Barrier | None) -> None:
        self.barrier = barrier

    def members(self, group_id: str) -> frozenset[str]:
        if self.barrier is not None:
            self.barrier.wait(timeout=10)
        return frozenset({"U0CHIARA", "U0BRUNO"})


@pytest.fixture
def runbooks(tmp_path: Path) -> RunbookRegistry:
    folder = copy_runbooks(
        tmp_path, {"ranking-model.yaml": ('ml_lead: ["U0CHIARA"]', f'ml_lead: ["{LEADS}"]')}
    )
    found = load_runbooks(folder)
    assert not found.problems, found.problems
    return RunbookRegistry(found.runbooks)


@pytest.fixture
def executed(engine: Engine) -> Iterator[tuple[int, int]]:
    """A rollback of ranking-model whose execution succeeded and is being watched:
    (request id, execution id)."""
    with session_scope(engine) as session:
        recommendation = RollbackRecommendation(
            runbook_id="ranking-model", runbook_version=1, path_id="previous-model",
            state="executed", requested_by="monitoring", channel_id="C0RANKREL",
            message_ts="1.0", created_at=NOW, updated_at=NOW,
        )  # fmt: skip
        session.add(recommendation)
        session.flush()
        request = ApprovalRequest(
            subject=f"rollback:{recommendation.id}", action="rollback",
            recommendation_id=recommendation.id, path_id="previous-model",
            requested_by="monitoring", state="approved", channel_id="C0RANKREL",
            created_at=NOW, updated_at=NOW,
        )  # fmt: skip
        execution = Execution(
            recommendation_id=row_id(recommendation), idempotency_key="rollback-1-request-1",
            path_id="previous-model", executor="webhook", state="succeeded",
            validation_state="watching", started_at=NOW, finished_at=NOW,
            created_at=NOW, updated_at=NOW,
        )  # fmt: skip
        session.add_all([request, execution])
        session.flush()
        ids = (row_id(request), row_id(execution))
    yield ids


def both_at_once(calls: list[object]) -> list[object]:
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        results[index] = calls[index]()  # type: ignore[operator]

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def counts(engine: Engine, kind: str, text: str) -> tuple[int, int]:
    events, jobs = table_of(TrailEventRow), table_of(OutboxJob)
    with read_connection(engine) as connection:
        trail = connection.execute(
            select(func.count()).select_from(events).where(events.c.kind == kind)
        ).scalar_one()
        posts = [
            payload
            for payload in connection.execute(select(jobs.c.payload)).scalars()
            if text in str(payload)
        ]
    return int(trail), len(posts)


def test_two_endorsements_at_once_give_one_event_and_one_post(
    engine: Engine, runbooks: RunbookRegistry, executed: tuple[int, int]
) -> None:
    request_id, execution_id = executed
    barrier = None if is_sqlite(engine) else threading.Barrier(2)
    service = ExecutionService(
        engine=engine, runbooks=runbooks, directory=HeldDirectory(barrier), secrets={},
        clock=lambda: NOW,
    )  # fmt: skip
    replies = both_at_once(
        [
            lambda user=user: service.endorse(request_id=request_id, user_id=user, now=NOW)
            for user in ("U0CHIARA", "U0BRUNO")
        ]
    )
    assert all(isinstance(reply, Reply) for reply in replies)
    won = [reply for reply in replies if isinstance(reply, Reply) and reply.ok]
    lost = [reply for reply in replies if isinstance(reply, Reply) and not reply.ok]
    assert len(won) == 1 and len(lost) == 1
    assert "Already endorsed by" in lost[0].text
    assert counts(engine, "rollback.endorsed", "endorsed the restored state") == (1, 1)
    with session_scope(engine) as session:
        row = session.get(Execution, execution_id)
        assert row is not None and row.endorsed_by in ("U0CHIARA", "U0BRUNO")
        assert lost[0].text == f"Already endorsed by <@{row.endorsed_by}>."


def test_two_validations_at_once_give_one_event_and_one_post(
    engine: Engine, runbooks: RunbookRegistry, executed: tuple[int, int]
) -> None:
    _, execution_id = executed
    service = ExecutionService(
        engine=engine, runbooks=runbooks, directory=HeldDirectory(None), secrets={},
        clock=lambda: NOW,
    )  # fmt: skip
    later = NOW + timedelta(minutes=21)
    results = both_at_once(
        [lambda: service.validate(execution_id=execution_id, now=later) for _ in range(2)]
    )
    assert sorted(bool(result) for result in results) == [False, True]
    assert counts(engine, "rollback.validated", "validation_result")[0] == 1
