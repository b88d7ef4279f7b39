"""Persistence: SQLModel tables, engines and sessions, migrations, and the trail's storage.

Import what you need from here; every data-access function takes keyword arguments and a
``Session`` or ``Connection`` so that it joins the caller's transaction. The service layer
works in units of work (``UnitOfWork``: a session and the writes deferred to its end).
"""

from bot.store.engine import make_engine, read_connection, session_scope
from bot.store.migrate import current_revision, head_revision, upgrade_database
from bot.store.tables import (
    ApprovalRequest,
    ApprovalVote,
    DrillRun,
    Execution,
    GateState,
    ReadinessReview,
    Release,
    RollbackRecommendation,
    TrailEventRow,
    TrailHead,
)
from bot.store.trail import (
    UnknownSubjectError,
    append_trail_event,
    export_subject,
    read_trail_head,
    trail_for_subject,
    verify_trail,
)
from bot.store.transitions import advance, transition_state
from bot.store.unit_of_work import UnitOfWork, unit_of_work
from bot.store.votes import record_vote, votes_for_request

__all__ = [
    "ApprovalRequest",
    "ApprovalVote",
    "DrillRun",
    "Execution",
    "GateState",
    "ReadinessReview",
    "Release",
    "RollbackRecommendation",
    "TrailEventRow",
    "TrailHead",
    "UnitOfWork",
    "UnknownSubjectError",
    "advance",
    "append_trail_event",
    "current_revision",
    "export_subject",
    "head_revision",
    "make_engine",
    "read_connection",
    "read_trail_head",
    "record_vote",
    "session_scope",
    "trail_for_subject",
    "transition_state",
    "unit_of_work",
    "upgrade_database",
    "verify_trail",
    "votes_for_request",
]
