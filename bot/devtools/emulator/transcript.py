"""A channel as a person reads it in Slack, in plain text.

Blocks become lines (headers, sections and fields, context, ``[ Pass ] [ Fail ]`` buttons),
mrkdwn becomes plain-ish text (``<@U0ALICE>`` -> ``@alice``, ``<url|label>`` ->
``label (url)``, entities unescaped), edited messages say ``(edited)``, and thread replies
sit indented under their root (``  ↳``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.devtools.emulator.state import EmulatorState, Ephemeral, Json, Message

_ENTITY = re.compile(r"<([^<>\n]+)>")
_BOLD = re.compile(r"(?<![\w*])\*(?![\s*])([^*\n]+?)(?<!\s)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?![\s_])([^_\n]+?)(?<!\s)_(?![\w_])")
_BROADCASTS = {"!channel": "@channel", "!here": "@here", "!everyone": "@everyone"}
_RULE = "─" * 12


def mrkdwn_to_plain(text: str, state: EmulatorState) -> str:
    """Slack mrkdwn as the reader sees it: names for ids, links as ``label (url)``."""

    def entity(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            user = state.users.get(target[1:])
            return "@" + (user.name if user else label.lstrip("@") or target[1:])
        if target.startswith("#"):
            channel = state.channels.get(target[1:])
            return "#" + (channel.name if channel else label or target[1:])
        if target.startswith("!subteam^"):
            group = state.groups.get(target.removeprefix("!subteam^"))
            return "@" + (group.handle if group else label.lstrip("@") or target[9:])
        if target.startswith("!date^"):
            if label:
                return label
            epoch = int(target.split("^")[1])
            return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
        if target.startswith("!"):
            return _BROADCASTS.get(target, label)
        return f"{label} ({target})" if label and label != target else target

    plain = _ENTITY.sub(entity, text)
    plain = _ITALIC.sub(r"\1", _BOLD.sub(r"\1", plain))
    return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(obj: Any, state: EmulatorState) -> str:
    if not isinstance(obj, dict):
        return ""
    raw = str(obj.get("text") or "")
    return mrkdwn_to_plain(raw, state) if obj.get("type") == "mrkdwn" else raw


def _element(element: Json, state: EmulatorState) -> str:
    """An interactive element as a reader sees it: ``[ Pass ]``, ``[ Pick one ▾ ]``."""
    kind = element.get("type")
    if kind == "button":
        return f"[ {_text(element.get('text'), state)} ]"
    if kind == "image":
        return f"[image: {element.get('alt_text', '')}]"
    if kind in ("mrkdwn", "plain_text"):
        return _text(element, state)
    chosen = element.get("initial_option") or {}
    label = _text(chosen.get("text") or element.get("placeholder"), state)
    return f"[ {label or kind} ▾ ]"


def _rich_text(element: Json, state: EmulatorState) -> str:
    kind = element.get("type")
    if kind == "text":
        return str(element.get("text", ""))
    if kind == "user":
        return "@" + state.display_name(str(element.get("user_id")))
    if kind == "usergroup":
        group = state.groups.get(str(element.get("usergroup_id")))
        return "@" + (group.handle if group else str(element.get("usergroup_id")))
    if kind == "channel":
        channel = state.channels.get(str(element.get("channel_id")))
        return "#" + (channel.name if channel else str(element.get("channel_id")))
    if kind == "link":
        url, label = element.get("url", ""), element.get("text")
        return f"{label} ({url})" if label else str(url)
    if kind == "emoji":
        code = str(element.get("unicode") or "")
        if code:
            return "".join(chr(int(part, 16)) for part in code.split("-"))
        return f":{element.get('name')}:"
    if kind == "broadcast":
        return "@" + str(element.get("range"))
    return "".join(_rich_text(child, state) for child in element.get("elements", []))


def _field(field: Json, state: EmulatorState) -> str:
    first, _, rest = _text(field, state).partition("\n")
    return f"{first}: {' '.join(rest.splitlines())}" if rest else first


def render_blocks(blocks: list[Json], state: EmulatorState) -> list[str]:
    """The lines a reader sees for a list of Block Kit blocks."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(_text(block.get("text"), state))
        elif kind == "section":
            if block.get("text"):
                lines.extend(_text(block["text"], state).splitlines())
            lines.extend(_field(field, state) for field in block.get("fields", []))
            if block.get("accessory"):
                lines.append(_element(block["accessory"], state))
        elif kind == "context":
            lines.append("  ".join(_element(e, state) for e in block.get("elements", [])))
        elif kind == "actions":
            lines.append(" ".join(_element(e, state) for e in block.get("elements", [])))
        elif kind == "divider":
            lines.append(_RULE)
        elif kind == "image":
            lines.append(f"[image: {block.get('alt_text', '')}]")
        elif kind == "rich_text":
            lines.extend(_rich_text(block, state).splitlines())
        elif kind == "input":
            label = _text(block.get("label"), state)
            lines.append(f"{label}: {_element(block.get('element') or {}, state)}")
        else:
            lines.append(f"[{kind}]")
    return lines


