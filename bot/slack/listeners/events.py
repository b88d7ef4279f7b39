"""Events: release announcements in watched channels, replies in release threads,
``@releasebot status``, and the App Home."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App

from bot.services.outbox import jobs
from bot.services.releases.status import release_status
from bot.slack.app import SlackServices
from bot.store import session_scope
from bot.store.inbox import claim_delivery

HANDLED_SUBTYPES = {None, "bot_message", "thread_broadcast"}
MENTION = re.compile(r"<@[UW][A-Z0-9]+>")


def register(app: App, services: SlackServices) -> None:
    @app.event("message")
    def on_message(ack: Ack, body: dict[str, Any], event: dict[str, Any]) -> None:
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
            services.delivery.wake()

    @app.event("app_mention")
    def on_mention(ack: Ack, body: dict[str, Any], event: dict[str, Any]) -> None:
        ack()
        words = MENTION.sub("", str(event.get("text") or "")).split()
        thread_ts = event.get("thread_ts")
        if words and words[0].lower() == "status":
            runbook_id = words[1] if len(words) > 1 and services.registry.get(words[1]) else None
            text = release_status(
                services.engine,
                services.registry,
                runbook_id=runbook_id,
                thread_ts=thread_ts if runbook_id is None else None,
            )
        else:
            text = "Say `@releasebot status` (in a release thread, or with a runbook id)."
        with session_scope(services.engine) as session:
            if claim_delivery(session, key=f"event:{body.get('event_id')}", now=services.clock()):
                jobs.post_message(
                    session,
                    channel_id=event["channel"],
                    text=text,
                    thread_ts=thread_ts or event.get("ts"),
                    now=services.clock(),
                )
        services.delivery.wake()

    @app.event("app_home_opened")
    def on_home_opened(ack: Ack, body: dict[str, Any], event: dict[str, Any]) -> None:
        ack()
        if event.get("tab", "home") != "home" or not event.get("user"):
            return  # the Messages tab, or no one to show it to
        now = services.clock()
        with session_scope(services.engine) as session:
            if claim_delivery(session, key=f"event:{body.get('event_id')}", now=now):
                jobs.publish_home(session, user_id=str(event["user"]), now=now)
        services.delivery.wake()
