"""What the person who clicked is told or asked, as outbox work in a unit of work of its own.

Refusals and errors reach them ephemerally; a reason form (a modal) is opened by the delivery
right after the click is answered, so no Slack call delays the answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from bot.render.contexts import ReasonModalContext
from bot.services.outbox.jobs import Ephemeral, OpenView
from bot.store.units import UnitRunner


class Answers:
    def __init__(self, *, units: UnitRunner) -> None:
        self.units = units

    def ephemeral(
        self,
        *,
        channel_id: str,
        user_id: str,
        text: str,
        now: datetime,
        thread_ts: str | None = None,
    ) -> None:
        job = Ephemeral(channel_id=channel_id, user_id=user_id, text=text, thread_ts=thread_ts)
        self.units.run(lambda uow: uow.enqueue(job, now=now))

    def reason_form(
        self,
        *,
        trigger_id: str,
        context: ReasonModalContext,
        user_id: str,
        channel_id: str,
        now: datetime,
        thread_ts: str | None = None,
    ) -> None:
        """Queue the reason modal (``reason_modal``) for the click with ``trigger_id``."""
        job = OpenView(
            trigger_id=trigger_id,
            template="reason_modal",
            context=context,
            user_id=user_id,
            channel_id=channel_id,
            thread_ts=thread_ts,
        )
        self.units.run(lambda uow: uow.enqueue(job, now=now))


def reason_modal_context(
    *, action: Literal["pass", "fail", "waive", "reject"], subject: str, metadata: dict[str, str]
) -> ReasonModalContext:
    """The reason form's context: ``action`` is the button pressed (``fail``, ``waive``,
    ``reject``), ``metadata`` the ids the decision needs when the form comes back."""
    return {"action": action, "subject": subject, "metadata": metadata}
