"""Initial schema: releases, readiness, rollbacks, approvals, executions, drills, the trail.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from bot.store import append_only

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _str(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.String(), nullable=nullable)


def _time(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "drill_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("runbook_id"),
        sa.Column("runbook_version", sa.Integer(), nullable=False),
        _str("drill_id"),
        _time("scheduled_for"),
        _str("state"),
        _str("channel_id", nullable=True),
        _str("thread_ts", nullable=True),
        _time("started_at", nullable=True),
        _time("acknowledged_at", nullable=True),
        _str("acknowledged_by", nullable=True),
        _time("decided_at", nullable=True),
        _time("completed_at", nullable=True),
        sa.Column("results", sa.JSON(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("runbook_id", "drill_id", "scheduled_for", name="uq_drill_runs_slot"),
    )
    op.create_index("ix_drill_runs_runbook_id", "drill_runs", ["runbook_id"])
    op.create_index("ix_drill_runs_state", "drill_runs", ["state"])

    op.create_table(
        "releases",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("runbook_id"),
        sa.Column("runbook_version", sa.Integer(), nullable=False),
        _str("version"),
        _str("state"),
        _str("started_by"),
        _str("channel_id", nullable=True),
        _str("thread_ts", nullable=True),
        _time("created_at"),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("runbook_id", "version", name="uq_releases_runbook_version"),
    )
    op.create_index("ix_releases_runbook_id", "releases", ["runbook_id"])
    op.create_index("ix_releases_state", "releases", ["state"])

    op.create_table(
        "trail_events",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        _str("kind"),
        _str("actor"),
        _str("actor_role", nullable=True),
        _str("subject"),
        _str("channel_id", nullable=True),
        _str("thread_ts", nullable=True),
        _str("message_ts", nullable=True),
        sa.Column("permalink", sa.Text(), nullable=True),
        sa.Column("payload_json", sa.Text(), nullable=False),
        _time("at"),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("seq >= 1", name="ck_trail_events_seq_positive"),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_trail_events_subject_seq", "trail_events", ["subject", "seq"])
    append_only.install(op.get_bind())

    op.create_table(
        "trail_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "readiness_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        _str("runbook_id"),
        sa.Column("runbook_version", sa.Integer(), nullable=False),
        _str("state"),
        _str("decided_by", nullable=True),
        _time("decided_at", nullable=True),
        _str("channel_id", nullable=True),
        _str("message_ts", nullable=True),
        _time("created_at"),
        _time("updated_at"),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_readiness_reviews_release_id", "readiness_reviews", ["release_id"])
    op.create_index("ix_readiness_reviews_state", "readiness_reviews", ["state"])

    op.create_table(
        "rollback_recommendations",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("runbook_id"),
        sa.Column("runbook_version", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=True),
        sa.Column("drill_run_id", sa.Integer(), nullable=True),
        _str("path_id"),
        _str("state"),
        sa.Column("reason", sa.Text(), nullable=True),
        _str("requested_by"),
        sa.Column("trigger", sa.JSON(), nullable=False),
        sa.Column("impact", sa.JSON(), nullable=False),
        _str("channel_id", nullable=True),
        _str("message_ts", nullable=True),
        _str("thread_ts", nullable=True),
        _time("decided_at", nullable=True),
        _time("created_at"),
        _time("updated_at"),
        sa.ForeignKeyConstraint(["drill_run_id"], ["drill_runs.id"]),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_rollback_recommendations_drill_run_id", "rollback_recommendations", ["drill_run_id"]
    )
    op.create_index(
        "ix_rollback_recommendations_runbook_id", "rollback_recommendations", ["runbook_id"]
    )
    op.create_index("ix_rollback_recommendations_state", "rollback_recommendations", ["state"])

    op.create_table(
        "approval_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("subject"),
        _str("action"),
        sa.Column("recommendation_id", sa.Integer(), nullable=True),
        sa.Column("review_id", sa.Integer(), nullable=True),
        _str("path_id", nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("quorum", sa.Integer(), nullable=False),
        _str("requested_by"),
        _str("state"),
        _time("expires_at", nullable=True),
        _time("decided_at", nullable=True),
        _str("channel_id", nullable=True),
        _str("message_ts", nullable=True),
        _time("created_at"),
        _time("updated_at"),
        sa.ForeignKeyConstraint(["recommendation_id"], ["rollback_recommendations.id"]),
        sa.ForeignKeyConstraint(["review_id"], ["readiness_reviews.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_approval_requests_expires_at", "approval_requests", ["expires_at"])
    op.create_index(
        "ix_approval_requests_recommendation_id", "approval_requests", ["recommendation_id"]
    )
    op.create_index("ix_approval_requests_state", "approval_requests", ["state"])
    op.create_index("ix_approval_requests_subject", "approval_requests", ["subject"])

    op.create_table(
        "executions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recommendation_id", sa.Integer(), nullable=False),
        _str("idempotency_key"),
        _str("path_id"),
        _str("executor"),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        _str("state"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _str("validation_state", nullable=True),
        _str("endorsed_by", nullable=True),
        _time("started_at", nullable=True),
        _time("finished_at", nullable=True),
        _time("endorsed_at", nullable=True),
        _time("created_at"),
        _time("updated_at"),
        sa.ForeignKeyConstraint(["recommendation_id"], ["rollback_recommendations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_executions_recommendation_id", "executions", ["recommendation_id"])
    op.create_index("ix_executions_state", "executions", ["state"])

    op.create_table(
        "gate_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        _str("stage_id"),
        _str("gate_id"),
        _str("state"),
        _str("marked_by", nullable=True),
        _str("marked_by_role", nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        _time("marked_at", nullable=True),
        _time("updated_at"),
        sa.ForeignKeyConstraint(["review_id"], ["readiness_reviews.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("review_id", "stage_id", "gate_id", name="uq_gate_states_review_gate"),
    )
    op.create_index("ix_gate_states_review_id", "gate_states", ["review_id"])

    op.create_table(
        "approval_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        _str("user_id"),
        _str("role", nullable=True),
        _str("decision"),
        _str("action_ts", nullable=True),
        _time("created_at"),
        sa.ForeignKeyConstraint(["request_id"], ["approval_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "user_id", name="uq_approval_votes_user"),
    )
    op.create_index("ix_approval_votes_request_id", "approval_votes", ["request_id"])


def downgrade() -> None:
    op.drop_table("approval_votes")
    op.drop_table("gate_states")
    op.drop_table("executions")
    op.drop_table("approval_requests")
    op.drop_table("rollback_recommendations")
    op.drop_table("readiness_reviews")
    op.drop_table("trail_head")
    append_only.uninstall(op.get_bind())
    op.drop_table("trail_events")
    op.drop_table("releases")
    op.drop_table("drill_runs")
