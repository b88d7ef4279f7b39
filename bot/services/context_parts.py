"""Parts that many template contexts share: times as text, the runbook, an approval rule.

Everything a context builder returns is JSON-able (times as ISO text), so that a context can
be stored in an outbox job and rendered later by a worker.
"""

from __future__ import annotations

from datetime import datetime

from bot.core.runbook import ApprovalRule, Runbook
from bot.render.contexts import ApprovalRuleView, RunbookRef


def iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def runbook_ref(runbook: Runbook) -> RunbookRef:
    return {"id": runbook.id, "version": runbook.version, "title": runbook.title or runbook.id}


def rule_view(runbook: Runbook, rule: ApprovalRule) -> ApprovalRuleView:
    return {
        "roles": dict(rule.roles),
        "quorum": rule.required_total,
        "role_members": {role: list(runbook.roles.get(role, [])) for role in rule.roles},
        "reject_blocks": rule.reject_blocks,
        "allow_self_approval": rule.allow_self_approval,
    }
