"""Delivering a drill's messages (``PostDrill``): the announcement starts the drill's thread
(its ts is remembered on the run), every other message goes into that thread. ``post`` is
the delivery's exactly-once post (``bot.slack.posts.post_once``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import update

from bot.core.subjects import drill_subject
from bot.core.trail import ACTOR_BOT
from bot.services.outbox.jobs import PostDrill, TemplateContext
from bot.services.outbox.worker import NotReady, Record
from bot.store import UnitOfWork
from bot.store.tables import DrillRun
from bot.store.transitions import table_of
from bot.store.units import UnitRunner


def _nothing(uow: UnitOfWork) -> None:
    """Nothing to record beside the job's completion."""


def post_drill(
    job: PostDrill,
    *,
    units: UnitRunner,
    post: Callable[[str, str | None, dict[str, Any]], tuple[str, bool]],
    render: Callable[[str | None, TemplateContext | None, str | None], dict[str, Any]],
    permalink: Callable[[str, str], str | None],
    clock: Callable[[], datetime],
) -> Record:
    run = units.run(lambda uow: uow.session.get(DrillRun, job.drill_run_id))
    if run is None or run.channel_id is None:
        raise LookupError(f"drill run {job.drill_run_id} is gone")
    if job.as_root and run.thread_ts is not None:
        return _nothing  # posted before a crash
    if not job.as_root and run.thread_ts is None:
        raise NotReady
    message = render(job.template, job.context, job.text)
    ts, _ = post(run.channel_id, None if job.as_root else run.thread_ts, message)
    link = permalink(run.channel_id, ts)
    posted_at = clock()

    def remember(uow: UnitOfWork) -> None:
        if job.as_root:
            runs = table_of(DrillRun)
            uow.session.execute(update(runs).where(runs.c.id == run.id).values(thread_ts=ts))
        uow.trail(
            kind="slack.message_posted",
            actor=ACTOR_BOT,
            subject=drill_subject(job.drill_run_id),
            at=posted_at,
            channel_id=run.channel_id,
            thread_ts=run.thread_ts or ts,
            message_ts=ts,
            permalink=link,
            payload={"template": job.template or "text"},
        )

    return remember
