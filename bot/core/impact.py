"""Composite business-impact scores and the proportionate rollback recommendation.

Ranking rule, in order (every step is shown in the explanation):

1. *Adequate* paths first: a path is adequate when it covers the observed severity
   (``SEVERITY_ORDER[path.covers] >= SEVERITY_ORDER[severity]``) and addresses every breached
   metric (``addresses: null`` addresses all metrics).
2. Among adequate paths, those with a *poor track record* rank after the others. A record is
   poor when the path was used for real at least ``POOR_RECORD_MIN_USES`` (3) times and
   recovered in fewer than half of those uses. Drills never count here: they run with dry-run
   executors, so they prove the team can walk the path, not that the path fixes production.
   Drill outcomes are shown, never ranked on.
3. Then the lowest composite score (the least disruptive path), compared exactly.
4. Ties: runbook order, then id.

Inadequate paths come last, ordered by how many breached metrics they address (most first),
then coverage (highest first), then the same record/score/order rule. When no path is
adequate, the first of them is recommended, and the explanation says so loudly.

Scores are computed in decimal arithmetic from the weights as written (``0.1`` is one tenth),
so paths whose scores are equal on paper tie exactly and fall back to runbook order.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.core.runbook import (
    SEVERITY_ORDER,
    ApprovalRule,
    Impact,
    ImpactWeights,
    RollbackPath,
    Runbook,
    Severity,
)

POOR_RECORD_MIN_USES = 3
DIMENSIONS = ("revenue", "customer", "regulatory")


def _decimal(number: float) -> Decimal:
    """The decimal a person wrote: ``0.1`` becomes exactly one tenth, not its binary neighbour."""
    return Decimal(repr(float(number)))


def _plain(number: Decimal) -> str:
    """``Decimal('0.50')`` -> ``0.5``; ``Decimal('1.0')`` -> ``1``; never exponent notation."""
    return format(number.normalize(), "f")


def format_score(exact: Decimal) -> str:
    """At least two decimals (``0.80``, ``2.00``), more only when the exact value has them."""
    if exact == exact.quantize(Decimal("0.01")):
        return format(exact.quantize(Decimal("0.01")), "f")
    return _plain(exact)


@dataclass(frozen=True)
class ImpactScore:
    """A path's composite score: ``exact`` for comparison, ``value`` for JSON, ``display``."""

    exact: Decimal
    arithmetic: str

    @property
    def value(self) -> float:
        return float(self.exact)

    @property
    def display(self) -> str:
        return format_score(self.exact)


def composite_score(impact: Impact, weights: ImpactWeights) -> ImpactScore:
    """Sum of rating × weight, e.g. ``revenue 1×0.5 + customer 1×0.3 + regulatory 0×0.2 = 0.80``."""
    terms = [(name, getattr(impact, name), _decimal(getattr(weights, name))) for name in DIMENSIONS]
    exact = sum((rating * weight for _, rating, weight in terms), Decimal(0))
    text = " + ".join(f"{name} {rating}×{_plain(weight)}" for name, rating, weight in terms)
    return ImpactScore(exact=exact, arithmetic=f"{text} = {format_score(exact)}")


@dataclass(frozen=True)
class PathRecord:
    """Past outcomes of one path, summarised by the caller from the trail.

    ``uses``/``recovered`` are real incidents; ``drill_uses``/``drill_recovered`` are drills,
    shown in explanations but never used for ranking (see the module docstring).
    """

    uses: int = 0
    recovered: int = 0
    median_minutes_to_recover: float | None = None
    drill_uses: int = 0
    drill_recovered: int = 0
    lesson: str | None = None  # the latest post-mortem's "what to change" for this path

    def __post_init__(self) -> None:
        if min(self.uses, self.recovered, self.drill_uses, self.drill_recovered) < 0:
            raise ValueError("counts of uses cannot be negative")
        if self.recovered > self.uses or self.drill_recovered > self.drill_uses:
            raise ValueError("a path cannot recover more often than it was used")

    @property
    def poor(self) -> bool:
        """At least 3 real uses, recovered in fewer than half of them."""
        return self.uses >= POOR_RECORD_MIN_USES and 2 * self.recovered < self.uses

    def describe(self) -> str:
        parts = []
        if self.uses:
            text = f"recovered in {self.recovered} of {self.uses} past uses"
            if self.median_minutes_to_recover is not None:
                text += f", median {self.median_minutes_to_recover:g} min"
            parts.append(text)
        if self.drill_uses:
            parts.append(
                f"drills: recovered in {self.drill_recovered} of {self.drill_uses} "
                "(shown, not ranked on)"
            )
        return "; ".join(parts) if parts else "no past uses"


@dataclass(frozen=True)
class Alternative:
    """A path not recommended, with its score and why it ranks where it does."""

    path: RollbackPath
    score: float
    arithmetic: str
    adequate: bool
    reason: str
    record: PathRecord | None = None


@dataclass(frozen=True)
class Recommendation:
    """The chosen path; ``adequate`` is False only for a loudly announced fallback."""

    path: RollbackPath
    score: float
    arithmetic: str
    alternatives: tuple[Alternative, ...]
    approval: ApprovalRule
    adequate: bool
    explanation: str
    record: PathRecord | None = None


@dataclass(frozen=True)
class _Candidate:
    index: int
    path: RollbackPath
    score: ImpactScore
    missing_metrics: tuple[str, ...]
    addressed: int
    covers_enough: bool
    record: PathRecord | None

    @property
    def adequate(self) -> bool:
        return self.covers_enough and not self.missing_metrics

    @property
    def poor(self) -> bool:
        return self.record is not None and self.record.poor

    def rank_key(self) -> tuple[int, int, int, int, Decimal, int, str]:
        if self.adequate:
            return (0, 0, 0, int(self.poor), self.score.exact, self.index, self.path.id)
        return (
            1,
            -self.addressed,
            -SEVERITY_ORDER[self.path.covers],
            int(self.poor),
            self.score.exact,
            self.index,
            self.path.id,
        )


