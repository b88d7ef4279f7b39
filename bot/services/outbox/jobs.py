"""The Slack work a decision implies, queued in the decision's own transaction.

Each function adds one outbox job; ``bot.slack.delivery`` performs it after the commit.
Contexts are JSON-able snapshots taken when the decision was made; the checklist is the
exception, rendered from the current state whenever it is posted or updated.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlmodel import Session

from bot.store import session_scope
from bot.store.outbox import enqueue_job

POST_CHECKLIST = "post_checklist"
UPDATE_CHECKLIST = "update_checklist"
POST_IN_THREAD = "post_in_thread"
UPDATE_REQUEST_MESSAGE = "update_request_message"
EPHEMERAL = "ephemeral"
PUBLISH_HOME = "publish_home"
OPEN_VIEW = "open_view"

Db = Session | Connection


def post_checklist(db: Db, *, review_id: int, now: datetime) -> None:
    enqueue_job(db, kind=POST_CHECKLIST, payload={"review_id": review_id}, now=now)


def update_checklist(db: Db, *, review_id: int, now: datetime) -> None:
    enqueue_job(db, kind=UPDATE_CHECKLIST, payload={"review_id": review_id}, now=now)


def post_in_thread(
    db: Db,
    *,
    review_id: int,
    template: str,
    context: dict[str, Any],
    now: datetime,
    remember_request: int | None = None,
) -> None:
    """Reply in the review's thread; ``remember_request`` stores the message on that request."""
    payload = {
        "review_id": review_id,
        "template": template,
        "context": context,
        "remember_request": remember_request,
    }
    enqueue_job(db, kind=POST_IN_THREAD, payload=payload, now=now)


def post_text_in_thread(db: Db, *, review_id: int, text: str, now: datetime) -> None:
    payload = {
        "review_id": review_id,
        "text": text,
        "template": None,
        "context": None,
        "remember_request": None,
    }
    enqueue_job(db, kind=POST_IN_THREAD, payload=payload, now=now)


def update_request_message(
    db: Db, *, request_id: int, template: str, context: dict[str, Any], now: datetime
) -> None:
    payload = {"request_id": request_id, "template": template, "context": context}
    enqueue_job(db, kind=UPDATE_REQUEST_MESSAGE, payload=payload, now=now)


def ephemeral(
    db: Db,
    *,
    channel_id: str,
    user_id: str,
    text: str,
    now: datetime,
    thread_ts: str | None = None,
) -> None:
    payload = {"channel_id": channel_id, "user_id": user_id, "text": text, "thread_ts": thread_ts}
    enqueue_job(db, kind=EPHEMERAL, payload=payload, now=now)


def send_ephemeral(
    engine: Engine,
    *,
    channel_id: str,
    user_id: str,
    text: str,
    now: datetime,
    thread_ts: str | None = None,
) -> None:
    """Queue an ephemeral reply in a transaction of its own (for refusals and errors)."""
    with session_scope(engine) as session:
        ephemeral(
            session, channel_id=channel_id, user_id=user_id, text=text, now=now, thread_ts=thread_ts
        )


def open_view(
    engine: Engine,
    *,
    trigger_id: str,
    template: str,
    context: dict[str, Any],
    user_id: str,
    channel_id: str,
    now: datetime,
    thread_ts: str | None = None,
) -> None:
    """Queue a modal (views.open) in a transaction of its own, so that the click is answered
    without waiting for Slack. Slack honours a trigger for 3 seconds: if the modal cannot be
    opened in time, the person is told to press the button again."""
    payload = {
        "trigger_id": trigger_id,
        "template": template,
        "context": context,
        "user_id": user_id,
        "channel_id": channel_id,
        "thread_ts": thread_ts,
    }
    with session_scope(engine) as session:
        enqueue_job(session, kind=OPEN_VIEW, payload=payload, now=now)


def publish_home(db: Db, *, user_id: str, now: datetime) -> None:
    enqueue_job(db, kind=PUBLISH_HOME, payload={"user_id": user_id}, now=now)


POST_MESSAGE = "post_message"


def post_message(
    db: Db, *, channel_id: str, text: str, now: datetime, thread_ts: str | None = None
) -> None:
    """A plain message (e.g. an answer to ``@releasebot status``) in a channel or thread."""
    payload = {"channel_id": channel_id, "text": text, "thread_ts": thread_ts}
    enqueue_job(db, kind=POST_MESSAGE, payload=payload, now=now)


POST_ROLLBACK = "post_rollback"
UPDATE_ROLLBACK = "update_rollback"
EXECUTE_ROLLBACK = "execute_rollback"


def post_rollback(
    db: Db,
    *,
    recommendation_id: int,
    template: str | None,
    context: dict[str, Any] | None,
    now: datetime,
    as_root: bool = False,
    text: str | None = None,
) -> None:
    """A rollback message: the recommendation itself (``as_root``), or a reply in its thread."""
    payload = {
        "recommendation_id": recommendation_id,
        "template": template,
        "context": context,
        "as_root": as_root,
        "text": text,
    }
    enqueue_job(db, kind=POST_ROLLBACK, payload=payload, now=now)


def post_rollback_text(db: Db, *, recommendation_id: int, text: str, now: datetime) -> None:
    """A plain line in the rollback's thread (a hold, an escalation, an endorsement...)."""
    return post_rollback(
        db, recommendation_id=recommendation_id, template=None, context=None, now=now, text=text
    )


def update_rollback(
    db: Db, *, recommendation_id: int, template: str, context: dict[str, Any], now: datetime
) -> None:
    payload = {"recommendation_id": recommendation_id, "template": template, "context": context}
    enqueue_job(db, kind=UPDATE_ROLLBACK, payload=payload, now=now)


def execute_rollback(db: Db, *, execution_id: int, now: datetime) -> None:
    """Run an approved path; a separate worker takes these, so Slack work never waits on it."""
    enqueue_job(db, kind=EXECUTE_ROLLBACK, payload={"execution_id": execution_id}, now=now)
