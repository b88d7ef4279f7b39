"""Rules, times and votes for the approval tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.approvals import (
    Vote,
)
from bot.core.runbook import ApprovalRule

T0 = datetime(2025, 3, 5, 14, 0, tzinfo=UTC)
ONCALL = frozenset({"oncall"})
CHAMPION = frozenset({"release_champion"})
BOTH = ONCALL | CHAMPION


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def rule(**fields: Any) -> ApprovalRule:
    base: dict[str, Any] = {
        "roles": {"oncall": 1, "release_champion": 1},
        "allow_self_approval": False,
        "reject_blocks": False,
        "expires_after": "30m",
    }
    return ApprovalRule.model_validate({**base, **fields})


def approve(user: str, at: float, roles: frozenset[str] = ONCALL) -> Vote:
    return Vote(user_id=user, decision="approve", at=minutes(at), roles=roles)


def reject(user: str, at: float, roles: frozenset[str] = ONCALL, reason: str | None = None) -> Vote:
    return Vote(user_id=user, decision="reject", at=minutes(at), roles=roles, reason=reason)
