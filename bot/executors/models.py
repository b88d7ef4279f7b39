"""What an executor is asked to run and what it reports back: plain, immutable values."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Outcome = Literal["succeeded", "failed", "timed_out", "dry_run"]

EXCERPT_LIMIT = 2000
_HEADER_SAFE = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces


@dataclass(frozen=True)
class ExecutionRequest:
    """One approved rollback path to run, with who asked and who approved.

    ``idempotency_key`` identifies this execution: it is sent as the ``Idempotency-Key``
    header (unchanged across retries) and to commands as ``RELEASEBOT_IDEMPOTENCY_KEY``, so
    it must be printable ASCII without spaces (at most 255 characters).
    """

    runbook_id: str
    runbook_version: int
    path_id: str
    rollback_id: str
    severity: str
    idempotency_key: str
    requested_by: str | None = None
    approved_by: Sequence[str] = field(default_factory=tuple)
    drill: bool = False

    def __post_init__(self) -> None:
        if not _HEADER_SAFE.fullmatch(self.idempotency_key):
            raise ValueError("idempotency_key must be 1-255 printable ASCII characters, no spaces")
        object.__setattr__(self, "approved_by", tuple(self.approved_by))

    @property
    def placeholders(self) -> dict[str, str]:
        """The values of ``$runbook``, ``$path``, ... in webhook payloads."""
        return {
            "runbook": self.runbook_id,
            "runbook_version": str(self.runbook_version),
            "path": self.path_id,
            "rollback_id": self.rollback_id,
            "severity": self.severity,
            "idempotency_key": self.idempotency_key,
            "drill": "true" if self.drill else "false",
        }


@dataclass(frozen=True)
class ExecutionOutcome:
    """What happened: the outcome, how many attempts, when, and a short account of it.

    ``target`` is what was (or would have been) run: the URL, the command line, or the
    dry-run note. ``output_excerpt`` is the response body or the command's stdout then
    stderr, at most ``EXCERPT_LIMIT`` characters; None when there was no output.
    """

    outcome: Outcome
    attempts: int
    started_at: datetime
    finished_at: datetime
    duration_seconds: float
    output_excerpt: str | None
    detail: str
    target: str


def finished(
    outcome: Outcome,
    *,
    attempts: int,
    started_at: datetime,
    finished_at: datetime,
    detail: str,
    target: str,
    output: str | None = None,
) -> ExecutionOutcome:
    """An ``ExecutionOutcome`` with the duration computed and the output excerpted."""
    return ExecutionOutcome(
        outcome=outcome,
        attempts=attempts,
        started_at=started_at,
        finished_at=finished_at,
        duration_seconds=max(0.0, (finished_at - started_at).total_seconds()),
        output_excerpt=excerpt(output),
        detail=detail,
        target=target,
    )


def excerpt(text: str | None, limit: int = EXCERPT_LIMIT) -> str | None:
    """``text`` cut to at most ``limit`` characters, keeping its start and its end.

    Errors tend to be at the end of a command's output and context at its start, so a long
    text keeps both halves around a marker saying how much was left out. Empty text is None.
    """
    if text is None or not text.strip():
        return None
    if len(text) <= limit:
        return text
    if limit < 64:
        return text[:limit]
    omitted = len(text) - limit
    while True:  # the marker's own length depends on the number it shows
        marker = f"\n[... {omitted} characters truncated ...]\n"
        keep = limit - len(marker)
        if len(text) - keep == omitted:
            break
        omitted = len(text) - keep
    head = keep - keep // 2
    return text[:head] + marker + text[len(text) - keep // 2 :]


def format_seconds(seconds: float) -> str:
    """``10s``, ``0.5s``, ``5m``: a timeout as a person would write it."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"
