"""What a unit of work writes last, just before its commit, in this order: votes counted
against votes read ahead, outbox jobs, then trail events (the chain lock, taken last).

``session_scope`` and ``GroupCommitter`` both end a transaction with ``write_deferred``.
"""

from __future__ import annotations

from sqlmodel import Session

from bot.store.outbox import append_deferred_jobs
from bot.store.trail import append_deferred_trail_events
from bot.store.transitions import write_pending_votes


def write_deferred(session: Session) -> None:
    session.flush()
    write_pending_votes(session)
    append_deferred_jobs(session)
    append_deferred_trail_events(session)
