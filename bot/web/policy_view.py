"""A runbook laid out as policy for its page: criteria with their bands and the samples the bot
saw, paths with their impact arithmetic, and who may approve what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup

from bot.core.criteria import Sample
from bot.core.durations import format_duration
from bot.core.impact import ImpactScore, composite_score
from bot.core.runbook import ApprovalRule, Criterion, RollbackPath, Runbook
from bot.web.charts import criterion_chart, num

SAMPLE_WINDOW = timedelta(hours=6)


@dataclass(frozen=True)
class CriterionView:
    criterion: Criterion
    rule: str  # "above 0.02 + margin 0.005: breach beyond 0.025, clears under 0.015"
    sustain: str
    chart: Markup
    samples: int
    asked: str | None = None  # a query-backed criterion: how often it is asked


@dataclass(frozen=True)
class ApprovalView:
    roles: list[tuple[str, int, list[str]]]  # role, minimum, members
    summary: str


@dataclass(frozen=True)
class PathView:
    path: RollbackPath
    score: ImpactScore
    approval: ApprovalView
    auto_execute: str | None
    executor: str
    validation: str


@dataclass(frozen=True)
class RunbookView:
    runbook: Runbook
    criteria: list[CriterionView]
    paths: list[PathView]
    go_no_go: ApprovalView | None
    window: str


def runbook_view(runbook: Runbook, samples: list[Sample], *, now: datetime) -> RunbookView:
    return RunbookView(
        runbook=runbook,
        criteria=[_criterion(c, samples, now) for c in runbook.criteria],
        paths=sorted((_path(runbook, p) for p in runbook.paths), key=lambda view: view.score.exact),
        go_no_go=_approval(runbook, runbook.readiness.go_no_go) if runbook.readiness else None,
        window=format_duration(SAMPLE_WINDOW),
    )


def _criterion(criterion: Criterion, samples: list[Sample], now: datetime) -> CriterionView:
    sign, back = ("+", "under") if criterion.direction == "above" else ("−", "over")
    sustain = criterion.sustain
    return CriterionView(
        criterion=criterion,
        rule=(
            f"{criterion.direction} {num(criterion.threshold)} {sign} margin "
            f"{num(criterion.margin)}: breach beyond {num(criterion.breach_point)}, clears "
            f"back {back} {num(criterion.clear_point)}"
        ),
        sustain=(
            f"{sustain} consecutive samples"
            if isinstance(sustain, int)
            else f"for {format_duration(sustain)}"
        )
        + f"; data older than {format_duration(criterion.stale_after)} counts as missing",
        chart=criterion_chart(criterion, samples, now=now),
        samples=sum(1 for s in samples if s.metric == criterion.metric),
        asked=(
            None
            if criterion.query is None
            else f"asked of Prometheus every {format_duration(criterion.interval)}"
            + (f", {criterion.compare} difference from the baseline" if criterion.compare else "")
        ),
    )


def _approval(runbook: Runbook, rule: ApprovalRule) -> ApprovalView:
    roles = [(role, count, list(runbook.roles.get(role, []))) for role, count in rule.roles.items()]
    notes = [
        f"quorum {rule.required_total}",
        f"expires after {format_duration(rule.expires_after)}",
    ]
    notes.append(
        "the requester may approve"
        if rule.allow_self_approval
        else "the requester's own approval does not count"
    )
    if rule.reject_blocks:
        notes.append("one Reject rejects")
    if rule.escalate_to and rule.escalation_delay is not None:
        notes.append(
            f"escalates to {', '.join(rule.escalate_to)} after "
            f"{format_duration(rule.escalation_delay)}"
        )
    return ApprovalView(roles=roles, summary="; ".join(notes))


def _path(runbook: Runbook, path: RollbackPath) -> PathView:
    auto = path.auto_execute
    auto_text = None
    if auto is not None:
        auto_text = f"runs without approval up to severity {auto.max_severity}"
        if auto.window is not None:
            window = auto.window
            auto_text += (
                f", {', '.join(window.days)} {window.start:%H:%M}–{window.end:%H:%M} "
                f"{window.timezone}"
            )
        auto_text += f", unless someone presses Hold within {format_duration(auto.veto_window)}"
    executor = path.executor
    if executor.type == "webhook":
        how = f"webhook POST to {executor.url}"
    elif executor.type == "command":
        how = "command " + " ".join(executor.argv)
    else:
        how = "dry run" + (f" ({executor.note})" if executor.note else "")
    validation = path.validation
    return PathView(
        path=path,
        score=composite_score(path.impact, runbook.impact_weights),
        approval=_approval(runbook, path.approval),
        auto_execute=auto_text,
        executor=how,
        validation=(
            f"watch {validation.metric} for {format_duration(validation.window)}, then "
            f"{validation.endorse_role} endorses"
        ),
    )
