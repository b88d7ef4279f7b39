"""Opening a reason form (``views.open``) while its trigger lives, or telling the person.

Slack honours a ``trigger_id`` for 3 seconds after the interaction, and the form's outbox job
is queued at that moment. A form is therefore never queued past that life: a job claimed
too late, or whose ``views.open`` may not go (paced, or answered 429) until after it, is
answered at once with an ephemeral message asking the person to press the button again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient

from bot.services.outbox.jobs import Ephemeral, OpenView
from bot.services.outbox.worker import Deferred, Record, current_claim
from bot.slack.pacing import Pacing

TRIGGER_LIFE = timedelta(seconds=3)
VIEW_NOT_OPENED = (
    "I could not open the form in time (Slack allows 3 seconds), so nothing was recorded. "
    "Please press the button again."
)


def tell_form_not_opened(job: OpenView, now: datetime) -> Record:
    """What to record instead of the form: an ephemeral message to the person."""
    told = Ephemeral(
        channel_id=job.channel_id, user_id=job.user_id, text=VIEW_NOT_OPENED,
        thread_ts=job.thread_ts,
    )  # fmt: skip
    return lambda uow: uow.enqueue(told, now=now)


def open_form(
    client: WebClient,
    pacing: Pacing,
    job: OpenView,
    view: dict[str, Any],
    *,
    clock: Callable[[], datetime],
) -> Record | None:
    """Open ``view`` for ``job`` (None) or, when its trigger would be dead first, tell the
    person (the record to commit)."""
    queued = current_claim().created_at or clock()
    expires = queued + TRIGGER_LIFE
    if clock() >= expires:
        return tell_form_not_opened(job, clock())
    try:
        pacing.call(
            "views.open", None, lambda: client.views_open(trigger_id=job.trigger_id, view=view)
        )
    except Deferred as deferred:
        if deferred.until >= expires:
            return tell_form_not_opened(job, clock())
        raise  # it may go within the trigger's life: the job waits until then
    return None
