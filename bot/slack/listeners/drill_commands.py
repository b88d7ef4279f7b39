"""``/drill start RUNBOOK DRILL`` (also ``/drill RUNBOOK DRILL``), ``/drill stop RUNBOOK``,
``/drill list [RUNBOOK]``, ``/drill history RUNBOOK``."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.render.escaping import mrkdwn_text as esc
from bot.slack.services import SlackServices

USAGE = (
    "*Game-day drills*: the bot plays a synthetic incident into the drill's channel and the "
    "team walks the real rollback path (every executor a dry run); it times you and reports.\n"
    "• `/drill start RUNBOOK DRILL` (or `/drill RUNBOOK DRILL`): start a drill now\n"
    "• `/drill stop RUNBOOK`: abort the running drill\n"
    "• `/drill list [RUNBOOK]`: the drills and their next scheduled run\n"
    "• `/drill history RUNBOOK`: the last runs with their scores"
)


def register(app: App, services: SlackServices) -> None:
    app.command("/drill")(lambda ack, command: drill_command(services, ack, command))


def drill_command(services: SlackServices, ack: Ack, command: dict[str, Any]) -> None:
    ack(text=handle_drill(services, command))
    services.wake()


def handle_drill(services: SlackServices, command: dict[str, Any]) -> str:
    drills = services.drills
    if drills is None:
        return "Drills are not available in this process."
    words = str(command.get("text") or "").split()
    action, arguments = (words[0].lower(), words[1:]) if words else ("help", [])
    now = services.clock()
    if action == "help":
        return USAGE
    if action == "list" and len(arguments) <= 1:
        return drills.describe_list(runbook_id=arguments[0] if arguments else None, now=now)
    if action == "history" and len(arguments) == 1:
        return drills.describe_history(runbook_id=arguments[0])
    if action == "stop" and len(arguments) == 1:
        return drills.stop_by_hand(runbook_id=arguments[0], user_id=command["user_id"],
                                   now=now).text  # fmt: skip
    if action == "start" and len(arguments) == 2:
        runbook_id, drill_id = arguments
    elif action not in ("start", "stop", "list", "history") and len(words) == 2:
        runbook_id, drill_id = words
    else:
        return f"I don't understand `/drill {esc(' '.join(words))}`.\n\n{USAGE}"
    return drills.start_by_hand(runbook_id=runbook_id, drill_id=drill_id,
                                user_id=command["user_id"], now=now).text  # fmt: skip
