"""The trail events the learning loop reads (the journal, the figures, post-mortems), as the
store streams them: in chain order, with the runbook their subject belongs to. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class LearningEvent:
    """One trail event as the learning loop reads it."""

    seq: int
    kind: str
    subject: str
    runbook_id: str | None
    actor: str
    actor_role: str | None
    at: datetime
    payload: Mapping[str, Any]


def parse_time(value: Any) -> datetime | None:
    """A canonical trail time text (``...Z``) as a datetime; None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
