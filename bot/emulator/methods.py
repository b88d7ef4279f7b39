"""The Web API methods the emulator answers, each a function of the state and the arguments.

A method returns the body of a successful answer (``ok`` is added) or raises
:class:`SlackError`, which becomes ``{"ok": false, "error": ...}`` as Slack answers it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bot.emulator.state import EmulatorState, Json, Message, View


class SlackError(Exception):
    """A Slack API error code such as ``channel_not_found``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


Method = Callable[[EmulatorState, Json, str], Json]
METHODS: dict[str, Method] = {}
JSON_FIELDS = ("blocks", "attachments", "view", "metadata", "users")


def method(name: str) -> Callable[[Method], Method]:
    def register(function: Method) -> Method:
        METHODS[name] = function
        return function

    return register


def decode_json_fields(args: Json) -> Json:
    """Blocks, views... arrive as JSON strings inside form posts: parse them."""
    decoded = dict(args)
    for key in JSON_FIELDS:
        value = decoded.get(key)
        if isinstance(value, str) and value[:1] in "[{":
            try:
                decoded[key] = json.loads(value)
            except ValueError as error:
                raise SlackError(f"invalid_{key}") from error
    return decoded


def _require(args: Json, name: str) -> Any:
    value = args.get(name)
    if value in (None, ""):
        raise SlackError("channel_not_found" if name == "channel" else "invalid_arguments")
    return value


def _flag(args: Json, name: str) -> bool:
    return str(args.get(name, "")).lower() in ("1", "true")


def _channel(state: EmulatorState, args: Json) -> str:
    channel = state.resolve_channel(str(_require(args, "channel")))
    if channel is None:
        raise SlackError("channel_not_found")
    return channel


def _content(args: Json) -> tuple[str, list[Json]]:
    text, blocks = str(args.get("text") or ""), args.get("blocks") or []
    if not isinstance(blocks, list) or not all(
        isinstance(block, dict) and block.get("type") for block in blocks
    ):
        raise SlackError("invalid_blocks")
    if not text and not blocks:
        raise SlackError("no_text")
    return text, blocks


def _message(state: EmulatorState, channel: str, ts: str) -> Message:
    message = state.find_message(channel, ts)
    if message is None:
        raise SlackError("message_not_found")
    return message


def user_json(state: EmulatorState, user_id: str) -> Json:
    user = state.users[user_id]
    profile = {"real_name": user.real_name, "display_name": user.name}
    shown: Json = {"id": user.id, "team_id": state.team_id, "name": user.name}
    shown.update(real_name=user.real_name, is_bot=user.is_bot, deleted=False, profile=profile)
    if user.bot_id:
        profile["bot_id"] = user.bot_id
    return shown


@method("api.test")
def api_test(state: EmulatorState, args: Json, caller: str) -> Json:
    return {"args": args}


@method("apps.connections.open")
def apps_connections_open(state: EmulatorState, args: Json, caller: str) -> Json:
    """A WebSocket URL with a one-use ticket (``caller`` is the app id here)."""
    if state.socket_url is None:
        raise SlackError("internal_error")
    ticket = state.issue_socket_ticket()
    return {"url": f"{state.socket_url}/link/?ticket={ticket}&app_id={caller}"}


@method("auth.test")
def auth_test(state: EmulatorState, args: Json, caller: str) -> Json:
    answer: Json = {"url": f"https://{state.domain}.slack.com/", "team": state.seed.team_name}
    answer.update(user=state.display_name(caller), team_id=state.team_id, user_id=caller)
    if caller == state.bot.user_id:
        answer["bot_id"] = state.bot.bot_id
    answer["is_enterprise_install"] = False
    return answer


