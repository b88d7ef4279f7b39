"""Block Kit validation through slack_sdk's models, plus the checks slack_sdk leaves out.

``Block.parse(block).to_dict()`` checks required fields and most lengths recursively. It also
drops keys it does not know without an error, so the round trip is compared with the input: a
key that does not survive it is a typo in a template (``"acton_id"``) and reported as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.render import limits

VIEW_TYPES = ("modal", "home")  # views.open / views.update, and views.publish


@dataclass(frozen=True)
class BlockProblem:
    """What is wrong with one block (``index`` None: with the message or view itself)."""

    index: int | None
    message: str

    def __str__(self) -> str:
        where = "message" if self.index is None else f"block {self.index}"
        return f"{where}: {self.message}"


def _dropped(original: Any, parsed: Any, path: str = "") -> str | None:
    """The first key path present in ``original`` but lost or changed in ``parsed``."""
    if isinstance(original, dict):
        if not isinstance(parsed, dict):
            return path or "."
        for key, value in original.items():
            if key not in parsed:
                return f"{path}.{key}" if path else key
            found = _dropped(value, parsed[key], f"{path}.{key}" if path else key)
            if found:
                return found
        return None
    if isinstance(original, list):
        if not isinstance(parsed, list) or len(parsed) != len(original):
            return path
        for i, (left, right) in enumerate(zip(original, parsed, strict=True)):
            found = _dropped(left, right, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if original == parsed else path


def _extra_checks(block: dict[str, Any]) -> list[str]:
    """Limits slack_sdk does not check: field and context lengths, button label types."""
    problems: list[str] = []
    texts: list[tuple[str, Any, int]] = []
    if block.get("type") == "section":
        for i, item in enumerate(block.get("fields") or []):
            texts.append((f"fields[{i}]", item, limits.FIELD_TEXT))
    if block.get("type") == "context":
        for i, item in enumerate(block.get("elements") or []):
            if isinstance(item, dict) and item.get("type") in ("mrkdwn", "plain_text"):
                texts.append((f"elements[{i}]", item, limits.CONTEXT_TEXT))
    buttons = [block.get("accessory")] + list(block.get("elements") or [])
    for button in buttons:
        if isinstance(button, dict) and button.get("type") == "button":
            label = button.get("text")
            if not isinstance(label, dict) or label.get("type") != "plain_text":
                problems.append(f"button {button.get('action_id')!r}: text must be plain_text")
    for name, item, limit in texts:
        text = item.get("text") if isinstance(item, dict) else None
        if not isinstance(text, str) or not text:
            problems.append(f"{name}: text is required")
        elif len(text) > limit:
            problems.append(f"{name}: text of {len(text)} characters is over {limit}")
    return problems


def block_problems(blocks: list[Any]) -> list[BlockProblem]:
    """Every problem of a list of blocks, each naming the block's index."""
    problems: list[BlockProblem] = []
    seen_ids: set[str] = set()
    for index, block in enumerate(blocks):
        if not isinstance(block, dict) or "type" not in block:
            problems.append(BlockProblem(index, "a block must be an object with a 'type'"))
            continue
        try:
            parsed = Block.parse(block)
            if parsed is None:
                problems.append(BlockProblem(index, f"unknown block type {block['type']!r}"))
                continue
            round_trip = parsed.to_dict()
        except (SlackObjectFormationError, TypeError, ValueError, AttributeError) as error:
            problems.append(BlockProblem(index, f"{block['type']}: {error}"))
            continue
        lost = _dropped(block, round_trip)
        if lost:
            problems.append(BlockProblem(index, f"{block['type']}: unknown or invalid key {lost}"))
        problems.extend(BlockProblem(index, message) for message in _extra_checks(block))
        block_id = block.get("block_id")
        if isinstance(block_id, str):
            if block_id in seen_ids:
                problems.append(BlockProblem(index, f"duplicate block_id {block_id!r}"))
            seen_ids.add(block_id)
    return problems


def message_problems(message: Any) -> list[BlockProblem]:
    """Problems of a message ``{"text": ..., "blocks": [...]}``."""
    if not isinstance(message, dict):
        return [BlockProblem(None, "a message must be a JSON object")]
    problems: list[BlockProblem] = []
    unknown = sorted(set(message) - {"text", "blocks"})
    if unknown:
        problems.append(BlockProblem(None, f"unknown top-level keys {unknown}"))
    text = message.get("text")
    if not isinstance(text, str) or not text.strip():
        problems.append(BlockProblem(None, "'text' (the notification fallback) is required"))
    elif len(text) > limits.MAX_FALLBACK_TEXT:
        problems.append(BlockProblem(None, f"'text' is over {limits.MAX_FALLBACK_TEXT} characters"))
    blocks = message.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        return [*problems, BlockProblem(None, "'blocks' must be a non-empty list")]
    if len(blocks) > limits.MAX_BLOCKS:
        problems.append(BlockProblem(None, f"{len(blocks)} blocks, over {limits.MAX_BLOCKS}"))
    return problems + block_problems(blocks)


def view_problems(view: Any) -> list[BlockProblem]:
    """Problems of a modal or App Home view, checked with slack_sdk's ``View``."""
    if not isinstance(view, dict):
        return [BlockProblem(None, "a view must be a JSON object")]
    kind = view.get("type")
    if kind not in VIEW_TYPES:
        return [BlockProblem(None, "a view template must produce a modal or a home view")]
    try:
        round_trip = View(**view).to_dict()
    except (SlackObjectFormationError, TypeError, ValueError, AttributeError) as error:
        return [BlockProblem(None, f"{kind}: {error}")]
    problems = []
    lost = _dropped({k: v for k, v in view.items() if k != "blocks"}, round_trip)
    if lost:
        problems.append(BlockProblem(None, f"{kind}: unknown or invalid key {lost}"))
    return problems + block_problems(view.get("blocks") or [])
