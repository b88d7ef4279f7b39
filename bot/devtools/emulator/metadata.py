"""Message metadata as ``chat.postMessage`` and ``chat.update`` take it.

Slack's shape is ``{"event_type": "...", "event_payload": {...}}``, sent as a JSON object (or
a JSON string inside a form post). Something that is not such an object is refused with
``invalid_metadata_format``. An ``event_type`` with characters other than letters, digits,
``_`` and ``-`` is, as Slack documents, an ``invalid_metadata_schema`` *warning*: the message
is posted and the metadata ignored. Readers see metadata only when they ask for it
(``include_all_metadata=true`` on ``conversations.history`` and ``conversations.replies``),
and in the poster's own answer.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.devtools.emulator.calls import SlackError

Json = dict[str, Any]
EVENT_TYPE = re.compile(r"[A-Za-z0-9_-]+")
INVALID_SCHEMA = "invalid_metadata_schema"


def parse_metadata(args: Json) -> tuple[Json | None, list[str]]:
    """The call's metadata (None if it has none, or if Slack would ignore it) and warnings."""
    raw = args.get("metadata")
    if raw is None or raw == "":
        return None, []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as error:
            raise SlackError("invalid_metadata_format") from error
    if not isinstance(raw, dict):
        raise SlackError("invalid_metadata_format")
    event_type, payload = raw.get("event_type"), raw.get("event_payload")
    if not isinstance(event_type, str) or not isinstance(payload, dict):
        raise SlackError("invalid_metadata_format")
    if not EVENT_TYPE.fullmatch(event_type):
        return None, [INVALID_SCHEMA]
    return {"event_type": event_type, "event_payload": payload}, []


def with_warnings(answer: Json, warnings: list[str]) -> Json:
    """Slack's way of telling a caller about a problem that did not stop the call."""
    if warnings:
        answer["warning"] = ",".join(warnings)
        answer["response_metadata"] = {"warnings": list(warnings)}
    return answer
