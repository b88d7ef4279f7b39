"""Slack's size limits: cut overlong text with a visible marker, and cap the number of items.

Slack rejects a whole message when one text is a character too long; a cut, marked message is
better than none. Cuts never split an escape (``&amp;``) or a Slack token (``<@U0ALICE>``).
Limits are those of Slack's Block Kit reference (and slack_sdk's models, which check most).
"""

from __future__ import annotations

from typing import Any

MARKER = "… (truncated)"
SHORT_MARKER = "…"

MAX_BLOCKS = 50
MAX_FALLBACK_TEXT = 4000
SECTION_TEXT = 3000
FIELD_TEXT = 2000
MAX_FIELDS = 10
CONTEXT_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
HEADER_TEXT = 150
BUTTON_TEXT = 75
INPUT_LABEL = 2000
PLACEHOLDER = 150
VIEW_TITLE = 24
VIEW_BUTTON = 24


def truncate(text: str, limit: int, *, mrkdwn: bool = True) -> str:
    """``text`` if it fits in ``limit`` characters, else a prefix ending in the marker."""
    if len(text) <= limit:
        return text
    marker = MARKER if limit >= 4 * len(MARKER) else SHORT_MARKER
    cut = max(limit - len(marker), 0)
    if mrkdwn:
        cut = _safe_cut(text, cut)
    return text[:cut].rstrip() + marker if cut else marker[:limit]


def _safe_cut(text: str, cut: int) -> int:
    """Move ``cut`` back to before an entity or ``<…>`` token it would split."""
    amp = text.rfind("&", 0, cut)
    if amp != -1 and cut - amp < len("&amp;") and ";" not in text[amp:cut]:
        cut = amp
    lt = text.rfind("<", 0, cut)
    if lt != -1 and ">" not in text[lt:cut]:
        cut = lt
    return cut


def strip_trailing_commas(source: str) -> str:
    """Drop commas directly before ``]`` or ``}`` outside strings, so loops may emit ``x,``."""
    out: list[str] = []
    in_string = escaped = False
    pending_comma = -1
    for char in source:
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char in "]}" and pending_comma >= 0:
            del out[pending_comma]
        if char == ",":
            pending_comma = len(out)
        elif not char.isspace():
            pending_comma = -1
        if char == '"':
            in_string = True
        out.append(char)
    return "".join(out)


def _fit_text(obj: Any, limit: int) -> None:
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        text = obj["text"] if obj["text"].strip() else "—"
        obj["text"] = truncate(text, limit, mrkdwn=obj.get("type") == "mrkdwn")


def _more(count: int, what: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": f"… {count} more {what} not shown"}


def _fit_element(element: Any) -> None:
    if isinstance(element, dict) and element.get("type") == "button":
        _fit_text(element.get("text"), BUTTON_TEXT)


def fit_block(block: dict[str, Any]) -> None:
    """Cut the texts of one block to Slack's limits, in place."""
    kind = block.get("type")
    if kind == "header":
        _fit_text(block.get("text"), HEADER_TEXT)
    elif kind == "section":
        _fit_text(block.get("text"), SECTION_TEXT)
        fields = block.get("fields")
        if isinstance(fields, list):
            if len(fields) > MAX_FIELDS:
                fields[MAX_FIELDS - 1 :] = [_more(len(fields) - MAX_FIELDS + 1, "fields")]
            for item in fields:
                _fit_text(item, FIELD_TEXT)
        _fit_element(block.get("accessory"))
    elif kind == "context":
        elements = block.get("elements")
        if isinstance(elements, list):
            if len(elements) > MAX_CONTEXT_ELEMENTS:
                extra = len(elements) - MAX_CONTEXT_ELEMENTS + 1
                elements[MAX_CONTEXT_ELEMENTS - 1 :] = [_more(extra, "items")]
            for item in elements:
                _fit_text(item, CONTEXT_TEXT)
    elif kind == "actions":
        for element in block.get("elements") or []:
            _fit_element(element)
    elif kind == "input":
        _fit_text(block.get("label"), INPUT_LABEL)
        _fit_text(block.get("hint"), INPUT_LABEL)
        element = block.get("element")
        if isinstance(element, dict):
            _fit_text(element.get("placeholder"), PLACEHOLDER)


def fit_blocks(blocks: list[Any], max_blocks: int = MAX_BLOCKS) -> list[Any]:
    """Every block cut to size, and at most ``max_blocks`` of them (the last one a note)."""
    for block in blocks:
        if isinstance(block, dict):
            fit_block(block)
    if len(blocks) > max_blocks:
        hidden = len(blocks) - max_blocks + 1
        note = {"type": "context", "block_id": "more_blocks", "elements": [_more(hidden, "blocks")]}
        blocks = [*blocks[: max_blocks - 1], note]
    return blocks


def fit_message(message: dict[str, Any]) -> dict[str, Any]:
    """A rendered message (``text`` and ``blocks``) cut to Slack's limits, in place."""
    if isinstance(message.get("text"), str):
        message["text"] = truncate(message["text"] or "—", MAX_FALLBACK_TEXT)
    if isinstance(message.get("blocks"), list):
        message["blocks"] = fit_blocks(message["blocks"])
    return message


def fit_view(view: dict[str, Any]) -> dict[str, Any]:
    """A modal or home view cut to Slack's limits (100 blocks), in place."""
    for key, limit in (("title", VIEW_TITLE), ("submit", VIEW_BUTTON), ("close", VIEW_BUTTON)):
        _fit_text(view.get(key), limit)
    if isinstance(view.get("blocks"), list):
        view["blocks"] = fit_blocks(view["blocks"], max_blocks=100)
    return view
