"""The small parts every template context refers to: a time, and the runbook."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

When = datetime | str | float | None


class RunbookRef(TypedDict):
    id: str
    version: str | int
    title: str
