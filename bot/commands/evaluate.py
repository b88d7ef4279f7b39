"""``releasebot evaluate``: a whole-decision dry run for given metric samples."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.clock import utc_now
from bot.config import Settings, prometheus_tokens
from bot.core.criteria import Sample, evaluate_criterion
from bot.core.decision import Decision, decide, decide_on
from bot.core.durations import format_duration
from bot.core.query_evidence import with_reading
from bot.core.runbook import Criterion, Runbook
from bot.hooks.metrics_document import (
    SamplesError,
    format_instant,
    parse_instant,
    parse_samples_document,
)
from bot.monitoring.prometheus import PrometheusClient
from bot.runbooks.files import RunbookError, get_runbook
from bot.services.monitoring.asking import read_history

# Exit statuses, for CI pipelines: a recommended rollback is not an error, but it is news.
OK, FAILED, RECOMMENDS_ROLLBACK = 0, 1, 3


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        runbook = get_runbook(settings.runbooks_dir, args.runbook)
    except RunbookError as error:
        print(f"releasebot evaluate: {error}", file=sys.stderr)
        return FAILED
    if args.samples is None and args.prometheus is None:
        print("releasebot evaluate: give --samples FILE, --prometheus URL or both", file=sys.stderr)
        return FAILED
    try:
        now = parse_instant(args.now) if args.now else None
    except ValueError as error:
        print(f"releasebot evaluate: --now: {error}", file=sys.stderr)
        return FAILED
    samples: list[Sample] = []
    if args.samples is not None:
        loaded = _read_samples(args.samples, runbook)
        if loaded is None:
            return FAILED
        samples = loaded
    if now is None:
        if args.prometheus is not None:
            now = utc_now()
        elif not samples:
            print("releasebot evaluate: no samples, so give --now", file=sys.stderr)
            return FAILED
        else:
            now = max(sample.at for sample in samples)
    if args.prometheus is None:
        decision = decide(runbook, samples, now)
    else:
        try:
            decision = _decide_live(runbook, samples, now, args.prometheus, settings)
        except ValueError as error:  # not an http(s) URL
            print(f"releasebot evaluate: --prometheus: {error}", file=sys.stderr)
            return FAILED
    if args.json:
        print(json.dumps(decision_json(decision), indent=2, ensure_ascii=False))
    else:
        print(decision_text(decision))
    return OK if decision.recommendation is None else RECOMMENDS_ROLLBACK


def _read_samples(source: str, runbook: Runbook) -> list[Sample] | None:
    try:
        raw = sys.stdin.read() if source == "-" else Path(source).read_bytes()
    except OSError as error:
        print(f"releasebot evaluate: cannot read {source}: {error.strerror}", file=sys.stderr)
        return None
    try:
        document = parse_samples_document(raw, nan_is_missing=True)
    except SamplesError as error:
        print(f"releasebot evaluate: {source}: invalid samples:\n{error}", file=sys.stderr)
        return None
    if document.runbook is not None and document.runbook != runbook.id:
        print(
            f"releasebot evaluate: {source} is for runbook {document.runbook!r}, "
            f"not {runbook.id!r}",
            file=sys.stderr,
        )
        return None
    samples = document.to_samples()
    known = {criterion.metric for criterion in runbook.criteria}
    unknown = sorted({sample.metric for sample in samples} - known)
    if unknown:
        print(
            f"releasebot evaluate: ignoring samples of metrics {runbook.id} has no criterion "
            f"for: {', '.join(unknown)}",
            file=sys.stderr,
        )
    return samples


def _decide_live(
    runbook: Runbook, samples: list[Sample], now: datetime, url: str, settings: Settings
) -> Decision:
    """Query-backed criteria from ``url`` (their recent history, a range query each), the
    others from ``samples``; then the same decision as ``serve`` would make."""
    tokens = prometheus_tokens(settings, [runbook])
    token_env = settings.prometheus_token_env
    token = tokens.get(token_env) if token_env else None
    client = PrometheusClient(
        url, bearer_token=SecretStr(token) if token else None, timeout=settings.prometheus_timeout
    )
    evaluations = []
    for criterion in runbook.criteria:
        if criterion.query is None:
            evaluations.append(evaluate_criterion(criterion, samples, now))
            continue
        history, latest = read_history(
            client, criterion, start=now - live_lookback(criterion), end=now
        )
        evaluation = evaluate_criterion(criterion, history, now)
        evaluations.append(with_reading(evaluation, latest))
    return decide_on(runbook, evaluations, now)


def live_lookback(criterion: Criterion) -> timedelta:
    """How far back a live evaluation reads a query: three times what judging needs (the
    sustain, as a duration or as that many intervals, plus stale_after)."""
    sustain = criterion.sustain
    span = sustain if isinstance(sustain, timedelta) else criterion.interval * sustain
    return 3 * (span + criterion.stale_after)


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
