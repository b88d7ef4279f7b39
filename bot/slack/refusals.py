"""Telling a person that the request they made reached the bot malformed.

``bot.slack.payload_checks`` refuses a request before any listener runs; when the request
names a person and a channel (a click, say), they are told privately, through the outbox like
every other Slack message, so the answer to Slack is not held up by a Slack call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.services.outbox.answers import Answers
from bot.slack.payload_checks import Refusal, refusal_text

log = logging.getLogger(__name__)


def refusal_teller(
    *, answers: Answers, clock: Callable[[], datetime], wake: Callable[[], None]
) -> Callable[[Refusal], None]:
    """``tell(refusal)``: queue the ephemeral for the person behind ``refusal``, if any."""

    def tell(refusal: Refusal) -> None:
        if refusal.user_id is None or refusal.channel_id is None:
            return
        try:
            answers.ephemeral(
                channel_id=refusal.channel_id,
                user_id=refusal.user_id,
                text=refusal_text(refusal),
                thread_ts=refusal.thread_ts,
                now=clock(),
            )
        except Exception:  # noqa: BLE001 - the refusal is answered whether or not it is told
            log.warning("could not queue the refusal's ephemeral", exc_info=True)
            return
        wake()

    return tell
