"""Checks that span a whole runbook: references between its parts, reachability, tier rules.

Each problem carries the location of the offending key (the same shape as pydantic's error
locations), so the loader can point at the YAML line.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from bot.core.durations import format_duration
from bot.core.runbook import SEVERITY_ORDER, ApprovalRule, Criterion, GateCheck, Runbook

Location = tuple[str | int, ...]


@dataclass(frozen=True)
class PolicyProblem:
    loc: Location
    message: str


def policy_problems(runbook: Runbook) -> list[PolicyProblem]:
    """Every cross-reference problem of a schema-valid runbook, in document order."""
    return [
        *_duplicate_ids(runbook),
        *_bad_patterns(runbook),
        *_impossible_criteria(runbook),
        *_query_problems(runbook),
        *_role_references(runbook),
        *_metric_references(runbook),
        *_path_references(runbook),
        *_tier_rules(runbook),
        *_uncovered_severities(runbook),
    ]


def _duplicates(items: list[tuple[Location, str]], what: str) -> Iterator[PolicyProblem]:
    counts = Counter(value for _, value in items)
    seen: set[str] = set()
    for loc, value in items:
        if counts[value] > 1:
            if value in seen:
                yield PolicyProblem(loc, f"duplicate {what} {value!r}")
            seen.add(value)


def _duplicate_ids(runbook: Runbook) -> Iterator[PolicyProblem]:
    yield from _duplicates(
        [(("criteria", i, "metric"), c.metric) for i, c in enumerate(runbook.criteria)],
        "criterion for metric",
    )
    yield from _duplicates(
        [(("paths", i, "id"), p.id) for i, p in enumerate(runbook.paths)], "path id"
    )
    yield from _duplicates(
        [(("drills", i, "id"), d.id) for i, d in enumerate(runbook.drills)], "drill id"
    )
    if runbook.readiness is not None:
        stages = runbook.readiness.stages
        yield from _duplicates(
            [(("readiness", "stages", i, "id"), s.id) for i, s in enumerate(stages)], "stage id"
        )
        yield from _duplicates(
            [
                (("readiness", "stages", i, "gates", j, "id"), g.id)
                for i, s in enumerate(stages)
                for j, g in enumerate(s.gates)
            ],
            "gate id",
        )


def _bad_patterns(runbook: Runbook) -> Iterator[PolicyProblem]:
    for i, pattern in enumerate(runbook.patterns):
        try:
            re.compile(pattern)
        except re.error as error:
            yield PolicyProblem(("patterns", i), f"not a valid regular expression: {error}")


def criterion_impossibility(criterion: Criterion) -> str | None:
    """Why ``criterion`` could never breach or never clear inside its bounds, if so."""
    low, high = criterion.bounds
    breach, clear = criterion.breach_point, criterion.clear_point
    if criterion.direction == "above":
        if breach >= high:
            return (
                f"margin makes the criterion impossible: a breach needs values above {breach:g}, "
                f"but {criterion.metric} never exceeds {high:g}"
            )
        if clear <= low:
            return (
                f"margin makes the criterion impossible: a breach would clear only below "
                f"{clear:g}, but {criterion.metric} never goes below {low:g} "
                "(set 'bounds' if the metric can be negative)"
            )
    else:
        if breach <= low:
            return (
                f"margin makes the criterion impossible: a breach needs values below {breach:g}, "
                f"but {criterion.metric} never goes below {low:g} "
                "(set 'bounds' if the metric can be negative)"
            )
        if clear >= high:
            return (
                f"margin makes the criterion impossible: a breach would clear only above "
                f"{clear:g}, but {criterion.metric} never exceeds {high:g}"
            )
    return None


def _impossible_criteria(runbook: Runbook) -> Iterator[PolicyProblem]:
    for i, criterion in enumerate(runbook.criteria):
        reason = criterion_impossibility(criterion)
        if reason is not None:
            yield PolicyProblem(("criteria", i, "margin"), reason)
        if criterion.query is not None and criterion.interval >= criterion.stale_after:
            yield PolicyProblem(
                ("criteria", i, "interval"),
                f"the query runs every {format_duration(criterion.interval)}, not more often than "
                f"stale_after ({format_duration(criterion.stale_after)}): every reading would "
                "be stale before the next",
            )


def promql_problem(query: str) -> str | None:
    """A PromQL text's unbalanced bracket or unclosed string, if any (Prometheus itself
    judges the rest: a query it refuses is insufficient data with its error)."""
    closing = {"(": ")", "[": "]", "{": "}"}
    expected: list[str] = []
    quote: str | None = None
    escaped = False
    for char in query:
        if quote is not None:  # inside a string: only its end (or an escape) matters
            if escaped:
                escaped = False
            elif char == "\\" and quote != "`":
                escaped = True
            elif char == quote:
                quote = None
            continue
        if char in "\"'`":
            quote = char
        elif char in closing:
            expected.append(closing[char])
        elif char in closing.values():
            if not expected or expected.pop() != char:
                return f"unbalanced {char!r} in the query"
    if quote is not None:
        return f"unclosed string ({quote}) in the query"
    if expected:
        return f"missing {expected[-1]!r} in the query"
    return None


def _query_problems(runbook: Runbook) -> Iterator[PolicyProblem]:
    for i, criterion in enumerate(runbook.criteria):
        for field in ("query", "baseline_query"):
            text = getattr(criterion, field)
            problem = promql_problem(text) if text is not None else None
            if problem is not None:
                yield PolicyProblem(("criteria", i, field), problem)


def _approval_rules(runbook: Runbook) -> Iterator[tuple[Location, ApprovalRule]]:
    for i, path in enumerate(runbook.paths):
        yield ("paths", i, "approval"), path.approval
    if runbook.readiness is not None:
        yield ("readiness", "go_no_go"), runbook.readiness.go_no_go


def _role_references(runbook: Runbook) -> Iterator[PolicyProblem]:
    defined = set(runbook.roles)
    known = ", ".join(sorted(defined))

    def undefined(loc: Location, role: str) -> Iterator[PolicyProblem]:
        if role not in defined:
            yield PolicyProblem(loc, f"role {role!r} is not defined in 'roles' (known: {known})")

    if runbook.readiness is not None:
        for i, stage in enumerate(runbook.readiness.stages):
            for j, gate in enumerate(stage.gates):
                gate_loc: Location = ("readiness", "stages", i, "gates", j, "owner")
                yield from undefined(gate_loc, gate.owner)
    for loc, rule in _approval_rules(runbook):
        for role in rule.roles:
            yield from undefined((*loc, "roles", role), role)
        for k, role in enumerate(rule.escalate_to):
            yield from undefined((*loc, "escalate_to", k), role)
    for i, path in enumerate(runbook.paths):
        yield from undefined(
            ("paths", i, "validation", "endorse_role"), path.validation.endorse_role
        )
    for i, drill in enumerate(runbook.drills):
        for k, role in enumerate(drill.starters):
            yield from undefined(("drills", i, "starters", k), role)


def _metric_references(runbook: Runbook) -> Iterator[PolicyProblem]:
    metrics = {criterion.metric for criterion in runbook.criteria}
    known = ", ".join(sorted(metrics))

    def unknown(loc: Location, metric: str) -> Iterator[PolicyProblem]:
        if metric not in metrics:
            yield PolicyProblem(loc, f"metric {metric!r} has no criterion (known: {known})")

    for i, path in enumerate(runbook.paths):
        for k, metric in enumerate(path.addresses or []):
            yield from unknown(("paths", i, "addresses", k), metric)
        yield from unknown(("paths", i, "validation", "metric"), path.validation.metric)
    for i, drill in enumerate(runbook.drills):
        yield from unknown(("drills", i, "scenario", "metric"), drill.scenario.metric)
    for loc, check in _gate_checks(runbook):
        if check.criterion is not None:
            yield from unknown((*loc, "criterion"), check.criterion)
        elif check.query is not None and (problem := promql_problem(check.query)) is not None:
            yield PolicyProblem((*loc, "query"), problem)


def _gate_checks(runbook: Runbook) -> Iterator[tuple[Location, GateCheck]]:
    stages = runbook.readiness.stages if runbook.readiness is not None else []
    for i, stage in enumerate(stages):
        for j, gate in enumerate(stage.gates):
            if gate.check is not None:
                yield ("readiness", "stages", i, "gates", j, "check"), gate.check


def _path_references(runbook: Runbook) -> Iterator[PolicyProblem]:
    paths = {path.id for path in runbook.paths}
    for i, drill in enumerate(runbook.drills):
        if drill.expected_path is not None and drill.expected_path not in paths:
            yield PolicyProblem(
                ("drills", i, "expected_path"),
                f"path {drill.expected_path!r} is not defined (known: {', '.join(sorted(paths))})",
            )


def _tier_rules(runbook: Runbook) -> Iterator[PolicyProblem]:
    defaults = runbook.effective_defaults()
    min_quorum: int = defaults["min_quorum"]
    for loc, rule in _approval_rules(runbook):
        if rule.required_total < min_quorum:
            yield PolicyProblem(
                (*loc, "quorum" if rule.quorum is not None else "roles"),
                f"needs {rule.required_total} approval(s), but a {runbook.risk_tier}-risk "
                f"runbook requires at least {min_quorum}",
            )
    if not defaults["allow_auto_execute"]:
        for i, path in enumerate(runbook.paths):
            if path.auto_execute is not None:
                yield PolicyProblem(
                    ("paths", i, "auto_execute"),
                    f"a {runbook.risk_tier}-risk runbook does not allow auto-execution "
                    "(set defaults.allow_auto_execute to permit it)",
                )


def _uncovered_severities(runbook: Runbook) -> Iterator[PolicyProblem]:
    for i, criterion in enumerate(runbook.criteria):
        needed = SEVERITY_ORDER[criterion.severity]
        covering = [
            path
            for path in runbook.paths
            if (path.addresses is None or criterion.metric in path.addresses)
            and SEVERITY_ORDER[path.covers] >= needed
        ]
        if not covering:
            yield PolicyProblem(
                ("criteria", i, "severity"),
                f"no rollback path addresses {criterion.metric} at severity "
                f"{criterion.severity!r} (check the paths' 'covers' and 'addresses')",
            )
