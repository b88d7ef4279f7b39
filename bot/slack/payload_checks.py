"""What a request from Slack must look like before Bolt and the listeners see it.

A signed request (or a Socket Mode envelope) is authentic, not necessarily well formed: a
button value that is not one the bot rendered, a click without a user, channel or action, a
``user`` that is a number. Bolt reads such fields while it builds its context and routes the
request, and the listeners read them to call the services; each of those reads used to raise
and answer 500 with a traceback. ``check_request`` looks at exactly the fields they read and
returns a ``Refusal`` (a 400 with a reason, and the person to tell when there is one) instead.

Pure: standard library only, no I/O. Reasons name fields, never echo their values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_ROW_ID = 2**63 - 1
MAX_ID_TEXT = 255
_USER = re.compile(r"[UW][A-Z0-9]{1,30}\Z")
_CHANNEL = re.compile(r"[CGD][A-Z0-9]{1,30}\Z")
_TS = re.compile(r"[0-9]{1,12}\.[0-9]{1,9}\Z")
# Where Bolt looks for ids while it builds a request's context, and what each may be.
_ID_OBJECTS = ("enterprise", "team", "user", "channel")  # an id (text) or an object with "id"
_OBJECTS = ("event", "message", "previous_message", "item", "assistant_thread",
            "function_data", "view", "container")  # fmt: skip
_TEXTS = ("type", "team_id", "user_id", "channel_id", "enterprise_id", "thread_ts",
          "response_url", "trigger_id", "event_id", "api_app_id")  # fmt: skip


@dataclass(frozen=True)
class Refusal:
    """A request refused before any listener ran: answer ``status`` with ``reason``; tell
    ``user_id`` in ``channel_id`` (ephemerally) when both are known."""

    reason: str
    status: int = 400
    user_id: str | None = None
    channel_id: str | None = None
    thread_ts: str | None = None

    @property
    def person(self) -> bool:
        return self.user_id is not None and self.channel_id is not None


class _Bad(ValueError):
    """A field is missing or of the wrong shape (the message names it)."""


# --- the bot's own buttons and forms ---------------------------------------------------------


def _row_id(value: Any, name: str) -> int:
    """A database id as the bot renders it (decimal text), or as an integer."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise _Bad(f"{name} must be a positive integer")
    if not 1 <= number <= MAX_ROW_ID:
        raise _Bad(f"{name} must be a positive integer")
    return number


def _id_text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_TEXT:
        raise _Bad(f"{name} must be text of 1 to {MAX_ID_TEXT} characters")
    return value


def _gate_ids(ids: Mapping[str, Any]) -> None:
    _row_id(ids.get("review_id"), "review_id")
    _id_text(ids.get("gate_id"), "gate_id")


def _request_ids(ids: Mapping[str, Any]) -> None:
    _row_id(ids.get("request_id"), "request_id")


# action_id -> (the keys its value holds, the check of their values)
BUTTON_VALUES: dict[str, tuple[frozenset[str], Callable[[Mapping[str, Any]], None]]] = {
    **{f"gate_{verb}": (frozenset({"review_id", "gate_id"}), _gate_ids)
       for verb in ("pass", "fail", "waive")},
    **{name: (frozenset({"request_id"}), _request_ids)
       for name in ("approval_approve", "approval_reject", "rollback_hold", "rollback_endorse")},
}  # fmt: skip
REASON_FORM = "reason_modal"
_FORM_KINDS: dict[str, tuple[frozenset[str], Callable[[Mapping[str, Any]], None]]] = {
    "gate": (frozenset({"kind", "action", "review_id", "gate_id", "channel_id"}), _gate_ids),
    "vote": (frozenset({"kind", "action", "request_id", "channel_id"}), _request_ids),
}


def _json_object(text: Any, name: str) -> dict[str, Any]:
    if not isinstance(text, str) or len(text) > 3000:
        raise _Bad(f"{name} must be JSON text")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise _Bad(f"{name} is not JSON") from None
    if not isinstance(value, dict):
        raise _Bad(f"{name} is not a JSON object")
    return value