@dataclass
class _Entry:
    """A message or an ephemeral, as one item of the transcript."""

    ts: str
    author: str
    lines: list[str]
    notes: str


def _entry(item: Message | Ephemeral, state: EmulatorState) -> _Entry:
    author_id = item.user if isinstance(item, Message) else item.author
    author = state.display_name(author_id)
    if author_id == state.bot.user_id:
        author += " [APP]"
    lines = render_blocks(item.blocks, state) if item.blocks else []
    lines = lines or mrkdwn_to_plain(item.text, state).splitlines() or [""]
    notes = []
    if isinstance(item, Ephemeral):
        notes.append(f"(only visible to you: @{state.display_name(item.user)})")
    elif item.edited_ts:
        notes.append("(edited)")
    if isinstance(item, Message) and item.reply_broadcast:
        notes.append("(also sent to the channel)")
    return _Entry(item.ts, author, lines, " ".join(notes))


def _format(entry: _Entry, reply: bool) -> list[str]:
    clock = datetime.fromtimestamp(float(entry.ts), UTC).strftime("%H:%M")
    head = f"{'  ↳ ' if reply else ''}{clock} {entry.author}"
    notes = f" {entry.notes}" if entry.notes else ""
    if len(entry.lines) == 1 and len(entry.lines[0]) <= 80:
        return [f"{head}: {entry.lines[0]}{notes}"]
    indent = " " * (8 if reply else 4)
    return [f"{head}{notes}", *(f"{indent}{line}".rstrip() for line in entry.lines)]


def render_transcript(
    state: EmulatorState, channel: str, *, include_ephemeral: bool = False
) -> str:
    """The channel's messages, oldest first, with threads under their roots."""
    with state.lock:
        channel_id = state.resolve_channel(channel) or channel
        messages = [m for m in state.messages.get(channel_id, []) if not m.deleted]
        ephemerals = [e for e in state.ephemerals if e.channel == channel_id]
        if not include_ephemeral:
            ephemerals = []
        roots: list[Message | Ephemeral] = [m for m in messages if not m.is_reply]
        roots += [e for e in ephemerals if not e.thread_ts]
        name = state.channels[channel_id].name if channel_id in state.channels else channel_id
        out = [f"#{name}"]
        for root in sorted(roots, key=lambda item: float(item.ts)):
            out += _format(_entry(root, state), reply=False)
            if isinstance(root, Ephemeral):
                continue
            replies: list[Message | Ephemeral] = [
                m for m in messages if m.is_reply and m.thread_ts == root.ts
            ]
            replies += [e for e in ephemerals if e.thread_ts == root.ts]
            for reply in sorted(replies, key=lambda item: float(item.ts)):
                out += _format(_entry(reply, state), reply=True)
        return "\n".join(out) + "\n"
