"""What the person who acted is told."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    """Shown to the person who acted (ephemerally); ``ok`` is False for refusals.

    ``misplaced``: the click named something its message does not carry
    (``bot.services.approvals.clicks``); the edge answers it as a malformed request (400)
    as well as telling the person."""

    ok: bool
    text: str
    misplaced: bool = False
