"""Sample rows and core values drawn from a runbook, for the previews (``messages.py``).

The samples are realistic rather than random: the runbook's own stages and gates (in every
status), roles and members, criteria (evaluated by the core on samples beyond or inside their
bounds) and paths with their composite impact scores. The time is fixed (``SAMPLE_NOW``) so
that previews are reproducible. Rows are unsaved table objects with ids, as the database
would give them; nothing here touches a database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.core.criteria import CriterionState, Sample
from bot.core.decision import Decision, decide
from bot.core.impact import PathRecord, Recommendation, recommend
from bot.core.releases import GateStatus, ReleaseState, ReviewState
from bot.core.runbook import Criterion, Gate, Readiness, RollbackPath, Runbook, Stage
from bot.core.subjects import release_subject, rollback_subject
from bot.services.releases.review_rows import ReviewRows
from bot.store.tables import ApprovalRequest, GateState, ReadinessReview, Release

SAMPLE_NOW = datetime(2024, 4, 10, 13, 0, tzinfo=UTC)
REVIEW_ID = 1042
REQUEST_ID = 2071
RECOMMENDATION_ID = 318
RELEASE_VERSION = "v2.4.0"
THREAD_TS = "1712750400.000100"
GATE_STATUS_CYCLE = (GateStatus.PASSED, GateStatus.WAIVED, GateStatus.PENDING, GateStatus.FAILED)
REASONS = {
    GateStatus.WAIVED: "Covered by last quarter's audit; nothing in this release changes the "
    "features it looked at.",
    GateStatus.FAILED: "Two segments are outside the tolerance; see the report.",
}
TRACK_RECORD = PathRecord(
    uses=3, recovered=3, median_minutes_to_recover=6, drill_uses=2, drill_recovered=2,
    lesson="Alert on the canary error rate before the full rollout.",
)


def ago(minutes: float) -> datetime:
    return SAMPLE_NOW - timedelta(minutes=minutes)


def people(runbook: Runbook, role: str) -> list[str]:
    """Users who can act for ``role``: its user ids, or a stand-in member of its group."""
    members = runbook.roles.get(role, [])
    users = [member for member in members if member[0] in "UW"]
    return users or ([f"U0{role.upper().replace('_', '')}"] if members else [])


def with_readiness(runbook: Runbook) -> Runbook:
    """The runbook, or for one without a readiness review a copy with a one-gate review (so
    that the review's templates are checked with its roles too)."""
    if runbook.readiness is not None:
        return runbook
    role = next(iter(runbook.roles))
    stage = Stage(id="readiness", title="Readiness", gates=[Gate(id="ready", title="Ready",
                                                                 owner=role)])  # fmt: skip
    readiness = Readiness(stages=[stage], go_no_go=runbook.paths[0].approval)
    return runbook.model_copy(update={"readiness": readiness})


def review_rows(
    runbook: Runbook,
    *,
    version: str = RELEASE_VERSION,
    review_id: int = REVIEW_ID,
    statuses: tuple[GateStatus, ...] = GATE_STATUS_CYCLE,
    started_minutes_ago: float = 120,
) -> ReviewRows:
    """A release in review with its gates marked in turn with ``statuses`` (cycled)."""
    runbook = with_readiness(runbook)
    assert runbook.readiness is not None
    started = ago(started_minutes_ago)
    starter = (runbook.owners or people(runbook, next(iter(runbook.roles))) or ["U0ALICE"])[0]
    release = Release(
        id=review_id, runbook_id=runbook.id, runbook_version=runbook.version, version=version,
        state=ReleaseState.REVIEWING.value, started_by=starter, channel_id=runbook.channels[0],
        thread_ts=THREAD_TS, created_at=started, updated_at=started,
    )  # fmt: skip
    review = ReadinessReview(
        id=review_id, release_id=review_id, runbook_id=runbook.id,
        runbook_version=runbook.version, state=ReviewState.PENDING.value,
        channel_id=runbook.channels[0], message_ts=THREAD_TS, created_at=started,
        updated_at=started,
    )  # fmt: skip
    gates: list[GateState] = []
    for stage in runbook.readiness.stages:
        for gate in stage.gates:
            status = statuses[len(gates) % len(statuses)]
            marked = status is not GateStatus.PENDING
            at = ago(90 - 10 * (len(gates) + 1)) if marked else None
            gates.append(
                GateState(
                    id=len(gates) + 1, review_id=review_id, stage_id=stage.id, gate_id=gate.id,
                    state=status.value, marked_by=(people(runbook, gate.owner) or ["U0SOMEONE"])[0]
                    if marked else None, marked_by_role=gate.owner if marked else None,
                    note=REASONS.get(status), marked_at=at, updated_at=at or started,
                )  # fmt: skip
            )
    return ReviewRows(runbook, release, review, gates)


def pending_go_no_go(rows: ReviewRows, *, request_id: int = REQUEST_ID) -> ApprovalRequest:
    runbook, release, review, _ = rows
    assert runbook.readiness is not None
    rule = runbook.readiness.go_no_go
    return ApprovalRequest(
        id=request_id, subject=release_subject(runbook.id, release.version), action="go_no_go",
        review_id=review.id, roles={r: list(runbook.roles.get(r, [])) for r in rule.roles},
        quorum=rule.required_total, requested_by=release.started_by, state="pending",
        expires_at=ago(5) + rule.expires_after, channel_id=review.channel_id,
        created_at=ago(5), updated_at=ago(5),
    )  # fmt: skip


def recommendation(runbook: Runbook, criterion: Criterion) -> Recommendation:
    """The core's proportionate recommendation for a breach of ``criterion`` alone."""
    result = recommend(runbook, severity=criterion.severity, breached_metrics=[criterion.metric])
    assert result is not None  # one metric is breached
    return result


def breached(runbook: Runbook) -> Criterion:
    """The criterion to show in breach: one whose best path may auto-execute, if any."""
    for criterion in runbook.criteria:
        best = recommendation(runbook, criterion)
        if best.adequate and best.path.auto_execute is not None:
            return criterion
    return runbook.criteria[0]


def recommended(runbook: Runbook) -> RollbackPath:
    return recommendation(runbook, breached(runbook)).path


def series(criterion: Criterion, state: CriterionState) -> list[Sample]:
    """Samples of ``criterion``'s metric up to ``SAMPLE_NOW`` that the core judges ``state``:
    beyond the breach point or inside the clear point, sustained, none stale; none at all for
    insufficient data."""
    if state is CriterionState.INSUFFICIENT_DATA:
        return []
    every = min(criterion.stale_after / 2, timedelta(minutes=1))
    sustain = criterion.sustain
    span = sustain if isinstance(sustain, timedelta) else every * sustain
    count = int(span / every) + 3
    step = criterion.margin or abs(criterion.threshold) * 0.1 or 1.0
    sign = 1 if criterion.direction == "above" else -1
    if state is CriterionState.BREACH:
        values = [criterion.breach_point + sign * step * (1 + i % 4) / 2 for i in range(count)]
    else:
        values = [criterion.clear_point - sign * step * (1 + i % 3) / 2 for i in range(count)]
    start = SAMPLE_NOW - every * count
    return [Sample(criterion.metric, round(v, 6), start + every * (i + 1))
            for i, v in enumerate(values)]  # fmt: skip


def breach_decision(runbook: Runbook) -> Decision:
    """The core's whole decision for a breach of ``breached(runbook)``; the other criteria
    alternate between not enough data and clear. The recommended path has a track record."""
    chosen = breached(runbook)
    samples: list[Sample] = []
    missing = True
    for criterion in runbook.criteria:
        if criterion is chosen:
            samples += series(criterion, CriterionState.BREACH)
            continue
        samples += series(
            criterion, CriterionState.INSUFFICIENT_DATA if missing else CriterionState.CLEAR
        )
        missing = not missing
    records = {recommendation(runbook, chosen).path.id: TRACK_RECORD}
    return decide(runbook, samples, SAMPLE_NOW, records=records)


def rollback_request(runbook: Runbook, path: RollbackPath) -> ApprovalRequest:
    rule = path.approval
    return ApprovalRequest(
        id=REQUEST_ID, subject=rollback_subject(RECOMMENDATION_ID), action="rollback",
        recommendation_id=RECOMMENDATION_ID, path_id=path.id,
        roles={r: list(runbook.roles.get(r, [])) for r in rule.roles}, quorum=rule.required_total,
        requested_by="monitoring", state="pending", expires_at=ago(2) + rule.expires_after,
        channel_id=runbook.channels[0], created_at=ago(2), updated_at=ago(2),
    )  # fmt: skip


def executor_target(path: RollbackPath) -> str:
    executor = path.executor
    if executor.type == "webhook":
        return str(executor.url)
    if executor.type == "command":
        return " ".join(executor.argv)
    return str(executor.note or "dry run")
