"""Exporting the trail of one subject: Markdown for people, JSON for machines. Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal

from bot.core.trail import TrailEvent, canonical_json, format_time

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#])")


def _md(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return _MD_SPECIAL.sub(r"\\\1", flat)


def _summary(payload: dict[str, Any]) -> str:
    parts = []
    for key in sorted(payload):
        value = payload[key]
        shown = value if isinstance(value, str) else canonical_json(value)
        parts.append(f"{_md(key, 40)}: {_md(shown, 120)}")
    return "; ".join(parts)


def _slack_ref(event: TrailEvent) -> str:
    if event.permalink and re.match(r"https://[^\s()<>\[\]]+\Z", event.permalink):
        return f"[Slack]({event.permalink})"
    bits = [f"channel {event.channel_id}" if event.channel_id else ""]
    bits.append(f"thread {event.thread_ts}" if event.thread_ts else "")
    bits.append(f"message {event.message_ts}" if event.message_ts else "")
    text = ", ".join(bit for bit in bits if bit)
    return f"Slack {_md(text)}" if text else ""


def export_markdown(events: Sequence[TrailEvent], *, subject: str) -> str:
    """The story of one subject for people: one line per event, in order."""
    lines = [f"# Decision trail: {_md(subject)}", ""]
    if events:
        lines.append(
            f"{len(events)} events from {format_time(events[0].at)} to "
            f"{format_time(events[-1].at)} (UTC). Each is hash-chained into the whole trail; "
            "`releasebot trail verify` checks the chain."
        )
        lines.append("")
    for event in events:
        actor = _md(event.actor) + (f" ({_md(event.actor_role)})" if event.actor_role else "")
        kind = " ".join(event.kind.replace("`", "'").split())  # a code span: no escapes
        line = f"- **{format_time(event.at)}** `{kind}` by {actor}"
        slack = _slack_ref(event)
        if slack:
            line += f" · {slack}"
        if event.payload:
            line += f" — {_summary(event.payload)}"
        if not event.hash_matches():
            line += " — **WARNING: hash does not match contents**"
        lines.append(line + f" <sub>#{event.seq} {event.hash[:12]}</sub>")
    return "\n".join(lines) + "\n"


def export_json(events: Sequence[TrailEvent], *, subject: str) -> str:
    """The same story for machines: every field, including the hashes, in order."""
    document = {
        "subject": subject,
        "count": len(events),
        "events": [
            {
                **event.document(),
                "hash": event.hash,
                "mac": event.mac,
                "hash_matches": event.hash_matches(),
            }
            for event in events
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def export_events(events: Sequence[TrailEvent], *, subject: str, fmt: Literal["md", "json"]) -> str:
    if fmt == "md":
        return export_markdown(events, subject=subject)
    if fmt == "json":
        return export_json(events, subject=subject)
    raise ValueError(f"unknown export format {fmt!r} (md or json)")