def recommend(
    runbook: Runbook,
    *,
    severity: Severity,
    breached_metrics: Collection[str],
    records: Mapping[str, PathRecord] | None = None,
) -> Recommendation | None:
    """The least disruptive path that covers ``severity`` and every breached metric.

    None when nothing is breached. See the module docstring for the full ranking rule.
    """
    breached = tuple(sorted(set(breached_metrics)))
    if not breached:
        return None
    needed = SEVERITY_ORDER[severity]
    candidates = []
    for index, path in enumerate(runbook.paths):
        addresses = set(breached) if path.addresses is None else set(path.addresses)
        candidates.append(
            _Candidate(
                index=index,
                path=path,
                score=composite_score(path.impact, runbook.impact_weights),
                missing_metrics=tuple(m for m in breached if m not in addresses),
                addressed=sum(1 for m in breached if m in addresses),
                covers_enough=SEVERITY_ORDER[path.covers] >= needed,
                record=(records or {}).get(path.id),
            )
        )
    ranked = sorted(candidates, key=_Candidate.rank_key)
    chosen, rest = ranked[0], ranked[1:]
    alternatives = tuple(
        Alternative(
            path=other.path,
            score=other.score.value,
            arithmetic=other.score.arithmetic,
            adequate=other.adequate,
            reason=_reason(other, chosen, severity),
            record=other.record,
        )
        for other in rest
    )
    return Recommendation(
        path=chosen.path,
        score=chosen.score.value,
        arithmetic=chosen.score.arithmetic,
        alternatives=alternatives,
        approval=chosen.path.approval,
        adequate=chosen.adequate,
        explanation=_explain(chosen, rest, alternatives, severity, breached),
        record=chosen.record,
    )


def _inadequacy(candidate: _Candidate, severity: Severity) -> list[str]:
    reasons = []
    if not candidate.covers_enough:
        reasons.append(f"covers up to {candidate.path.covers}, severity is {severity}")
    if candidate.missing_metrics:
        reasons.append(f"does not address {', '.join(candidate.missing_metrics)}")
    return reasons


def _reason(other: _Candidate, chosen: _Candidate, severity: Severity) -> str:
    """Why ``other`` ranks below ``chosen``: its gaps first, then what set them apart."""
    reasons = _inadequacy(other, severity)
    if not other.adequate and not chosen.adequate:
        if other.addressed < chosen.addressed:
            reasons.append(
                f"addresses fewer breached metrics ({other.addressed} < {chosen.addressed})"
            )
            return "; ".join(reasons)
        if SEVERITY_ORDER[other.path.covers] < SEVERITY_ORDER[chosen.path.covers]:
            reasons.append(f"lower coverage ({other.path.covers} < {chosen.path.covers})")
            return "; ".join(reasons)
    elif not other.adequate:
        return "; ".join(reasons)
    if other.poor and not chosen.poor and other.record is not None:
        reasons.append(f"poor track record ({other.record.describe()})")
    ours, theirs = other.score.display, chosen.score.display
    if other.score.exact > chosen.score.exact:
        reasons.append(f"more disruptive ({ours} > {theirs})")
    elif other.score.exact == chosen.score.exact and not (other.poor and not chosen.poor):
        reasons.append(f"equally disruptive ({ours}), later in the runbook")
    return "; ".join(reasons)


def _approval_text(rule: ApprovalRule) -> str:
    roles = ", ".join(f"{role} ×{count}" for role, count in rule.roles.items() if count > 0)
    total = f"{rule.required_total} approval(s) in all"
    return f"{roles}; {total}" if roles else total


def _explain(
    chosen: _Candidate,
    rest: list[_Candidate],
    alternatives: tuple[Alternative, ...],
    severity: Severity,
    breached: tuple[str, ...],
) -> str:
    path, metrics = chosen.path, ", ".join(breached)
    lines = []
    if chosen.adequate:
        why = "the least disruptive path"
        if any(other.adequate and other.poor for other in rest):
            why = "the least disruptive path without a poor track record"
        if chosen.poor:
            why = "every adequate path has a poor track record; this is the least disruptive"
        lines.append(
            f"Recommended: {path.id} ({path.title}): {why} that covers severity {severity} "
            f"and addresses {metrics}."
        )
    else:
        lines.append(
            f"WARNING: NO ROLLBACK PATH COVERS severity {severity} AND addresses all of "
            f"{metrics}. Falling back to {path.id} ({path.title}), which addresses "
            f"{chosen.addressed} of {len(breached)} breached metric(s) and covers up to "
            f"{path.covers}: {'; '.join(_inadequacy(chosen, severity))}. "
            "Review the runbook's paths."
        )
    lines.append(f"Impact score: {chosen.score.arithmetic}.")
    if chosen.record is not None:
        lines.append(f"Track record: {chosen.record.describe()}.")
    if any(candidate.poor for candidate in (chosen, *rest)):
        lines.append(
            f"Rule: a path used at least {POOR_RECORD_MIN_USES} times for real that recovered "
            "in fewer than half of them ranks after paths without such a record."
        )
    lines.append(f"Approval: {_approval_text(path.approval)}.")
    if alternatives:
        lines.append("Other paths, ranked:")
        for rank, (other, alternative) in enumerate(zip(rest, alternatives, strict=True), 2):
            line = f"{rank}. {other.path.id}: {other.score.display}, {alternative.reason}"
            if other.record is not None and not other.poor:
                line += f"; {other.record.describe()}"
            lines.append(line)
    return "\n".join(lines)
