"""Events: release announcements in watched channels, replies in release threads,
``@releasebot status``, and the App Home."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App

from bot.slack.services import SlackServices

HANDLED_SUBTYPES = {None, "bot_message", "thread_broadcast"}
MENTION = re.compile(r"<@[UW][A-Z0-9]+>")


def register(app: App, services: SlackServices) -> None:
    app.event("message")(lambda ack, body, event: on_message(services, ack, body, event))
    app.event("app_mention")(lambda ack, body, event: on_mention(services, ack, body, event))
    app.event("app_home_opened")(
        lambda ack, body, event: on_home_opened(services, ack, body, event)
    )


def on_message(
    services: SlackServices, ack: Ack, body: dict[str, Any], event: dict[str, Any]
) -> None:
    ack()
    if event.get("subtype") not in HANDLED_SUBTYPES:
        return
    key = f"event:{body.get('event_id') or event.get('ts')}"
    author = str(event.get("user") or event.get("bot_id") or "unknown")
    channel_id, ts = str(event.get("channel") or ""), str(event.get("ts") or "")
    thread_ts, text = event.get("thread_ts"), str(event.get("text") or "")
    now = services.clock()
    if thread_ts and thread_ts != ts:
        services.conversation.record_reply(
            channel_id=channel_id,
            thread_ts=thread_ts,
            ts=ts,
            user_id=author,
            text=text,
            now=now,
            delivery_key=key,
        )
        return
    match = services.registry.match_message(channel_id, text)
    if match is not None:
        services.reviews.start_review(
            runbook_id=match.runbook.id,
            version=match.version,
            channel_id=channel_id,
            user_id=author,
            now=now,
            source="channel_message",
            delivery_key=key,
        )
        services.wake()


def on_mention(
    services: SlackServices, ack: Ack, body: dict[str, Any], event: dict[str, Any]
) -> None:
    ack()
    words = MENTION.sub("", str(event.get("text") or "")).split()
    thread_ts = event.get("thread_ts")
    if words and words[0].lower() == "status":
        runbook_id = words[1] if len(words) > 1 and services.registry.get(words[1]) else None
        text = services.status.describe(
            runbook_id=runbook_id, thread_ts=thread_ts if runbook_id is None else None
        )
    else:
        text = "Say `@releasebot status` (in a release thread, or with a runbook id)."
    services.conversation.answer(
        channel_id=event["channel"],
        text=text,
        thread_ts=thread_ts or event.get("ts"),
        now=services.clock(),
        delivery_key=f"event:{body.get('event_id')}",
    )
    services.wake()


def on_home_opened(
    services: SlackServices, ack: Ack, body: dict[str, Any], event: dict[str, Any]
) -> None:
    ack()
    if event.get("tab", "home") != "home" or not event.get("user"):
        return  # the Messages tab, or no one to show it to
    services.home.request_publish(
        user_id=str(event["user"]),
        now=services.clock(),
        delivery_key=f"event:{body.get('event_id')}",
    )
    services.wake()
