"""What a terminal shows: the decision trail as a table, with rich.

Markdown (``trail export --format md``) is for documents and reviews; in a terminal its escapes
(``\\_``, ``\\[``) and ``<sub>`` tags are noise. Every value is given to rich as ``Text``, never
as markup, so text a person typed (``[bold]``, ``[link=...]``) prints as typed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import IO, Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from bot.core.trail import TrailEvent, format_time

VALUE_LIMIT = 120  # characters of one payload value
PLAIN_WIDTH = 120  # columns when the output is not a terminal (a file, a pipe, a test)


def make_console(file: IO[str] | None = None) -> Console:
    """A console on ``file`` (standard output by default): colours and the terminal's width on
    a terminal; plain text ``PLAIN_WIDTH`` wide anywhere else."""
    out = file or sys.stdout
    terminal = out.isatty()
    return Console(
        file=out,
        width=None if terminal else PLAIN_WIDTH,
        no_color=not terminal,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )


def trail_view(events: Sequence[TrailEvent], *, subject: str) -> Group:
    """One subject's events in order: when, what, who, where in Slack, and the details."""
    heading = Text(f"Decision trail: {subject}", style="bold")
    if events:
        heading.append(
            f"\n{len(events)} events, {format_time(events[0].at)} to {format_time(events[-1].at)} "
            "(UTC); each is hash-chained into the whole trail (`releasebot trail verify`).",
            style="dim",
        )
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("event", style="cyan", no_wrap=True)
    table.add_column("by", no_wrap=True)
    table.add_column("details", overflow="fold")
    for event in events:
        actor = event.actor + (f" ({event.actor_role})" if event.actor_role else "")
        details = Text(_details(event.payload))
        where = _where(event)
        if where:  # a link to the Slack message, where the terminal shows links
            style = f"dim link {event.permalink}" if event.permalink else "dim"
            details.append(("\n" if details else "") + where, style=style)
        if not event.hash_matches():
            details.append("\nWARNING: the hash does not match the contents", style="bold red")
        table.add_row(
            Text(str(event.seq)),
            Text(format_time(event.at)[11:23]),
            Text(event.kind),
            Text(actor),
            details,
        )
    return Group(heading, Text(""), table)


def _details(payload: dict[str, Any]) -> str:
    return "; ".join(f"{key}: {_value(value)}" for key, value in sorted(payload.items()))


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= VALUE_LIMIT else text[: VALUE_LIMIT - 1] + "…"


def _where(event: TrailEvent) -> str:
    parts = [f"#{event.channel_id}"] if event.channel_id else []
    if event.thread_ts:
        parts.append(f"thread {event.thread_ts}")
    if event.message_ts and event.message_ts != event.thread_ts:
        parts.append(f"message {event.message_ts}")
    return ", ".join(parts)


def print_trail(
    events: Sequence[TrailEvent], *, subject: str, console: Console | None = None
) -> None:
    (console or make_console()).print(trail_view(events, subject=subject))
