"""The Web API methods the emulator answers (but ``conversations.*``, in
:mod:`.conversations`): chat, views, users, user groups, auth and Socket Mode.

``chat.postMessage`` and ``chat.update`` keep message metadata (:mod:`.metadata`);
``views.open`` exchanges a ``trigger_id`` once, within ``state.trigger_ttl`` seconds of the
interaction that issued it (Slack's 3 seconds), else ``expired_trigger_id``.
"""

from __future__ import annotations

from bot.devtools.emulator.calls import (
    Method,
    SlackError,
    channel_of,
    flag,
    message_in,
    registry,
    require,
)
from bot.devtools.emulator.metadata import parse_metadata, with_warnings
from bot.devtools.emulator.state import EmulatorState, Json, View

METHODS: dict[str, Method] = {}
method = registry(METHODS)


def _content(args: Json) -> tuple[str, list[Json]]:
    text, blocks = str(args.get("text") or ""), args.get("blocks") or []
    if not isinstance(blocks, list) or not all(
        isinstance(block, dict) and block.get("type") for block in blocks
    ):
        raise SlackError("invalid_blocks")
    if not text and not blocks:
        raise SlackError("no_text")
    return text, blocks


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
    channel = channel_of(state, args)
    text, blocks = _content(args)
    metadata, warnings = parse_metadata(args)
    thread_ts = str(args.get("thread_ts") or "") or None
    if thread_ts:
        message_in(state, channel, thread_ts)
    message = state.add_message(
        channel, caller, text, blocks=blocks, thread_ts=thread_ts, metadata=metadata,
        reply_broadcast=bool(thread_ts) and flag(args, "reply_broadcast"),
    )  # fmt: skip
    shown = message.to_slack(state.team_id, include_metadata=True)
    return with_warnings({"channel": channel, "ts": message.ts, "message": shown}, warnings)


@method("chat.update")
def chat_update(state: EmulatorState, args: Json, caller: str) -> Json:
    channel = channel_of(state, args)
    message = message_in(state, channel, str(require(args, "ts")))
    if message.user != caller:
        raise SlackError("cant_update_message")
    text = args.get("text")
    blocks = args.get("blocks")
    if text is None and blocks is None:
        raise SlackError("no_text")
    metadata, warnings = parse_metadata(args)
    state.edit_message(message, None if text is None else str(text), blocks, metadata)
    shown = message.to_slack(state.team_id, include_metadata=True)
    answer = {"channel": channel, "ts": message.ts, "text": message.text, "message": shown}
    return with_warnings(answer, warnings)


@method("chat.delete")
def chat_delete(state: EmulatorState, args: Json, caller: str) -> Json:
    channel = channel_of(state, args)
    message = message_in(state, channel, str(require(args, "ts")))
    if message.user != caller:
        raise SlackError("cant_delete_message")
    with state.lock:
        message.deleted = True
        state.changed.notify_all()
    return {"channel": channel, "ts": message.ts}


@method("chat.postEphemeral")
def chat_post_ephemeral(state: EmulatorState, args: Json, caller: str) -> Json:
    channel = channel_of(state, args)
    user = str(require(args, "user"))
    if user not in state.users:
        raise SlackError("user_not_in_channel")
    text, blocks = _content(args)
    ephemeral = state.add_ephemeral(channel, user, text, blocks, args.get("thread_ts") or None)
    return {"message_ts": ephemeral.ts}


@method("chat.getPermalink")
def chat_get_permalink(state: EmulatorState, args: Json, caller: str) -> Json:
    channel = channel_of(state, args)
    message = message_in(state, channel, str(require(args, "message_ts")))
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
    with state.lock:
        user = _exchange_trigger(state, str(require(args, "trigger_id")))
        view_id = state.next_id("V")
        shown = _view_json(state, view_id, args.get("view") or {}, None)
        state.views[view_id] = View(view_id, "modal", user, shown)
        state.changed.notify_all()
    return {"view": shown}


def _exchange_trigger(state: EmulatorState, trigger_id: str) -> str:
    """The user a trigger was issued to; it cannot be used again, nor after its life."""
    trigger = state.triggers.get(trigger_id)
    if trigger is None:
        raise SlackError("invalid_trigger_id")
    if trigger.exchanged:
        raise SlackError("exchanged_trigger_id")
    if state.trigger_ttl is not None and state.now() - trigger.issued_at > state.trigger_ttl:
        raise SlackError("expired_trigger_id")
    trigger.exchanged = True
    return trigger.user


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
    user = str(require(args, "user_id"))
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
    user = str(require(args, "user"))
    if user not in state.users:
        raise SlackError("user_not_found")
    return {"user": user_json(state, user)}


@method("users.list")
def users_list(state: EmulatorState, args: Json, caller: str) -> Json:
    return {"members": [user_json(state, u) for u in state.users], "response_metadata": {}}


@method("usergroups.users.list")
def usergroups_users_list(state: EmulatorState, args: Json, caller: str) -> Json:
    group = state.groups.get(str(require(args, "usergroup")))
    if group is None:
        raise SlackError("no_such_subteam")
    return {"users": list(group.members)}


@method("usergroups.list")
def usergroups_list(state: EmulatorState, args: Json, caller: str) -> Json:
    groups = []
    for group in state.groups.values():
        shown: Json = {"id": group.id, "team_id": state.team_id, "handle": group.handle}
        shown.update(name=group.name, user_count=len(group.members))
        if flag(args, "include_users"):
            shown["users"] = list(group.members)
        groups.append(shown)
    return {"usergroups": groups}