def _check_button(action: Mapping[str, Any]) -> None:
    expected = BUTTON_VALUES.get(action["action_id"])
    if expected is None:
        return  # not one of the bot's buttons: Bolt answers that no listener wants it
    keys, check = expected
    ids = _json_object(action.get("value"), "the button's value")
    if set(ids) != keys:
        raise _Bad("the button's value is not one this bot rendered")
    check(ids)
    _optional_text(action, "action_ts", "the action")


# --- shapes ------------------------------------------------------------------------------------


def _optional_text(body: Mapping[str, Any], key: str, where: str) -> None:
    if body.get(key) is not None and not isinstance(body[key], str):
        raise _Bad(f"{where}'s {key} must be text")


def _object(body: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = body.get(key)
    if not isinstance(value, dict):
        raise _Bad(f"{where} has no {key} object")
    return value


def _bolt_safe(body: Mapping[str, Any], where: str = "the request") -> None:
    """The fields Bolt reads while building a request's context have the types it assumes."""
    for key in _ID_OBJECTS:
        value = body.get(key)
        if value is not None and not isinstance(value, str | dict):
            raise _Bad(f"{where}'s {key} must be an id or an object")
        if isinstance(value, dict):
            _optional_text(value, "id", f"{where}'s {key}")
    for key in _OBJECTS:
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise _Bad(f"{where}'s {key} must be an object")
    for key in _TEXTS:
        _optional_text(body, key, where)
    for key in ("authorizations", "response_urls"):
        items = body.get(key)
        if items is not None and not (
            isinstance(items, list) and all(isinstance(item, dict) for item in items)
        ):
            raise _Bad(f"{where}'s {key} must be a list of objects")
    for item in body.get("authorizations") or []:
        _bolt_safe(item, f"{where}'s authorization")
    for key in ("event", "message", "previous_message", "item", "assistant_thread"):
        if isinstance(body.get(key), dict):
            _bolt_safe(body[key], f"{where}'s {key}")
    if body.get("is_ext_shared_channel") is True and body.get("type") == "event_callback":
        _object(body, "event", where)


def _person(body: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """The clicking user, channel and thread, when the body names them validly."""
    user = body.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    channel = body.get("channel")
    container = body.get("container")
    channel_id = channel.get("id") if isinstance(channel, dict) else None
    if channel_id is None and isinstance(container, dict):
        channel_id = container.get("channel_id")
    message = body.get("message")
    thread_ts = message.get("thread_ts") if isinstance(message, dict) else None
    return (
        user_id if isinstance(user_id, str) and _USER.match(user_id) else None,
        channel_id if isinstance(channel_id, str) and _CHANNEL.match(channel_id) else None,
        thread_ts if isinstance(thread_ts, str) and _TS.match(thread_ts) else None,
    )


def _check_click(body: Mapping[str, Any]) -> None:
    user = _object(body, "user", "the click")
    if not isinstance(user.get("id"), str) or not _USER.match(user["id"]):
        raise _Bad("the click's user has no valid id")
    user_id, channel_id, _ = _person(body)
    in_view = isinstance(body.get("container"), dict) and body["container"].get("type") == "view"
    if channel_id is None and not in_view:  # a click in the App Home has no channel
        raise _Bad("the click names no valid channel (channel.id or container.channel_id)")
    _optional_text(body, "trigger_id", "the click")
    if not isinstance(body.get("trigger_id"), str):
        raise _Bad("the click has no trigger_id")
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions:
        raise _Bad("the click has no actions")
    if not all(isinstance(action, dict) for action in actions):
        raise _Bad("the click's actions must be objects")
    if not isinstance(actions[0].get("action_id"), str):
        raise _Bad("the click's action has no action_id")
    for action in actions:
        if isinstance(action.get("action_id"), str):
            _check_button(action)
    if isinstance(body.get("message"), dict):
        for key in ("ts", "thread_ts"):
            _optional_text(body["message"], key, "the clicked message")
    if isinstance(body.get("container"), dict):
        for key in ("message_ts", "thread_ts"):
            _optional_text(body["container"], key, "the click's container")


def _check_form(body: Mapping[str, Any]) -> None:
    user = _object(body, "user", "the form")
    if not isinstance(user.get("id"), str) or not _USER.match(user["id"]):
        raise _Bad("the form's user has no valid id")
    view = _object(body, "view", "the form")
    if not isinstance(view.get("callback_id"), str):
        raise _Bad("the form has no callback_id")
    if view["callback_id"] != REASON_FORM:
        return
    state = _object(view, "state", "the form")
    values = _object(state, "values", "the form's state")
    field = values.get("reason", {})
    if not isinstance(field, dict) or not isinstance(field.get("reason", {}), dict):
        raise _Bad("the form's reason field is not an object")
    _optional_text(field.get("reason", {}), "value", "the form's reason")
    metadata = _json_object(view.get("private_metadata") or "{}", "the form's private_metadata")
    kind = metadata.get("kind")
    if kind not in _FORM_KINDS:
        return  # answered "this form is out of date" by its listener
    keys, check = _FORM_KINDS[kind]
    if set(metadata) != keys or not isinstance(metadata.get("action"), str):
        raise _Bad("the form's private_metadata is not one this bot rendered")
    check(metadata)
    if not _CHANNEL.match(_id_text(metadata.get("channel_id"), "channel_id")):
        raise _Bad("the form's channel_id is not a channel id")


# The events the bot listens to, and the fields of theirs its listeners read.
_EVENT_TEXTS = ("subtype", "channel", "ts", "thread_ts", "user", "bot_id", "text", "tab")
_HANDLED_EVENTS = ("message", "app_mention", "app_home_opened")


def _check_event(body: Mapping[str, Any]) -> None:
    event = _object(body, "event", "the event callback")
    if not isinstance(event.get("type"), str):
        raise _Bad("the event has no type")
    if event["type"] not in _HANDLED_EVENTS:
        return
    for key in _EVENT_TEXTS:
        _optional_text(event, key, "the event")
    if event["type"] in ("message", "app_mention") and not (
        isinstance(event.get("channel"), str) and isinstance(event.get("ts"), str)
    ):
        raise _Bad(f"the {event['type']} event has no channel or ts")


def _check_command(body: Mapping[str, Any]) -> None:
    for key in ("command", "user_id", "channel_id"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise _Bad(f"the slash command has no {key}")
    _optional_text(body, "text", "the slash command")


_BY_TYPE: dict[str, Callable[[Mapping[str, Any]], None]] = {
    "block_actions": _check_click,
    "view_submission": _check_form,
    "event_callback": _check_event,
}


def check_request(body: object) -> Refusal | None:
    """None when ``body`` (a parsed request: HTTP form or JSON, or a Socket Mode envelope's
    payload) is safe to hand to Bolt; otherwise why not, and whom to tell."""
    if not isinstance(body, dict):
        return Refusal("the request is not a JSON object")
    try:
        _bolt_safe(body)
        if "command" in body and "type" not in body:
            _check_command(body)
        elif body.get("type") == "url_verification":
            if not isinstance(body.get("challenge"), str):
                raise _Bad("the url_verification request has no challenge")
        elif isinstance(body.get("type"), str) and body["type"] in _BY_TYPE:
            _BY_TYPE[body["type"]](body)
        elif "ssl_check" not in body and not isinstance(body.get("type"), str):
            raise _Bad("the request has no type")
    except _Bad as problem:
        user_id, channel_id, thread_ts = _person(body)
        if user_id is None or channel_id is None:
            user_id = channel_id = thread_ts = None
        return Refusal(str(problem), user_id=user_id, channel_id=channel_id, thread_ts=thread_ts)
    return None


def refusal_text(refusal: Refusal) -> str:
    """What the person is told (privately) when their request was refused."""
    return (
        "Sorry, that request reached me malformed, so I did not record anything "
        f"({refusal.reason}). Please try again from the latest message."
    )
