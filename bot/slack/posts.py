"""Exactly-once posts: each outbox post carries message metadata naming its job, and a job
that may already have been posted is looked for before it is posted again.

Slack's ``chat.postMessage`` has no idempotency key. A post whose answer was lost (a timeout,
a dropped connection, the process killed between Slack's answer and the commit that records
it) is retried by the outbox, and a blind retry posts the message twice. So every post
carries ``metadata`` (event type ``releasebot_outbox``, payload: the job's id and the time it
was queued, which together name one job of one database), and a retried job (its claim's
``attempts`` above 1) first reads the channel (``conversations.history``) or the thread
(``conversations.replies``) with ``include_all_metadata``, from shortly before the job was
queued, for a message of the bot's own (``auth.test``'s user or bot id) carrying its
metadata. Found: that message is the job's post.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.services.outbox.worker import current_claim
from bot.slack.pacing import Pacing
from bot.store.outbox import ClaimedJob

log = logging.getLogger(__name__)
EVENT_TYPE = "releasebot_outbox"
# How far before the job was queued the search starts: room for the difference between the
# bot's clock and Slack's (the job's post is never older than the job).
LOOKBACK = timedelta(minutes=10)
PAGE = 200  # messages a page
PAGES = 10  # read at most this many pages: a bounded, recent window
# Errors that mean "cannot look" rather than "look again later": the post goes ahead.
CANNOT_LOOK = {"missing_scope", "not_in_channel", "thread_not_found"}


def outbox_metadata(job: ClaimedJob) -> dict[str, Any]:
    """The message metadata naming ``job`` (see the module's docstring)."""
    payload: dict[str, Any] = {"job_id": job.id}
    if job.created_at is not None:
        payload["queued_at"] = job.created_at.isoformat()
    return {"event_type": EVENT_TYPE, "event_payload": payload}


@dataclass(frozen=True)
class Poster:
    """Who the bot is in Slack (``auth.test``): only its own messages can be a job's post."""

    user_id: str | None
    bot_id: str | None

    @classmethod
    def of(cls, client: WebClient) -> Poster:
        answer = client.auth_test()
        user_id, bot_id = answer.get("user_id"), answer.get("bot_id")
        return cls(str(user_id) if user_id else None, str(bot_id) if bot_id else None)

    def wrote(self, message: dict[str, Any]) -> bool:
        return (self.user_id is not None and message.get("user") == self.user_id) or (
            self.bot_id is not None and message.get("bot_id") == self.bot_id
        )


def posted_by(message: dict[str, Any], job: ClaimedJob, poster: Poster) -> bool:
    """Is ``message`` (as the Web API shows it) the bot's own, carrying ``job``'s metadata?"""
    metadata = message.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != EVENT_TYPE:
        return False
    payload, expected = metadata.get("event_payload"), outbox_metadata(job)["event_payload"]
    if not isinstance(payload, dict) or set(payload) != set(expected):
        return False
    # compared as text: a number may come back as a string (or the reverse)
    same = all(str(payload[key]) == str(value) for key, value in expected.items())
    return same and poster.wrote(message)


def find_posted(
    client: WebClient, *, channel: str, thread_ts: str | None, job: ClaimedJob, poster: Poster
) -> str | None:
    """The ts of ``job``'s message in ``channel`` (in the thread of ``thread_ts``, if given)
    if an earlier attempt posted it; None if not there, or if Slack will not let us look."""
    oldest = None if job.created_at is None else (job.created_at - LOOKBACK).timestamp()
    arguments: dict[str, Any] = {"channel": channel, "include_all_metadata": True, "limit": PAGE}
    if oldest is not None:
        arguments["oldest"] = f"{oldest:.6f}"
    cursor = None
    for _ in range(PAGES):
        try:
            if thread_ts is None:
                page = client.conversations_history(**arguments, cursor=cursor)
            else:
                page = client.conversations_replies(**arguments, ts=thread_ts, cursor=cursor)
        except SlackApiError as error:
            if error.response.get("error") in CANNOT_LOOK:
                log.warning("cannot look for job %s's post in %s: %s", job.id, channel,
                            error.response.get("error"))  # fmt: skip
                return None
            raise
        for message in page.get("messages") or []:
            if posted_by(message, job, poster):
                return str(message["ts"])
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not page.get("has_more") or not cursor:
            return None
    log.warning("job %s's post not found in the last %d pages of %s", job.id, PAGES, channel)
    return None


def post_once(
    client: WebClient,
    pacing: Pacing,
    *,
    channel: str,
    thread_ts: str | None,
    message: dict[str, Any],
    poster: Callable[[], Poster],
) -> tuple[str, bool]:
    """Post ``message`` (its ``text`` and ``blocks``) for the outbox job in hand, once: (its
    ts, whether an earlier attempt had posted it already). Both calls are paced."""
    claim = current_claim()
    if claim.attempts > 1:  # an earlier attempt may have posted it: look first
        method = "conversations.history" if thread_ts is None else "conversations.replies"
        me = poster()
        found = pacing.call(
            method,
            channel,
            lambda: find_posted(
                client, channel=channel, thread_ts=thread_ts, job=claim, poster=me
            ),
        )
        if found is not None:
            log.info("job %s was posted by an earlier attempt: %s", claim.id, found)
            return found, True
    response = pacing.call(
        "chat.postMessage",
        channel,
        lambda: client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=message["text"],
            blocks=message["blocks"],
            metadata=outbox_metadata(claim),
        ),
    )
    return str(response["ts"]), False


def permalink_of(client: WebClient, channel_id: str, ts: str) -> str | None:
    """The message's permalink, or None if Slack will not say (never fails the job)."""
    try:
        response = client.chat_getPermalink(channel=channel_id, message_ts=ts)
    except Exception as error:  # noqa: BLE001 - a missing permalink is not a lost message
        log.warning("no permalink for %s/%s: %s", channel_id, ts, error)
        return None
    link = response.get("permalink")
    return str(link) if link else None
