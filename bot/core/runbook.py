"""The runbook schema: a team's release and rollback policy, as validated, immutable values.

Runbooks are the users' own YAML files, so every model here forbids unknown keys (a typo must
not pass silently). Defaults that depend on the runbook's risk tier are filled in before
validation (``bot.core.runbook_defaults``), so that downstream code always sees complete values.
Checks that span several parts of a runbook (a gate owner naming an undefined role, say) are
``policy_problems``: they return every problem with its location instead of stopping at the first.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    Field,
    PositiveInt,
    StrictBool,
    model_validator,
)

from bot.core.runbook_defaults import TIER_DEFAULTS, apply_defaults
from bot.core.runbook_fields import (
    ChannelId,
    Duration,
    MemberId,
    MetricName,
    Rating,
    RoleName,
    Slug,
    Strict,
    Sustain,
    TimeZoneName,
    UserId,
)

Severity = Literal["low", "medium", "high", "critical"]
SEVERITY_ORDER: dict[str, int] = {"low": 1, "medium": 2, "high": 3, "critical": 4}
RiskTier = Literal["standard", "high"]
PathKind = Literal[
    "feature_flag", "model_replacement", "data_rollback", "traffic_shift", "config_revert", "other"
]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")



class Defaults(Strict):
    """Values used wherever a criterion or approval rule leaves them out."""

    sustain: Sustain | None = None
    stale_after: Duration | None = None
    severity: Severity | None = None
    approval_expires_after: Duration | None = None
    allow_self_approval: StrictBool | None = None
    reject_blocks: StrictBool | None = None
    cooldown: Duration | None = None
    min_quorum: PositiveInt | None = None
    allow_auto_execute: StrictBool | None = None


class Criterion(Strict):
    """A rollback trigger: breach beyond threshold + margin, sustained; clear inside - margin."""

    metric: MetricName
    above: float | None = None
    below: float | None = None
    margin: float = Field(ge=0)
    sustain: Sustain
    stale_after: Duration
    severity: Severity
    bounds: tuple[float, float] = (0.0, math.inf)
    description: str | None = None
    # Query-backed (README "Query-backed criteria"): asked every ``interval`` instead of pushed.
    query: str | None = Field(None, min_length=1)
    interval: Duration = timedelta(seconds=30)
    # Relative: the value judged is ``query`` compared with ``baseline_query``, in ``compare``.
    baseline_query: str | None = Field(None, min_length=1)
    compare: Literal["percent", "absolute"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _relative_bounds(cls, data: Any) -> Any:
        """A difference may be negative: a relative criterion's default bounds are open."""
        if isinstance(data, dict) and data.get("compare") is not None and "bounds" not in data:
            return {**data, "bounds": (-math.inf, math.inf)}
        return data

    @model_validator(mode="after")
    def _one_direction(self) -> Criterion:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of 'above' or 'below'")
        if (self.baseline_query is None) != (self.compare is None):
            raise ValueError("a relative criterion gives both 'baseline_query' and 'compare'")
        if self.baseline_query is not None and self.query is None:
            raise ValueError("a relative criterion compares 'query' with 'baseline_query'")
        if not math.isfinite(self.threshold) or not math.isfinite(self.margin):
            raise ValueError("threshold and margin must be finite numbers")
        if self.bounds[0] >= self.bounds[1]:
            raise ValueError("bounds must be [lowest, highest] with lowest < highest")
        return self

    @property
    def direction(self) -> Literal["above", "below"]:
        return "above" if self.above is not None else "below"

    @property
    def threshold(self) -> float:
        return self.above if self.above is not None else self.below  # type: ignore[return-value]

    @property
    def breach_point(self) -> float:
        """The value a sample must go beyond to count towards a breach."""
        if self.direction == "above":
            return self.threshold + self.margin
        return self.threshold - self.margin

    @property
    def clear_point(self) -> float:
        """The value a sample must come back inside for a breach to clear."""
        if self.direction == "above":
            return self.threshold - self.margin
        return self.threshold + self.margin


