"""A subject's events laid out for its page: who did what in which role, where in Slack, the
payload as a person reads it (the recommendation's arithmetic, votes, refusals, the execution's
result, the validation's values), each event's hash and how far the chain is verified."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.core.trail import TrailEvent, canonical_json
from bot.web.chain import ChainState, EventCheck

Verdict = Literal["verified", "pending", "broken"]
# Shown first, in this order; any other payload key follows alphabetically.
_FIRST = (
    "path", "severity", "decision", "outcome", "why", "reason", "explanation", "criteria",
    "votes", "ignored", "roles_held", "gate", "title", "metric", "detail", "output_excerpt",
)  # fmt: skip
_NESTED = 2  # objects nested deeper than this are shown as "key: value" lines
_WEB_URL = re.compile(r"https?://[^\s<>\"']+\Z")


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class PayloadRow:
    label: str
    text: str = ""
    table: Table | None = None
    multiline: bool = False
    rows: list[PayloadRow] | None = None  # a nested object, laid out as its own list


@dataclass(frozen=True)
class EventView:
    seq: int
    kind: str
    at: Any
    actor: str
    actor_role: str | None
    slack_url: str | None
    rows: list[PayloadRow]
    hash: str
    prev_hash: str
    verdict: Verdict
    problem: str | None = None
    quiet: bool = False  # bookkeeping (a message posted) rather than a decision


@dataclass
class Timeline:
    events: list[EventView] = field(default_factory=list)
    first_broken: EventView | None = None


def lay_out(
    events: Sequence[TrailEvent],
    *,
    checks: Mapping[int, EventCheck],
    chain: ChainState,
    workspace_url: str | None,
) -> Timeline:
    timeline = Timeline()
    for event in events:
        check = checks.get(event.seq)
        verdict, problem = _verdict(event.seq, check, chain)
        shown = EventView(
            seq=event.seq,
            kind=event.kind,
            at=event.at,
            actor=event.actor,
            actor_role=event.actor_role,
            slack_url=slack_url(event, workspace_url),
            rows=payload_rows(event.payload),
            hash=event.hash,
            prev_hash=event.prev_hash,
            verdict=verdict,
            problem=problem,
            quiet=event.kind.startswith("slack."),
        )
        if verdict == "broken" and timeline.first_broken is None:
            timeline.first_broken = shown
        timeline.events.append(shown)
    return timeline


def _verdict(seq: int, check: EventCheck | None, chain: ChainState) -> tuple[Verdict, str | None]:
    if check is not None and not check.contents_match:
        return "broken", "its hash does not match its contents: it was altered"
    if check is not None and not check.linked:
        return "broken", "it does not link to the event before it: an event was removed or changed"
    if chain.first_bad is not None and seq >= chain.first_bad.seq:
        return "broken", f"the chain is broken before it, at {chain.first_bad.describe()}"
    if seq <= chain.verified_seq:
        return "verified", None
    return "pending", None


def slack_url(event: TrailEvent, workspace_url: str | None) -> str | None:
    """The event's Slack permalink, or one built from its channel and message (Slack's
    ``/archives/CHANNEL/pTS`` form); None without a message to point at."""
    if event.permalink and _WEB_URL.match(event.permalink):
        return event.permalink
    ts = event.message_ts or event.thread_ts
    if not (workspace_url and _WEB_URL.match(workspace_url) and event.channel_id and ts):
        return None
    url = f"{workspace_url.rstrip('/')}/archives/{event.channel_id}/p{ts.replace('.', '')}"
    if event.thread_ts and event.message_ts and event.thread_ts != event.message_ts:
        url += f"?thread_ts={event.thread_ts}&cid={event.channel_id}"
    return url


def payload_rows(payload: Mapping[str, Any], depth: int = 0) -> list[PayloadRow]:
    keys = [k for k in _FIRST if k in payload] + sorted(k for k in payload if k not in _FIRST)
    rows = []
    for key in keys:
        row = _row(key.replace("_", " "), payload[key], depth)
        if row is not None:
            rows.append(row)
    return rows


def _row(label: str, value: Any, depth: int = 0) -> PayloadRow | None:
    if value is None or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, str):
        return PayloadRow(label, value, multiline="\n" in value)
    if isinstance(value, bool):
        return PayloadRow(label, "yes" if value else "no")
    if isinstance(value, int | float):
        return PayloadRow(label, f"{value:g}" if isinstance(value, float) else str(value))
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        headers = list(dict.fromkeys(key for item in value for key in item))
        rows = [[_cell(item.get(h)) for h in headers] for item in value]
        return PayloadRow(label, table=Table([h.replace("_", " ") for h in headers], rows))
    if isinstance(value, list) and all(isinstance(item, list) for item in value):
        return PayloadRow(label, table=Table([], [[_cell(c) for c in item] for item in value]))
    if isinstance(value, list):
        return PayloadRow(label, ", ".join(_cell(item) for item in value))
    if isinstance(value, dict) and depth < _NESTED:
        nested = payload_rows(value, depth + 1)
        return PayloadRow(label, rows=nested) if nested else None
    if isinstance(value, dict):
        lines = [f"{key}: {_cell(item)}" for key, item in sorted(value.items())]
        return PayloadRow(label, "\n".join(lines), multiline=True)
    return PayloadRow(label, _cell(value))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value)
    return canonical_json(value)
