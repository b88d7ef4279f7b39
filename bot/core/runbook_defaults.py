"""The defaults a runbook's risk tier gives, and filling them in before validation.

A high-risk runbook rolls back sooner, listens to a single Reject, needs two people and never
executes without explicit approval, unless its own ``defaults`` say otherwise. The defaults are
laid over the raw mapping before the schema validates it (``bot.core.runbook``), so every
criterion and approval rule downstream is complete.
"""

from __future__ import annotations

from typing import Any

TIER_DEFAULTS: dict[str, dict[str, Any]] = {
    "standard": {
        "sustain": 3,
        "stale_after": "10m",
        "severity": "medium",
        "approval_expires_after": "30m",
        "allow_self_approval": False,
        "reject_blocks": False,
        "cooldown": "30m",
        "min_quorum": 1,
        "allow_auto_execute": True,
    },
    # High-risk runbooks roll back sooner, listen to a single Reject, need two people and
    # never execute without explicit approval unless their own defaults say otherwise.
    "high": {
        "sustain": 2,
        "stale_after": "5m",
        "severity": "high",
        "approval_expires_after": "15m",
        "allow_self_approval": False,
        "reject_blocks": True,
        "cooldown": "1h",
        "min_quorum": 2,
        "allow_auto_execute": False,
    },
}


def apply_defaults(data: Any) -> Any:
    """Fill in tier and runbook defaults on the raw mapping, leaving malformed parts alone.

    Works on a copy; anything not shaped as expected is left for validation to report.
    """
    if not isinstance(data, dict):
        return data
    data = dict(data)
    tier = data.get("risk_tier", "standard")
    merged = dict(
        TIER_DEFAULTS.get(tier if isinstance(tier, str) else "", TIER_DEFAULTS["standard"])
    )
    own = data.get("defaults")
    if isinstance(own, dict):
        merged.update({key: value for key, value in own.items() if value is not None})
    criterion_defaults = {key: merged[key] for key in ("sustain", "stale_after", "severity")}
    approval_defaults = {
        "allow_self_approval": merged["allow_self_approval"],
        "reject_blocks": merged["reject_blocks"],
        "expires_after": merged["approval_expires_after"],
    }
    if isinstance(data.get("criteria"), list):
        data["criteria"] = [
            {**criterion_defaults, **item} if isinstance(item, dict) else item
            for item in data["criteria"]
        ]
    if isinstance(data.get("paths"), list):
        data["paths"] = [_with_approval_defaults(item, approval_defaults) for item in data["paths"]]
    if isinstance(data.get("readiness"), dict):
        data["readiness"] = _with_approval_defaults(
            data["readiness"], approval_defaults, key="go_no_go"
        )
    data.setdefault("cooldown", merged["cooldown"])
    return data


def _with_approval_defaults(item: Any, defaults: dict[str, Any], key: str = "approval") -> Any:
    if isinstance(item, dict) and isinstance(item.get(key), dict):
        return {**item, key: {**defaults, **item[key]}}
    return item