class PrometheusSource(Strict):
    """The Prometheus a runbook's queries ask, instead of ``RELEASEBOT_PROMETHEUS_URL``."""

    url: str = Field(pattern=r"^https?://\S+$")
    token_env: str | None = Field(None, pattern=r"^[A-Z_][A-Z0-9_]*$")


class Impact(Strict):
    """Ratings from 0 (none) to 5 (severe) of what taking a path costs the business."""

    revenue: Rating
    customer: Rating
    regulatory: Rating


class ImpactWeights(Strict):
    revenue: float = Field(1.0, ge=0)
    customer: float = Field(1.0, ge=0)
    regulatory: float = Field(1.0, ge=0)

    @model_validator(mode="after")
    def _not_all_zero(self) -> ImpactWeights:
        if self.revenue + self.customer + self.regulatory <= 0:
            raise ValueError("at least one impact weight must be positive")
        return self


class ApprovalRule(Strict):
    """Who must approve: minimum approvals per role, a total quorum, and the rule's limits."""

    roles: dict[RoleName, Annotated[int, Field(ge=0)]] = Field(min_length=1)
    quorum: PositiveInt | None = None
    allow_self_approval: StrictBool
    reject_blocks: StrictBool
    expires_after: Duration
    escalate_to: list[RoleName] = Field(default_factory=list)
    escalate_after: Duration | None = None

    @model_validator(mode="after")
    def _quorum_reachable(self) -> ApprovalRule:
        if self.quorum is not None and self.quorum < sum(self.roles.values()):
            raise ValueError(
                f"quorum {self.quorum} is below the per-role minimums, "
                f"which add up to {sum(self.roles.values())}"
            )
        if self.required_total < 1:
            raise ValueError("an approval rule needs a quorum of at least 1")
        return self

    @property
    def escalation_delay(self) -> timedelta | None:
        """``escalate_after``; with only ``escalate_to`` given, half the time to expiry."""
        if self.escalate_after is not None:
            return self.escalate_after
        return self.expires_after / 2 if self.escalate_to else None

    @property
    def required_total(self) -> int:
        """The number of approvals needed in all."""
        return self.quorum if self.quorum is not None else sum(self.roles.values())


