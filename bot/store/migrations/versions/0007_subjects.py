"""The subjects index: one row per release, rollback or drill, kept as events are appended.

Built from the trail already recorded (one pass in seq order; see ``bot.store.subjects``).

Revision ID: 0007_subjects
Revises: 0006_integrity
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.subjects import rebuild_subjects

revision: str = "0007_subjects"
down_revision: str | Sequence[str] | None = "0006_integrity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trail_subjects",
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("runbook_id", sa.String(), nullable=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=True),
        sa.Column("first_seq", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("subject"),
    )
    op.create_index("ix_trail_subjects_first_seq", "trail_subjects", ["first_seq"], unique=True)
    op.create_index("ix_trail_subjects_kind_first_seq", "trail_subjects", ["kind", "first_seq"])
    op.create_index(
        "ix_trail_subjects_runbook_first_seq", "trail_subjects", ["runbook_id", "first_seq"]
    )
    rebuild_subjects(op.get_bind())


def downgrade() -> None:
    op.drop_table("trail_subjects")
