"""SQLModel tables. Rows are translated to core values at the store's boundary.

Every table with a lifecycle has a ``state`` column, whose states and allowed changes are the
core's (``bot.core.releases``, ``bot.core.rollbacks``, ``bot.core.approvals``), changed only
through ``bot.store.transitions`` (a conditional UPDATE), and Slack coordinates
(``channel_id``, ``message_ts``, ``thread_ts``) where a message represents the row. Times are
aware UTC (``UTCDateTime``); policy is recorded with ``runbook_id`` and ``runbook_version``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import JSON, CheckConstraint, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.store import append_only
from bot.store.columns import UTCDateTime


def _time(*, nullable: bool = False, index: bool = False) -> Any:
    """An aware UTC time; required ones have no default because ``now`` is the caller's."""
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)
    return Field(sa_type=UTCDateTime, nullable=False, index=index)


def _json() -> Any:
    return Field(default_factory=dict, sa_type=JSON, nullable=False)


class Release(SQLModel, table=True):
    """A model version going out under a runbook; its trail subject is ``release:RUNBOOK:VER``."""

    __tablename__ = "releases"
    __table_args__ = (
        UniqueConstraint("runbook_id", "version", name="uq_releases_runbook_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    runbook_id: str = Field(index=True)
    runbook_version: int  # the policy's version when the release started
    version: str  # the model version being released, e.g. v2.4.0
    state: str = Field(default="reviewing", index=True)  # core.releases.ReleaseState
    started_by: str
    channel_id: str | None = None
    thread_ts: str | None = None
    created_at: datetime = _time()
    updated_at: datetime = _time()


class ReadinessReview(SQLModel, table=True):
    """The readiness checklist posted for a release, and its go/no-go."""

    __tablename__ = "readiness_reviews"

    id: int | None = Field(default=None, primary_key=True)
    release_id: int = Field(foreign_key="releases.id", index=True)
    runbook_id: str
    runbook_version: int
    state: str = Field(default="pending", index=True)  # core.releases.ReviewState
    decided_by: str | None = None
    decided_at: datetime | None = _time(nullable=True)
    channel_id: str | None = None
    message_ts: str | None = None
    created_at: datetime = _time()
    updated_at: datetime = _time()


class GateState(SQLModel, table=True):
    """One gate of a review, marked by its owner."""

    __tablename__ = "gate_states"
    __table_args__ = (
        UniqueConstraint("review_id", "stage_id", "gate_id", name="uq_gate_states_review_gate"),
    )

    id: int | None = Field(default=None, primary_key=True)
    review_id: int = Field(foreign_key="readiness_reviews.id", index=True)
    stage_id: str
    gate_id: str
    state: str = "pending"  # core.releases.GateStatus
    marked_by: str | None = None
    marked_by_role: str | None = None
    note: str | None = Field(default=None, sa_type=Text)
    marked_at: datetime | None = _time(nullable=True)
    updated_at: datetime = _time()


class DrillRun(SQLModel, table=True):
    """One game-day drill; unique per scheduled slot so that replicas start it once."""

    __tablename__ = "drill_runs"
    __table_args__ = (
        UniqueConstraint("runbook_id", "drill_id", "scheduled_for", name="uq_drill_runs_slot"),
    )

    id: int | None = Field(default=None, primary_key=True)
    runbook_id: str = Field(index=True)
    runbook_version: int
    drill_id: str
    scheduled_for: datetime = _time()
    state: str = Field(default="scheduled", index=True)  # scheduled|running|completed|aborted
    channel_id: str | None = None
    thread_ts: str | None = None
    started_at: datetime | None = _time(nullable=True)
    acknowledged_at: datetime | None = _time(nullable=True)
    acknowledged_by: str | None = None
    decided_at: datetime | None = _time(nullable=True)
    completed_at: datetime | None = _time(nullable=True)
    results: dict[str, Any] = _json()  # timings and score
    created_at: datetime = _time()
    updated_at: datetime = _time()


class RollbackRecommendation(SQLModel, table=True):
    """A proposed rollback path for a breach (or a drill's synthetic incident)."""

    __tablename__ = "rollback_recommendations"

    id: int | None = Field(default=None, primary_key=True)
    runbook_id: str = Field(index=True)
    runbook_version: int
    release_id: int | None = Field(default=None, foreign_key="releases.id")
    drill_run_id: int | None = Field(default=None, foreign_key="drill_runs.id", index=True)
    path_id: str
    state: str = Field(default="pending", index=True)  # core.rollbacks.RecommendationState
    reason: str | None = Field(default=None, sa_type=Text)
    requested_by: str
    trigger: dict[str, Any] = _json()  # breached criteria and observed values
    impact: dict[str, Any] = _json()  # scores, arithmetic and ranked alternatives
    channel_id: str | None = None
    message_ts: str | None = None
    thread_ts: str | None = None
    decided_at: datetime | None = _time(nullable=True)
    created_at: datetime = _time()
    updated_at: datetime = _time()

    @property
    def conversation_ts(self) -> str | None:
        """Where the rollback is discussed: the release thread it was posted in, or the thread
        under the recommendation itself."""
        return self.thread_ts or self.message_ts


class ApprovalRequest(SQLModel, table=True):
    """Who must approve what (a rollback path or a go/no-go), by when, with which quorum."""

    __tablename__ = "approval_requests"

    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(index=True)  # the trail subject the decision belongs to
    action: str  # the kind of request: go_no_go | rollback (bot.services.approvals.kinds)
    recommendation_id: int | None = Field(
        default=None, foreign_key="rollback_recommendations.id", index=True
    )
    review_id: int | None = Field(default=None, foreign_key="readiness_reviews.id")
    path_id: str | None = None
    roles: dict[str, Any] = _json()  # role -> members allowed to approve, as decided by policy
    quorum: int = 1
    requested_by: str
    state: str = Field(default="pending", index=True)  # core.approvals.RequestState
    expires_at: datetime | None = _time(nullable=True, index=True)
    decided_at: datetime | None = _time(nullable=True)
    channel_id: str | None = None
    message_ts: str | None = None
    created_at: datetime = _time()
    updated_at: datetime = _time()


class ApprovalVote(SQLModel, table=True):
    """One person's vote; a second click by the same person is refused by the unique key."""

    __tablename__ = "approval_votes"
    __table_args__ = (UniqueConstraint("request_id", "user_id", name="uq_approval_votes_user"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="approval_requests.id", index=True)
    user_id: str
    role: str | None = None  # the role the vote counted under, if any
    decision: str  # approve | reject
    action_ts: str | None = None  # Slack's action_ts of the click
    created_at: datetime = _time()


class Execution(SQLModel, table=True):
    """Running an approved path through an executor, then validating the restored state."""

    __tablename__ = "executions"

    id: int | None = Field(default=None, primary_key=True)
    recommendation_id: int = Field(foreign_key="rollback_recommendations.id", index=True)
    idempotency_key: str = Field(unique=True)
    path_id: str
    executor: str  # webhook | command | dry_run
    dry_run: bool = False
    state: str = Field(default="pending", index=True)  # core.rollbacks.ExecutionState
    attempts: int = 0
    result: dict[str, Any] = _json()
    error: str | None = Field(default=None, sa_type=Text)
    validation_state: str | None = None  # core.rollbacks.ValidationState
    endorsed_by: str | None = None
    started_at: datetime | None = _time(nullable=True)
    finished_at: datetime | None = _time(nullable=True)
    endorsed_at: datetime | None = _time(nullable=True)
    created_at: datetime = _time()
    updated_at: datetime = _time()


class TrailEventRow(SQLModel, table=True):
    """One trail event; append-only (triggers refuse UPDATE and DELETE).

    ``payload_json`` is the canonical JSON text that was hashed, kept as text so that no
    database normalises it (PostgreSQL's jsonb would).
    """

    __tablename__ = "trail_events"
    __table_args__ = (
        Index("ix_trail_events_subject_seq", "subject", "seq"),
        Index("ix_trail_events_kind_at", "kind", "at"),  # the learning loop's reads
        CheckConstraint("seq >= 1", name="ck_trail_events_seq_positive"),
    )

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    kind: str
    actor: str
    actor_role: str | None = None
    subject: str
    channel_id: str | None = None
    thread_ts: str | None = None
    message_ts: str | None = None
    permalink: str | None = Field(default=None, sa_type=Text)
    payload_json: str = Field(sa_type=Text)
    at: datetime = _time()
    prev_hash: str = Field(sa_type=String(64))
    hash: str = Field(sa_type=String(64))
    mac: str | None = Field(default=None, sa_type=String(64))  # keyed: see bot.core.trail


class TrailHead(SQLModel, table=True):
    """The last appended event (one row, id 1): detects a truncated or extended chain.
    Triggers let it move only forward, to the last event; ``mac`` is keyed over its position."""

    __tablename__ = "trail_head"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int
    hash: str = Field(sa_type=String(64))
    updated_at: datetime = _time()
    mac: str | None = Field(default=None, sa_type=String(64))


class TrailCheckpointRow(SQLModel, table=True):
    """A signed checkpoint of the trail, as published outside the database (a Slack channel,
    a file). The copies outside are what ``trail verify --checkpoints`` trusts; this row says
    where the next checkpoint starts and, being unique by seq, that one was made."""

    __tablename__ = "trail_checkpoints"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    hash: str = Field(sa_type=String(64))
    keyed_since: int | None = None
    made_at: datetime = _time()
    line: str = Field(sa_type=Text)


class HasId(Protocol):
    id: int | None


def row_id(row: HasId) -> int:
    """The id of a row that has been flushed (so it has one)."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} has no id yet: flush it first")
    return row.id


STATEFUL_TABLES: tuple[type[SQLModel], ...] = (
    Release,
    ReadinessReview,
    GateState,
    DrillRun,
    RollbackRecommendation,
    ApprovalRequest,
    Execution,
)


append_only.attach_to(TrailEventRow.__table__)  # type: ignore[attr-defined]
append_only.attach_to(TrailHead.__table__, head=True)  # type: ignore[attr-defined]
