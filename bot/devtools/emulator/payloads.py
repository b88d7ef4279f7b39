"""Request bodies shaped like Slack's (see /work/shared/slack-payloads/), with fresh ids.

Pure builders: they read the emulator state but change nothing.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from bot.devtools.emulator.state import EmulatorState, Json, Message, View

VERIFICATION_TOKEN = "verification_token_deprecated"
SELECTED_KEY = {
    "users_select": "selected_user",
    "multi_users_select": "selected_users",
    "conversations_select": "selected_conversation",
    "multi_conversations_select": "selected_conversations",
    "channels_select": "selected_channel",
    "multi_channels_select": "selected_channels",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "datetimepicker": "selected_date_time",
}
SINGLE_OPTION = ("static_select", "external_select", "radio_buttons")
MANY_OPTIONS = ("multi_static_select", "multi_external_select", "checkboxes")


def user_ref(state: EmulatorState, user_id: str) -> Json:
    """The ``user`` object of interactive payloads."""
    name = state.display_name(user_id)
    return {"id": user_id, "username": name, "name": name, "team_id": state.team_id}


def team_ref(state: EmulatorState) -> Json:
    return {"id": state.team_id, "domain": state.domain}


def event_callback(state: EmulatorState, event: Json, event_id: str) -> Json:
    """The Events API envelope around ``event``."""
    context = base64.urlsafe_b64encode(json.dumps({"et": event["type"]}).encode()).decode()
    authorization: Json = {"enterprise_id": None, "team_id": state.team_id}
    authorization.update(user_id=state.bot.user_id, is_bot=True, is_enterprise_install=False)
    return {
        "token": VERIFICATION_TOKEN, "team_id": state.team_id, "api_app_id": state.bot.app_id,
        "event": event, "type": "event_callback", "event_id": event_id,
        "event_time": int(state.now()), "authorizations": [authorization],
        "is_ext_shared_channel": False, "event_context": "4-" + context.rstrip("="),
    }  # fmt: skip


def message_event(
    state: EmulatorState, message: Message, event_type: str, client_msg_id: str
) -> Json:
    """A ``message`` or ``app_mention`` event for a message a person (or app) just sent."""
    event: Json = {"type": event_type, "user": message.user, "text": message.text}
    event.update(ts=message.ts, team=state.team_id, channel=message.channel)
    author = state.users.get(message.user)
    if author is not None and author.is_bot:
        event.update(bot_id=author.bot_id, bot_profile={"id": author.bot_id, "name": author.name})
    else:
        event["client_msg_id"] = client_msg_id
    if message.is_reply:
        root = state.find_message(message.channel, str(message.thread_ts))
        event.update(thread_ts=message.thread_ts, parent_user_id=root.user if root else None)
    event["event_ts"] = message.ts
    if event_type == "message":
        event["channel_type"] = "im" if message.channel.startswith("D") else "channel"
    return event


def block_actions(
    state: EmulatorState,
    *,
    user: str,
    message: Message,
    block: Json,
    element: Json,
    trigger_id: str,
    response_url: str,
) -> Json:
    """A ``block_actions`` payload for a click on ``element`` in ``message``."""
    container: Json = {"type": "message", "message_ts": message.ts}
    container.update(channel_id=message.channel, is_ephemeral=False)
    if message.is_reply:
        container["thread_ts"] = message.thread_ts
    action: Json = {
        key: element[key] for key in ("action_id", "text", "value", "style") if key in element
    }
    action.update(block_id=block.get("block_id"), type=element["type"], action_ts=state.next_ts())
    channel = state.channels.get(message.channel)
    return {
        "type": "block_actions", "user": user_ref(state, user), "api_app_id": state.bot.app_id,
        "token": VERIFICATION_TOKEN, "container": container, "trigger_id": trigger_id,
        "team": team_ref(state), "enterprise": None, "is_enterprise_install": False,
        "channel": {"id": message.channel, "name": channel.name if channel else message.channel},
        "message": message.to_slack(state.team_id), "state": {"values": {}},
        "response_url": response_url, "actions": [action],
    }  # fmt: skip


def view_block_actions(
    state: EmulatorState, *, user: str, view: View, block: Json, element: Json, trigger_id: str
) -> Json:
    """A ``block_actions`` payload for a click on ``element`` in a view (the App Home, a
    modal): its container names the view, and there is no channel or message."""
    action: Json = {
        key: element[key] for key in ("action_id", "text", "value", "style") if key in element
    }
    action.update(block_id=block.get("block_id"), type=element["type"], action_ts=state.next_ts())
    return {
        "type": "block_actions", "user": user_ref(state, user), "api_app_id": state.bot.app_id,
        "token": VERIFICATION_TOKEN, "trigger_id": trigger_id, "team": team_ref(state),
        "container": {"type": "view", "view_id": view.id}, "view": view.view,
        "enterprise": None, "is_enterprise_install": False, "actions": [action],
    }  # fmt: skip


def view_submission(state: EmulatorState, *, user: str, view: View, values: Json) -> Json:
    """A ``view_submission`` payload for ``view`` with its inputs set from ``values``."""
    submitted = {**view.view, "state": {"values": fill_state_values(view.view, values)}}
    return {
        "type": "view_submission", "team": team_ref(state), "user": user_ref(state, user),
        "api_app_id": state.bot.app_id, "token": VERIFICATION_TOKEN,
        "trigger_id": state.issue_trigger(user), "view": submitted, "response_urls": [],
        "is_enterprise_install": False, "enterprise": None,
    }  # fmt: skip


def fill_state_values(view: Json, values: Json) -> Json:
    """``state.values`` for a view's input blocks.

    ``values`` maps ``"block_id"``, ``"block_id/action_id"`` or ``{block_id: {action_id: v}}``
    to what the person entered: text, an option's value or label, a user id, a list for
    multi-selects and checkboxes. Input blocks not named are sent empty; an unknown name is
    an error, so a typo in a test cannot pass silently.
    """
    wanted: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            wanted.update({f"{key}/{action}": inner for action, inner in value.items()})
        else:
            wanted[key] = value
    state_values: Json = {}
    for block in view.get("blocks", []):
        element = block.get("element") or {}
        if block.get("type") != "input" or "action_id" not in element:
            continue
        block_id, action_id = block.get("block_id", ""), element["action_id"]
        keys = (f"{block_id}/{action_id}", block_id, action_id)
        chosen = next((wanted.pop(key) for key in keys if key in wanted), None)
        state_values[block_id] = {action_id: element_state(element, chosen)}
    if wanted:
        raise KeyError(f"no input block for {sorted(wanted)} in view {view.get('id')}")
    return state_values


def element_state(element: Json, value: Any) -> Json:
    """One input element's state as Slack reports it."""
    kind = element.get("type", "plain_text_input")
    if kind in SINGLE_OPTION:
        return {"type": kind, "selected_option": _option(element, value)}
    if kind in MANY_OPTIONS:
        chosen = [] if value is None else value if isinstance(value, list) else [value]
        return {"type": kind, "selected_options": [_option(element, v) for v in chosen]}
    if kind in SELECTED_KEY:
        return {"type": kind, SELECTED_KEY[kind]: value}
    return {"type": kind, "value": None if value is None else str(value)}


def _option(element: Json, value: Any) -> Json | None:
    if value is None:
        return None
    options = list(element.get("options", []))
    for group in element.get("option_groups", []):
        options += group.get("options", [])
    for option in options:
        if value in (option.get("value"), option.get("text", {}).get("text")):
            return dict(option)
    return {"text": {"type": "plain_text", "text": str(value)}, "value": str(value)}
