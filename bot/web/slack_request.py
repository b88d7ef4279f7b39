"""Slack's HTTP requests as Bolt requests, with the interactive payload decoded in C.

A button click arrives as ``payload=<the JSON, form-encoded>``: the whole message with its
blocks, 5-20 kB with one ``%XX`` escape every few characters. Bolt decodes it with
``urllib.parse.parse_qsl``, a Python loop over the escapes that took about a fifth of the
serving process's CPU in the click benchmark (py-spy), on the click's own path. Here the same
bytes are decoded by the ``unicode_escape`` codec instead (``%XX`` becomes ``\\xXX``), which
gives the same text about eight times faster. Anything that is not plainly such a body (other
fields, a stray backslash, a malformed escape, bytes that are not UTF-8) is left to Bolt.

Only bodies whose signature has been checked are parsed (``bot.web.slack_signature``, in
``bot.web.app.SlackEvents``); a body that is not a JSON object (not JSON, a list, nested past
the parser's depth) is a ``MalformedBody``, which the caller answers 400.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from slack_bolt.context import BoltContext
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context, parse_body

PAYLOAD_FIELD = "payload="


def unquote_plus_fast(value: str) -> str | None:
    """``urllib.parse.unquote_plus(value)`` for well-formed form values, decoded by C codecs;
    None when ``value`` is anything else (the caller then decodes it the usual way)."""
    if not value.isascii() or "\\" in value:
        return None
    escaped = value.replace("+", " ").replace("%", "\\x").encode("ascii")
    try:
        return escaped.decode("unicode_escape").encode("latin-1").decode("utf-8")
    except UnicodeError:  # a malformed escape, or bytes that are not UTF-8
        return None


class MalformedBody(ValueError):
    """The body is not what Slack sends: the message says what is wrong with it."""


def parse_slack_body(body: str, content_type: str | None) -> dict[str, Any]:
    """What ``slack_bolt.request.internals.parse_body`` returns for ``body``, when that is a
    JSON object; ``MalformedBody`` otherwise."""
    parsed: object
    try:
        payload = None
        fast = body.startswith(PAYLOAD_FIELD) and content_type != "application/json"
        if fast and "&" not in body:
            payload = unquote_plus_fast(body[len(PAYLOAD_FIELD) :])
        parsed = json.loads(payload) if payload is not None else parse_body(body, content_type)
    except RecursionError:
        raise MalformedBody("the request's JSON is nested too deeply") from None
    except ValueError:
        raise MalformedBody("the request's payload is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise MalformedBody("the request's JSON is not an object")
    return parsed


class SlackRequest(BoltRequest):
    """A ``BoltRequest`` in HTTP mode whose body is parsed by ``parse_slack_body`` (or given
    already parsed, as ``parsed``).

    ``to_copyable`` (lazy listeners) builds a plain ``BoltRequest`` from ``raw_body``.
    """

    def __init__(
        self,
        *,
        body: str,
        query: str | dict[str, str] | dict[str, Sequence[str]] | None = None,
        headers: dict[str, str | Sequence[str]] | None = None,
        parsed: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(body="", query=query, headers=headers)
        self.raw_body = body
        self.body = parsed if parsed is not None else parse_slack_body(body, self.content_type)
        self.context = build_context(BoltContext(), self.body)
