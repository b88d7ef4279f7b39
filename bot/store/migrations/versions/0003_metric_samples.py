"""Metric samples received from monitoring, unique per observation.

Revision ID: 0003_metric_samples
Revises: 0002_slack_outbox
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_metric_samples"
down_revision: str | Sequence[str] | None = "0002_slack_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "metric_samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("runbook_id", sa.String(), nullable=False),
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "source IN ('alertmanager', 'metrics', 'drill', 'manual')",
            name="ck_metric_samples_source",
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "runbook_id", "metric", "at", "value", name="uq_metric_samples_observation"
        ),
    )


def downgrade() -> None:
    op.drop_table("metric_samples")
