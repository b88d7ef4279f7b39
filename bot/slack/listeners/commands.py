"""``/release start RUNBOOK VERSION``, ``/release status [RUNBOOK]``, ``/release help``."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.core.subjects import release_subject
from bot.logs import log_context
from bot.render.escaping import mrkdwn_text as esc
from bot.slack.services import SlackServices

USAGE = (
    "*releasebot* runs readiness reviews from your runbooks.\n"
    "• `/release start RUNBOOK VERSION`: post RUNBOOK's readiness checklist for VERSION here\n"
    "• `/release status [RUNBOOK]`: where the active releases stand\n"
    "• `/release help`: this help\n"
    "• `/rollback RUNBOOK [REASON...]`: ask for a rollback recommendation from the latest "
    "metrics\n"
    "• `/drill start RUNBOOK DRILL` (or `/drill RUNBOOK DRILL`), `/drill stop RUNBOOK`, "
    "`/drill list [RUNBOOK]`, `/drill history RUNBOOK`: game-day drills\n"
    "Gate owners mark gates with *Pass*, *Fail* or *Waive*; the go/no-go roles then "
    "*Approve* or *Reject*. Everything is kept in the decision trail."
)


def register(app: App, services: SlackServices) -> None:
    app.command("/release")(lambda ack, command: release_command(services, ack, command))
    app.command("/rollback")(lambda ack, command: rollback_command(services, ack, command))


def release_command(services: SlackServices, ack: Ack, command: dict[str, Any]) -> None:
    ack(text=handle_release(services, command))
    services.wake()


def rollback_command(services: SlackServices, ack: Ack, command: dict[str, Any]) -> None:
    ack(text=handle_rollback(services, command))
    services.wake()


def handle_rollback(services: SlackServices, command: dict[str, Any]) -> str:
    words = str(command.get("text") or "").split(maxsplit=1)
    if not words or words[0].lower() == "help":
        return (
            "Usage: `/rollback RUNBOOK [REASON...]`: I evaluate RUNBOOK's rollback criteria "
            "on the latest metrics and, on a breach, post the recommendation for approval. "
            + services.registry.known_text()
        )
    reason = words[1].strip() if len(words) > 1 else None
    reply = services.rollbacks.request_by_hand(
        runbook_id=words[0],
        user_id=command["user_id"],
        channel_id=command["channel_id"],
        reason=reason,
        now=services.clock(),
    )
    return reply.text


def handle_release(services: SlackServices, command: dict[str, Any]) -> str:
    words = str(command.get("text") or "").split()
    action, arguments = (words[0].lower(), words[1:]) if words else ("help", [])
    if action == "help":
        return USAGE
    if action == "status":
        if len(arguments) > 1:
            return "Usage: `/release status [RUNBOOK]`"
        runbook_id = arguments[0] if arguments else None
        if runbook_id is not None and services.registry.get(runbook_id) is None:
            return f"Unknown runbook `{esc(runbook_id)}`. {services.registry.known_text()}"
        return services.status.describe(runbook_id=runbook_id)
    if action == "start":
        if len(arguments) != 2:
            return (
                "Usage: `/release start RUNBOOK VERSION`, e.g. "
                "`/release start ranking-model v2.4.0`. " + services.registry.known_text()
            )
        try:  # what the review will be about, for its log records (a valid subject only)
            about = {"subject": release_subject(arguments[0], arguments[1])}
        except ValueError:
            about = {}
        with log_context(**about):
            reply = services.reviews.start_review(
                runbook_id=arguments[0],
                version=arguments[1],
                channel_id=command["channel_id"],
                user_id=command["user_id"],
                now=services.clock(),
            )
        return reply.text
    return f"I don't know `/release {esc(action)}`.\n\n{USAGE}"
