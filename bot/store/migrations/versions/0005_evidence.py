"""Evidence: sample streams (live or a drill's), alerts as observations, and criteria states.

- ``metric_samples`` gets ``stream`` (``live`` for existing rows), an alert's identity
  (``alert_key``, unique per stream), ``since`` and ``seen_until``; its unique key now
  includes the stream, so a drill's samples never collide with live ones.
- ``criterion_heads`` and ``criterion_checkpoints`` hold each stream's replay (see
  ``bot.core.resume``). They start empty: the first sample a stream receives after the
  upgrade replays the samples stored before it into its head (migrations do not read the
  runbooks, which the replay needs).

Revision ID: 0005_evidence
Revises: 0004_outbox_open_jobs
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_evidence"
down_revision: str | Sequence[str] | None = "0004_outbox_open_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALERT_KEY_SET = sa.text("alert_key IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("metric_samples") as table:
        table.add_column(sa.Column("stream", sa.String(), nullable=False, server_default="live"))
        table.add_column(sa.Column("since", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("seen_until", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("alert_key", sa.String(), nullable=True))
    # Existing drill samples (if any) move to a stream of their own.
    op.execute("UPDATE metric_samples SET stream = 'drill' WHERE source = 'drill'")
    with op.batch_alter_table("metric_samples") as table:
        table.alter_column("stream", server_default=None)
        table.drop_constraint("uq_metric_samples_observation", type_="unique")
        table.create_unique_constraint(
            "uq_metric_samples_observation", ["runbook_id", "metric", "stream", "at", "value"]
        )
        table.create_check_constraint(
            "ck_metric_samples_drill_stream", "(source = 'drill') = (stream <> 'live')"
        )
    op.create_index(
        "uq_metric_samples_alert",
        "metric_samples",
        ["runbook_id", "metric", "stream", "alert_key"],
        unique=True,
        sqlite_where=ALERT_KEY_SET,
        postgresql_where=ALERT_KEY_SET,
    )
    op.create_table(
        "criterion_heads",
        sa.Column("runbook_id", sa.String(), nullable=False),
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("stream", sa.String(), nullable=False),
        sa.Column("policy", sa.String(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("base_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("base_value", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("runbook_id", "metric", "stream"),
    )
    op.create_table(
        "criterion_checkpoints",
        sa.Column("runbook_id", sa.String(), nullable=False),
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("stream", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("runbook_id", "metric", "stream", "at", "value"),
    )


def downgrade() -> None:
    op.drop_table("criterion_checkpoints")
    op.drop_table("criterion_heads")
    op.drop_index("uq_metric_samples_alert", table_name="metric_samples")
    op.execute("DELETE FROM metric_samples WHERE stream NOT IN ('live', 'drill')")
    with op.batch_alter_table("metric_samples") as table:
        table.drop_constraint("ck_metric_samples_drill_stream", type_="check")
        table.drop_constraint("uq_metric_samples_observation", type_="unique")
        table.create_unique_constraint(
            "uq_metric_samples_observation", ["runbook_id", "metric", "at", "value"]
        )
        table.drop_column("alert_key")
        table.drop_column("seen_until")
        table.drop_column("since")
        table.drop_column("stream")