@method("chat.postMessage")
def chat_post_message(state: EmulatorState, args: Json, caller: str) -> Json:
    channel = _channel(state, args)
    text, blocks = _content(args)
    thread_ts = str(args.get("thread_ts") or "") or None
    if thread_ts:
        _message(state, channel, thread_ts)
    message = state.add_message(
        channel, caller, text, blocks=blocks, thread_ts=thread_ts,
        reply_broadcast=bool(thread_ts) and _flag(args, "reply_broadcast"),
    )  # fmt: skip
    return {"channel": channel, "ts": message.ts, "message": message.to_slack(state.team_id)}


@method("chat.update")
def chat_update(state: EmulatorState, args: Json, caller: str) -> Json:
    channel = _channel(state, args)
    message = _message(state, channel, str(_require(args, "ts")))
    if message.user != caller:
        raise SlackError("cant_update_message")
    text = args.get("text")
    blocks = args.get("blocks")
    if text is None and blocks is None:
        raise SlackError("no_text")
    state.edit_message(message, None if text is None else str(text), blocks)
    shown = message.to_slack(state.team_id)
    return {"channel": channel, "ts": message.ts, "text": message.text, "message": shown}


@method("chat.delete")
def chat_delete(state: EmulatorState, args: Json, caller: str) -> Json:
    channel = _channel(state, args)
    message = _message(state, channel, str(_require(args, "ts")))
    if message.user != caller:
        raise SlackError("cant_delete_message")
    with state.lock:
        message.deleted = True
        state.changed.notify_all()
    return {"channel": channel, "ts": message.ts}


@method("chat.postEphemeral")
def chat_post_ephemeral(state: EmulatorState, args: Json, caller: str) -> Json:
    channel = _channel(state, args)
    user = str(_require(args, "user"))
    if user not in state.users:
        raise SlackError("user_not_in_channel")
    text, blocks = _content(args)
    ephemeral = state.add_ephemeral(channel, user, text, blocks, args.get("thread_ts") or None)
    return {"message_ts": ephemeral.ts}


@method("chat.getPermalink")
def chat_get_permalink(state: EmulatorState, args: Json, caller: str) -> Json:
    channel = _channel(state, args)
    message = _message(state, channel, str(_require(args, "message_ts")))
    link = f"https://{state.domain}.slack.com/archives/{channel}/p{message.ts.replace('.', '')}"
    if message.is_reply:
        link += f"?thread_ts={message.thread_ts}&cid={channel}"
    return {"channel": channel, "permalink": link}


def _view_json(state: EmulatorState, view_id: str, view: Json, previous: Json | None) -> Json:
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        raise SlackError("invalid_arguments")
    shown = {
        "id": view_id, "team_id": state.team_id, "type": view["type"],
        "blocks": view.get("blocks", []), "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""), "state": {"values": {}},
        "hash": f"{int(state.now())}.{state.next_id('H')}", "title": view.get("title"),
        "clear_on_close": bool(view.get("clear_on_close")),
        "notify_on_close": bool(view.get("notify_on_close")),
        "close": view.get("close"), "submit": view.get("submit"),
        "previous_view_id": None, "root_view_id": (previous or {}).get("root_view_id", view_id),
        "app_id": state.bot.app_id, "external_id": view.get("external_id", ""),
        "app_installed_team_id": state.team_id, "bot_id": state.bot.bot_id,
    }  # fmt: skip
    return shown


@method("views.open")
def views_open(state: EmulatorState, args: Json, caller: str) -> Json:
    trigger = str(_require(args, "trigger_id"))
    with state.lock:
        if trigger not in state.triggers:
            raise SlackError("invalid_trigger_id")
        view_id = state.next_id("V")
        shown = _view_json(state, view_id, args.get("view") or {}, None)
        state.views[view_id] = View(view_id, "modal", state.triggers.pop(trigger), shown)
        state.changed.notify_all()
    return {"view": shown}


