"""The parts every template context shares (``bot.render.contexts`` re-exports them)."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

When = datetime | str | float | None


class RunbookRef(TypedDict):
    id: str
    version: str | int
    title: str


class SlackWhere(TypedDict):
    """Where an item's conversation is: a message permalink if known, else its channel."""

    permalink: str | None
    channel_id: str | None
