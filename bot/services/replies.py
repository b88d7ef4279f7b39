"""What the person who acted is told."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    """Shown to the person who acted (ephemerally); ``ok`` is False for refusals."""

    ok: bool
    text: str