@method("views.update")
def views_update(state: EmulatorState, args: Json, caller: str) -> Json:
    with state.lock:
        found = state.views.get(str(args.get("view_id") or ""))
        if found is None and args.get("external_id"):
            found = next(
                (v for v in state.views.values() if v.view["external_id"] == args["external_id"]),
                None,
            )
        if found is None:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != found.view["hash"]:
            raise SlackError("hash_conflict")
        shown = _view_json(state, found.id, args.get("view") or {}, found.view)
        found.history.append(found.view)
        found.view = shown
        state.changed.notify_all()
    return {"view": shown}


@method("views.publish")
def views_publish(state: EmulatorState, args: Json, caller: str) -> Json:
    user = str(_require(args, "user_id"))
    if user not in state.users:
        raise SlackError("user_not_found")
    with state.lock:
        current = state.home_views.get(user)
        view_id = current.id if current else state.next_id("V")
        shown = _view_json(state, view_id, args.get("view") or {}, None)
        if current is None:
            state.home_views[user] = View(view_id, "home", user, shown)
        else:
            current.history.append(current.view)
            current.view = shown
        state.changed.notify_all()
    return {"view": shown}


@method("users.info")
def users_info(state: EmulatorState, args: Json, caller: str) -> Json:
    user = str(_require(args, "user"))
    if user not in state.users:
        raise SlackError("user_not_found")
    return {"user": user_json(state, user)}


@method("users.list")
def users_list(state: EmulatorState, args: Json, caller: str) -> Json:
    return {"members": [user_json(state, u) for u in state.users], "response_metadata": {}}


@method("usergroups.users.list")
def usergroups_users_list(state: EmulatorState, args: Json, caller: str) -> Json:
    group = state.groups.get(str(_require(args, "usergroup")))
    if group is None:
        raise SlackError("no_such_subteam")
    return {"users": list(group.members)}


@method("usergroups.list")
def usergroups_list(state: EmulatorState, args: Json, caller: str) -> Json:
    groups = []
    for group in state.groups.values():
        shown: Json = {"id": group.id, "team_id": state.team_id, "handle": group.handle}
        shown.update(name=group.name, user_count=len(group.members))
        if _flag(args, "include_users"):
            shown["users"] = list(group.members)
        groups.append(shown)
    return {"usergroups": groups}


@method("conversations.info")
def conversations_info(state: EmulatorState, args: Json, caller: str) -> Json:
    channel = state.channels[_channel(state, args)]
    is_dm = channel.id.startswith("D")
    shown = {"id": channel.id, "name": channel.name, "is_channel": not is_dm}
    shown.update(is_im=is_dm, is_private=False, is_archived=False, is_member=True)
    return {"channel": shown}


@method("conversations.open")
def conversations_open(state: EmulatorState, args: Json, caller: str) -> Json:
    users = str(args.get("users") or "").split(",")
    if len(users) != 1 or state.resolve_channel(users[0]) is None or users[0][:1] != "U":
        raise SlackError("user_not_found")
    return {"channel": {"id": state.resolve_channel(users[0])}}


@method("conversations.replies")
def conversations_replies(state: EmulatorState, args: Json, caller: str) -> Json:
    channel = _channel(state, args)
    message = _message(state, channel, str(_require(args, "ts")))
    thread = state.thread(channel, message.thread_ts or message.ts)
    shown = [m.to_slack(state.team_id) for m in thread]
    if shown and len(thread) > 1:
        shown[0].update(reply_count=len(thread) - 1, latest_reply=thread[-1].ts)
    return {"messages": shown, "has_more": False}


@method("conversations.history")
def conversations_history(state: EmulatorState, args: Json, caller: str) -> Json:
    channel = _channel(state, args)
    with state.lock:
        roots = [m for m in state.messages[channel] if not m.deleted]
        roots = [m for m in roots if not m.is_reply or m.reply_broadcast]
        shown = [m.to_slack(state.team_id) for m in reversed(roots)]
    return {"messages": shown[: int(args.get("limit") or 100)], "has_more": False}
