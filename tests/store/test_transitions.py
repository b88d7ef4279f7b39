"""Decisions happen once: conditional transitions and one vote per person, on every backend."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.core.subjects import rollback_subject
from bot.store import (
    ApprovalRequest,
    ApprovalVote,
    RollbackRecommendation,
    append_trail_event,
    record_vote,
    session_scope,
    trail_for_subject,
    transition_state,
    unit_of_work,
    verify_trail,
    votes_for_request,
)


def make_recommendation(engine: Engine, now: datetime) -> int:
    with session_scope(engine) as session:
        recommendation = RollbackRecommendation(
            runbook_id="ranking-model",
            runbook_version=3,
            path_id="flag-off",
            requested_by="releasebot",
            trigger={"error_rate": 0.031},
            created_at=now,
            updated_at=now,
        )
        session.add(recommendation)
        session.flush()
        assert recommendation.id is not None
        return recommendation.id


def make_request(engine: Engine, now: datetime, recommendation_id: int) -> int:
    with session_scope(engine) as session:
        request = ApprovalRequest(
            subject=rollback_subject(recommendation_id),
            action="rollback",
            recommendation_id=recommendation_id,
            roles={"oncall": ["S0ONCALL"]},
            quorum=2,
            requested_by="U0ALICE",
            created_at=now,
            updated_at=now,
        )
        session.add(request)
        session.flush()
        assert request.id is not None
        return request.id


def state_of(engine: Engine, recommendation_id: int) -> str:
    with Session(engine) as session:
        recommendation = session.get(RollbackRecommendation, recommendation_id)
        assert recommendation is not None
        return recommendation.state


def test_only_the_first_of_two_callers_moves_a_pending_recommendation(
    engine: Engine, now: datetime
) -> None:
    recommendation_id = make_recommendation(engine, now)
    with session_scope(engine) as session:
        first = transition_state(
            session,
            model=RollbackRecommendation,
            row_id=recommendation_id,
            from_states="pending",
            to_state="approved",
            now=now,
            values={"decided_at": now},
        )
    with session_scope(engine) as session:
        second = transition_state(
            session,
            model=RollbackRecommendation,
            row_id=recommendation_id,
            from_states=["pending"],
            to_state="rejected",
            now=now,
        )
    assert (first, second) == (True, False)
    assert state_of(engine, recommendation_id) == "approved"


def test_a_transition_of_an_unknown_row_wins_nothing(engine: Engine, now: datetime) -> None:
    with session_scope(engine) as session:
        assert not transition_state(
            session,
            model=RollbackRecommendation,
            row_id=999,
            from_states="pending",
            to_state="approved",
            now=now,
        )


def test_racing_threads_decide_a_recommendation_exactly_once(engine: Engine, now: datetime) -> None:
    """Eight replicas see the same approval quorum at once; one executes, one event is kept."""
    recommendation_id = make_recommendation(engine, now)
    subject = rollback_subject(recommendation_id)
    start = threading.Barrier(8)

    def decide(worker: int) -> bool:
        start.wait()
        with session_scope(engine) as session:
            won = transition_state(
                session,
                model=RollbackRecommendation,
                row_id=recommendation_id,
                from_states="pending",
                to_state="approved",
                now=now,
            )
            if won:
                append_trail_event(
                    session,
                    kind="rollback.approved",
                    actor="releasebot",
                    subject=subject,
                    at=now,
                    payload={"worker": worker},
                )
            return won

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(decide, range(8)))

    assert outcomes.count(True) == 1
    with engine.connect() as connection:
        assert [event.kind for event in trail_for_subject(connection, subject=subject)] == [
            "rollback.approved"
        ]
    assert verify_trail(engine).intact


def test_on_call_clicks_approve_twice_and_one_vote_counts(engine: Engine, now: datetime) -> None:
    request_id = make_request(engine, now, make_recommendation(engine, now))
    with session_scope(engine) as session:
        first = record_vote(
            session,
            request_id=request_id,
            user_id="U0BOB",
            decision="approve",
            role="oncall",
            now=now,
            action_ts="1.1",
        )
    with session_scope(engine) as session:
        again = record_vote(
            session,
            request_id=request_id,
            user_id="U0BOB",
            decision="reject",
            role="oncall",
            now=now,
            action_ts="1.2",
        )
        other = record_vote(
            session, request_id=request_id, user_id="U0CAROL", decision="approve", now=now
        )
    assert (first, again, other) == (True, False, True)
    with session_scope(engine) as session:
        votes = votes_for_request(session, request_id=request_id)
    assert [(vote.user_id, vote.decision) for vote in votes] == [
        ("U0BOB", "approve"),
        ("U0CAROL", "approve"),
    ]
    assert votes[0].created_at == now


def test_simultaneous_double_clicks_store_one_vote(engine: Engine, now: datetime) -> None:
    request_id = make_request(engine, now, make_recommendation(engine, now))
    start = threading.Barrier(6)

    def click(_: int) -> bool:
        start.wait()
        with session_scope(engine) as session:
            return record_vote(
                session, request_id=request_id, user_id="U0BOB", decision="approve", now=now
            )

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(click, range(6))).count(True) == 1
    with session_scope(engine) as session:
        count = session.execute(select(func.count()).select_from(ApprovalVote)).scalar_one()
    assert count == 1


def test_a_vote_and_its_trail_event_commit_or_fail_together(engine: Engine, now: datetime) -> None:
    request_id = make_request(engine, now, make_recommendation(engine, now))
    subject = rollback_subject(1)
    with pytest.raises(RuntimeError, match="notifier down"):
        with session_scope(engine) as session:
            record_vote(
                session, request_id=request_id, user_id="U0BOB", decision="approve", now=now
            )
            append_trail_event(
                session, kind="approval.vote", actor="U0BOB", subject=subject, at=now
            )
            raise RuntimeError("notifier down")
    with session_scope(engine) as session:
        assert votes_for_request(session, request_id=request_id) == []
        assert trail_for_subject(session, subject=subject) == []
        assert record_vote(
            session, request_id=request_id, user_id="U0BOB", decision="approve", now=now
        )
        append_trail_event(session, kind="approval.vote", actor="U0BOB", subject=subject, at=now)
    with session_scope(engine) as session:
        assert len(votes_for_request(session, request_id=request_id)) == 1
        assert [event.seq for event in trail_for_subject(session, subject=subject)] == [1]


def test_votes_read_ahead_count_in_memory_and_are_written_at_the_end(
    engine: Engine, now: datetime
) -> None:
    request_id = make_request(engine, now, make_recommendation(engine, now))
    with session_scope(engine) as session:
        record_vote(session, request_id=request_id, user_id="U0BOB", decision="approve", now=now)
    with unit_of_work(engine) as uow:
        session = uow.session
        uow.votes.read(session, request_ids=[request_id])
        carol = uow.votes.record_and_read(
            session, request_id=request_id, user_id="U0CAROL", decision="approve", now=now
        )
        again = uow.votes.record_and_read(
            session, request_id=request_id, user_id="U0BOB", decision="reject", now=now
        )
        assert carol is not None and [vote.user_id for vote in carol] == ["U0BOB", "U0CAROL"]
        assert again is None  # Bob voted before the transaction began
        assert votes_for_request(session, request_id=request_id)[-1].user_id == "U0BOB"
    with session_scope(engine) as session:  # Carol's vote was written as the unit ended
        votes = votes_for_request(session, request_id=request_id)
    assert [(vote.user_id, vote.created_at) for vote in votes] == [("U0BOB", now), ("U0CAROL", now)]


def test_a_vote_read_ahead_that_was_stored_meanwhile_fails_the_transaction(
    engine: Engine, now: datetime
) -> None:
    """The unique key is the last guard: if votes read ahead missed one (a writer that did not
    lock the request), the transaction fails rather than count a person twice."""
    request_id = make_request(engine, now, make_recommendation(engine, now))
    with pytest.raises(IntegrityError), unit_of_work(engine) as uow:
        session = uow.session
        uow.votes.read(session, request_ids=[request_id])
        record_vote(session, request_id=request_id, user_id="U0BOB", decision="approve", now=now)
        assert uow.votes.record_and_read(
            session, request_id=request_id, user_id="U0BOB", decision="approve", now=now
        )
    with session_scope(engine) as session:
        assert votes_for_request(session, request_id=request_id) == []
