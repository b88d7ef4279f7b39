"""Monitoring as a source: samples from Prometheus, and each query's newest answer.

- ``metric_samples.source`` may be ``prometheus`` (values of query-backed criteria).
- ``query_readings`` holds each query-backed criterion's newest answer (see
  ``bot.store.query_readings``).
- ``gate_checks`` holds the bot's proposal for each self-checking gate of a review (see
  ``bot.store.gate_checks``).

Revision ID: 0012_monitoring
Revises: 0008_timers
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_monitoring"
down_revision: str | Sequence[str] | None = "0008_timers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_SOURCES = "source IN ('alertmanager', 'metrics', 'drill', 'manual')"
NEW_SOURCES = "source IN ('alertmanager', 'metrics', 'drill', 'manual', 'prometheus')"


def upgrade() -> None:
    with op.batch_alter_table("metric_samples") as table:
        table.drop_constraint("ck_metric_samples_source", type_="check")
        table.create_check_constraint("ck_metric_samples_source", NEW_SOURCES)
    op.create_table(
        "query_readings",
        sa.Column("runbook_id", sa.String(), nullable=False),
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("query", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("raw", sa.String(), nullable=True),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("detail", sa.String(), nullable=True),
        sa.Column("arithmetic", sa.String(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("runbook_id", "metric"),
    )
    op.create_table(
        "gate_checks",
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("gate_id", sa.String(), nullable=False),
        sa.Column("proposal", sa.String(), nullable=True),
        sa.Column("evidence", sa.String(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("review_id", "gate_id"),
    )


def downgrade() -> None:
    op.drop_table("gate_checks")
    op.drop_table("query_readings")
    op.execute("DELETE FROM metric_samples WHERE source = 'prometheus'")
    with op.batch_alter_table("metric_samples") as table:
        table.drop_constraint("ck_metric_samples_source", type_="check")
        table.create_check_constraint("ck_metric_samples_source", OLD_SOURCES)
