"""``releasebot evaluate``: a whole-decision dry run for given metric samples."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.core.decision import Decision, decide
from bot.core.durations import format_duration
from bot.hooks.metrics_document import (
    SamplesError,
    format_instant,
    parse_instant,
    parse_samples_document,
)
from bot.runbooks.files import RunbookError, get_runbook

# Exit statuses, for CI pipelines: a recommended rollback is not an error, but it is news.
OK, FAILED, RECOMMENDS_ROLLBACK = 0, 1, 3


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        runbook = get_runbook(settings.runbooks_dir, args.runbook)
    except RunbookError as error:
        print(f"releasebot evaluate: {error}", file=sys.stderr)
        return FAILED
    try:
        now = parse_instant(args.now) if args.now else None
    except ValueError as error:
        print(f"releasebot evaluate: --now: {error}", file=sys.stderr)
        return FAILED
    try:
        raw = sys.stdin.read() if args.samples == "-" else Path(args.samples).read_bytes()
    except OSError as error:
        print(f"releasebot evaluate: cannot read {args.samples}: {error.strerror}", file=sys.stderr)
        return FAILED
    try:
        document = parse_samples_document(raw, nan_is_missing=True)
    except SamplesError as error:
        print(f"releasebot evaluate: {args.samples}: invalid samples:\n{error}", file=sys.stderr)
        return FAILED
    if document.runbook is not None and document.runbook != runbook.id:
        print(
            f"releasebot evaluate: {args.samples} is for runbook {document.runbook!r}, "
            f"not {runbook.id!r}",
            file=sys.stderr,
        )
        return FAILED
    samples = document.to_samples()
    known = {criterion.metric for criterion in runbook.criteria}
    unknown = sorted({sample.metric for sample in samples} - known)
    if unknown:
        print(
            f"releasebot evaluate: ignoring samples of metrics {runbook.id} has no criterion "
            f"for: {', '.join(unknown)}",
            file=sys.stderr,
        )
    if now is None:
        if not samples:
            print("releasebot evaluate: no samples, so give --now", file=sys.stderr)
            return FAILED
        now = max(sample.at for sample in samples)
    decision = decide(runbook, samples, now)
    if args.json:
        print(json.dumps(decision_json(decision), indent=2, ensure_ascii=False))
    else:
        print(decision_text(decision))
    return OK if decision.recommendation is None else RECOMMENDS_ROLLBACK


def decision_json(decision: Decision) -> dict[str, Any]:
    """The ``--json`` shape fixed by the interface contract, extended: each alternative also
    says whether it is ``adequate`` (covers the severity and every breached metric) and the
    ``reason`` it ranks below the recommendation."""
    recommendation = decision.recommendation
    return {
        "runbook": decision.runbook_id,
        "now": format_instant(decision.now),
        "criteria": [
            {"metric": e.metric, "state": str(e.state), "explanation": e.explanation}
            for e in decision.criteria
        ],
        "recommendation": None
        if recommendation is None
        else {
            "path": recommendation.path.id,
            "score": recommendation.score,
            "alternatives": [
                {
                    "path": alternative.path.id,
                    "score": alternative.score,
                    "adequate": alternative.adequate,
                    "reason": alternative.reason,
                }
                for alternative in recommendation.alternatives
            ],
            "approval": {
                "roles": dict(recommendation.approval.roles),
                "quorum": recommendation.approval.required_total,
            },
            "explanation": recommendation.explanation,
        },
    }


MARKS = {"breach": "BREACH", "clear": "clear", "insufficient_data": "NO DATA"}


def decision_text(decision: Decision) -> str:
    lines = [
        f"runbook {decision.runbook_id} v{decision.runbook_version} at "
        f"{format_instant(decision.now)}",
        f"decision: {decision.summary()}",
        "",
        "criteria:",
    ]
    for evaluation in decision.criteria:
        lines.append(f"  [{MARKS[str(evaluation.state)]}] {evaluation.metric}")
        lines.append(f"      {evaluation.explanation}")
    recommendation = decision.recommendation
    if recommendation is not None:
        rule = recommendation.approval
        limits = (
            f"    the request expires after {format_duration(rule.expires_after)}"
            + ("" if rule.allow_self_approval else "; the requester's own approval does not count")
            + ("; one Reject blocks" if rule.reject_blocks else "")
        )
        lines += ["", "recommendation:"]
        for line in recommendation.explanation.splitlines():
            lines.append(f"  {line}")
            if line.startswith("Approval:"):  # the explanation names roles and quorum
                lines.append(limits)
    return "\n".join(lines)
