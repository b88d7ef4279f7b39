"""What every emulated Web API method shares: Slack's errors, a registry, argument readers.

A method is a function of the state, the call's arguments and the caller's user id; it
returns the body of a successful answer (``ok`` is added) or raises :class:`SlackError`,
which becomes ``{"ok": false, "error": ...}`` as Slack answers it. Each module of methods
keeps its own registry (:func:`registry`); the server joins them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bot.devtools.emulator.state import EmulatorState, Json, Message

JSON_FIELDS = ("blocks", "attachments", "view", "metadata", "users")
# Slack's error for a field that is not valid JSON, where it is not ``invalid_<field>``.
JSON_FIELD_ERRORS = {"metadata": "invalid_metadata_format"}


class SlackError(Exception):
    """A Slack API error code such as ``channel_not_found``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


Method = Callable[[EmulatorState, Json, str], Json]


def registry(methods: dict[str, Method]) -> Callable[[str], Callable[[Method], Method]]:
    """A ``@method("name")`` decorator that registers into ``methods``."""

    def method(name: str) -> Callable[[Method], Method]:
        def register(function: Method) -> Method:
            methods[name] = function
            return function

        return register

    return method


def decode_json_fields(args: Json) -> Json:
    """Blocks, views, metadata... arrive as JSON strings inside form posts: parse them."""
    decoded = dict(args)
    for key in JSON_FIELDS:
        value = decoded.get(key)
        if isinstance(value, str) and value[:1] in "[{":
            try:
                decoded[key] = json.loads(value)
            except ValueError as error:
                raise SlackError(JSON_FIELD_ERRORS.get(key, f"invalid_{key}")) from error
    return decoded


def require(args: Json, name: str) -> Any:
    value = args.get(name)
    if value in (None, ""):
        raise SlackError("channel_not_found" if name == "channel" else "invalid_arguments")
    return value


def flag(args: Json, name: str) -> bool:
    return str(args.get(name, "")).lower() in ("1", "true")


def channel_of(state: EmulatorState, args: Json) -> str:
    channel = state.resolve_channel(str(require(args, "channel")))
    if channel is None:
        raise SlackError("channel_not_found")
    return channel


def message_in(state: EmulatorState, channel: str, ts: str) -> Message:
    message = state.find_message(channel, ts)
    if message is None:
        raise SlackError("message_not_found")
    return message
