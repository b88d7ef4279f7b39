"""A review's or rollback's timer that failed for good is said where people look: a
``timer.failed`` event in the subject's trail and a line in its Slack thread."""

from __future__ import annotations

from bot.core.subjects import drill_subject, recommendation_subject, release_subject
from bot.core.trail import ACTOR_BOT
from bot.render.escaping import mrkdwn_text as esc
from bot.services.outbox.jobs import PostDrill, PostInThread, PostRollback
from bot.store import UnitOfWork
from bot.store.tables import (
    ApprovalRequest,
    DrillRun,
    Execution,
    ReadinessReview,
    Release,
    RollbackRecommendation,
)
from bot.store.timers import Timer

WHAT = {
    "request.expire": "expiry",
    "request.escalate": "escalation",
    "request.auto_execute": "automatic execution",
    "execution.validate": "validation",
    "execution.run": "execution",
    "review.remind": "reminder",
    "drill.start": "drill start",
    "drill.step": "drill value",
    "drill.timeout": "drill timeout",
    "drill.conclude": "drill report",
}


def key_id(key: str, prefix: str) -> int:
    """``request:12`` -> 12 (``prefix`` ``request``); ValueError for any other key."""
    kind, _, number = key.partition(":")
    if kind != prefix or not number.isdigit():
        raise ValueError(f"timer key {key!r} is not {prefix}:ID")
    return int(number)


def report_failed_timer(uow: UnitOfWork, timer: Timer, error: str) -> None:
    """Record ``timer``'s failure in its subject's trail and thread (database work only)."""
    prefix = timer.key.partition(":")[0]
    what = WHAT.get(timer.kind, timer.kind)
    text = (
        f"⚠️ The scheduled {what} due {timer.due_at:%Y-%m-%d %H:%M:%S} UTC did not happen: it "
        f"failed {timer.attempts} time(s), last with “{esc(error[:300])}”. Check it by hand."
    )
    where: tuple[str, str | None, str | None] | None = None
    if prefix == "request":
        where = _request(uow, key_id(timer.key, "request"), text, timer)
    elif prefix == "execution":
        execution = uow.session.get(Execution, key_id(timer.key, "execution"))
        if execution is not None:
            where = _rollback(uow, execution.recommendation_id, text, timer)
    elif prefix == "review":
        where = _review(uow, key_id(timer.key, "review"), text, timer)
    elif prefix == "drill":
        where = _drill(uow, timer.key, text, timer)
    if where is None:
        return
    subject, channel_id, thread_ts = where
    uow.trail(
        kind="timer.failed",
        actor=ACTOR_BOT,
        subject=subject,
        at=timer.started_at,
        channel_id=channel_id,
        thread_ts=thread_ts,
        payload={
            "timer": timer.kind,
            "key": timer.key,
            "due_at": timer.due_at.isoformat(),
            "attempts": timer.attempts,
            "error": error[:2000],
        },
    )


def _request(
    uow: UnitOfWork, request_id: int, text: str, timer: Timer
) -> tuple[str, str | None, str | None] | None:
    request = uow.session.get(ApprovalRequest, request_id)
    if request is None:
        return None
    if request.recommendation_id is not None:
        return _rollback(uow, request.recommendation_id, text, timer)
    if request.review_id is not None:
        return _review(uow, request.review_id, text, timer)
    return request.subject, request.channel_id, None


def _rollback(
    uow: UnitOfWork, recommendation_id: int, text: str, timer: Timer
) -> tuple[str, str | None, str | None] | None:
    recommendation = uow.session.get(RollbackRecommendation, recommendation_id)
    if recommendation is None:
        return None
    uow.enqueue(PostRollback(recommendation_id=recommendation_id, text=text), now=timer.started_at)
    subject = recommendation_subject(recommendation)
    return subject, recommendation.channel_id, recommendation.conversation_ts


def _drill(
    uow: UnitOfWork, key: str, text: str, timer: Timer
) -> tuple[str, str | None, str | None] | None:
    """``drill:ID`` (a run's timers: said in its thread) or ``drill:RUNBOOK:DRILL`` (a
    scheduled start: recorded under ``drill:RUNBOOK.DRILL``, as refused starts are)."""
    number = key.partition(":")[2]
    if not number.isdigit():
        runbook_id, _, drill_id = number.partition(":")
        return f"drill:{runbook_id}.{drill_id}", None, None
    run = uow.session.get(DrillRun, int(number))
    if run is None:
        return None
    uow.enqueue(PostDrill(drill_run_id=int(number), text=text), now=timer.started_at)
    return drill_subject(int(number)), run.channel_id, run.thread_ts


def _review(
    uow: UnitOfWork, review_id: int, text: str, timer: Timer
) -> tuple[str, str | None, str | None] | None:
    review = uow.session.get(ReadinessReview, review_id)
    release = None if review is None else uow.session.get(Release, review.release_id)
    if review is None or release is None:
        return None
    uow.enqueue(PostInThread(review_id=review_id, text=text), now=timer.started_at)
    subject = release_subject(release.runbook_id, release.version)
    return subject, review.channel_id, release.thread_ts