class TimeWindow(Strict):
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    start: time = time(0, 0)
    end: time = time(23, 59, 59)
    timezone: TimeZoneName = "UTC"

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` falls inside the window, in the window's own time zone."""
        local = moment.astimezone(ZoneInfo(self.timezone))
        return WEEKDAYS[local.weekday()] in self.days and self.start <= local.time() <= self.end


class AutoExecute(Strict):
    """Pre-approval: inside these boundaries the path runs unless someone holds it."""

    max_severity: Severity
    window: TimeWindow | None = None
    veto_window: Duration = timedelta(minutes=5)


class WebhookExecutor(Strict):
    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://\S+$")
    payload: dict[str, Any] = Field(default_factory=dict)
    secret_env: str | None = Field(None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    timeout: Duration = timedelta(seconds=10)
    retries: int = Field(3, ge=0, le=10)


class CommandExecutor(Strict):
    type: Literal["command"]
    argv: list[str] = Field(min_length=1)
    timeout: Duration = timedelta(seconds=60)
    # Safe to run again when the process running it died mid-way? If not (the default), such
    # an execution is reported "outcome unknown, check by hand" instead of being re-run.
    idempotent: StrictBool = False


class DryRunExecutor(Strict):
    type: Literal["dry-run"]
    note: str | None = None


Executor = Annotated[
    WebhookExecutor | CommandExecutor | DryRunExecutor, Field(discriminator="type")
]


class Validation(Strict):
    """After execution: watch ``metric`` for ``window``, then ``endorse_role`` endorses."""

    metric: MetricName
    window: Duration
    endorse_role: RoleName


class RollbackPath(Strict):
    id: Slug
    title: str = Field(min_length=1)
    kind: PathKind
    covers: Severity
    addresses: list[MetricName] | None = None
    impact: Impact
    approval: ApprovalRule
    auto_execute: AutoExecute | None = None
    executor: Executor
    validation: Validation


class GateCheck(Strict):
    """A gate that checks itself: ``criterion`` (inside its threshold) or ``query`` (inside
    ``below``/``above``) held ``for`` a duration, judged every ``step``."""

    criterion: MetricName | None = None
    query: str | None = Field(None, min_length=1)
    below: float | None = None
    above: float | None = None
    held_for: Duration = Field(alias="for")
    step: Duration = timedelta(minutes=1)

    @model_validator(mode="after")
    def _one_source(self) -> GateCheck:
        if (self.criterion is None) == (self.query is None):
            raise ValueError("give exactly one of 'criterion' or 'query'")
        bounds = (self.below is not None) + (self.above is not None)
        if self.query is not None and bounds != 1:
            raise ValueError("a query check gives exactly one of 'below' or 'above'")
        if self.criterion is not None and bounds:
            raise ValueError("a criterion check uses the criterion's threshold")
        return self


class Gate(Strict):
    id: Slug
    title: str = Field(min_length=1)
    owner: RoleName
    evidence: str | None = None
    check: GateCheck | None = None


class Stage(Strict):
    id: Slug
    title: str = Field(min_length=1)
    gates: list[Gate] = Field(min_length=1)


class Readiness(Strict):
    stages: list[Stage] = Field(min_length=1)
    go_no_go: ApprovalRule
    remind_every: Duration | None = None


class DrillScenario(Strict):
    """A synthetic incident: these values of ``metric``, one every ``interval``."""

    metric: MetricName
    values: list[float] = Field(min_length=1)
    interval: Duration = timedelta(minutes=1)


class Drill(Strict):
    id: Slug
    title: str = Field(min_length=1)
    schedule: str = Field(min_length=1)
    timezone: TimeZoneName = "UTC"
    channel: ChannelId | None = None
    scenario: DrillScenario
    expected_path: Slug | None = None
    # who may start (and stop) it by hand; empty: the runbook's release champions, else owners
    starters: list[RoleName] = Field(default_factory=list)
    timeout: Duration = timedelta(minutes=30)


class Runbook(Strict):
    id: Slug
    version: PositiveInt
    title: str | None = None
    description: str | None = None
    owners: list[UserId] = Field(default_factory=list)
    risk_tier: RiskTier = "standard"
    defaults: Defaults | None = None
    channels: list[ChannelId] = Field(min_length=1)
    patterns: list[str] = Field(default_factory=list)
    roles: dict[RoleName, Annotated[list[MemberId], Field(min_length=1)]] = Field(min_length=1)
    criteria: list[Criterion] = Field(min_length=1)
    impact_weights: ImpactWeights = ImpactWeights()
    paths: list[RollbackPath] = Field(min_length=1)
    readiness: Readiness | None = None
    drills: list[Drill] = Field(default_factory=list)
    cooldown: Duration
    prometheus: PrometheusSource | None = None

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: Any) -> Any:
        return apply_defaults(data)

    def criterion(self, metric: str) -> Criterion | None:
        return next((c for c in self.criteria if c.metric == metric), None)

    def path(self, path_id: str) -> RollbackPath | None:
        return next((p for p in self.paths if p.id == path_id), None)

    def gate(self, gate_id: str) -> Gate | None:
        stages = self.readiness.stages if self.readiness is not None else []
        return next((g for stage in stages for g in stage.gates if g.id == gate_id), None)

    def effective_defaults(self) -> dict[str, Any]:
        """The tier's defaults with the runbook's own ``defaults`` laid over them."""
        merged = dict(TIER_DEFAULTS[self.risk_tier])
        if self.defaults is not None:
            merged.update(self.defaults.model_dump(exclude_none=True))
        return merged

    def compiled_patterns(self) -> list[re.Pattern[str]]:
        return [re.compile(pattern) for pattern in self.patterns]
