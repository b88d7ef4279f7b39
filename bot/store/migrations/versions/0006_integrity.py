"""A trail outsiders can check: keyed MACs on events and the head, the head's guard, and
the checkpoints published outside the database.

Existing events keep their plain SHA-256 chain (no MAC: hash scheme 1) and still verify;
events sealed with ``RELEASEBOT_TRAIL_KEY`` set carry a MAC (scheme 2). Adding nullable
columns is instant on both databases, however long the trail.

Revision ID: 0006_integrity
Revises: 0005_evidence
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store import append_only

revision: str = "0006_integrity"
down_revision: str | Sequence[str] | None = "0005_evidence"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("trail_events", sa.Column("mac", sa.String(length=64), nullable=True))
    op.add_column("trail_head", sa.Column("mac", sa.String(length=64), nullable=True))
    append_only.install_head_guard(op.get_bind())
    op.create_table(
        "trail_checkpoints",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("keyed_since", sa.Integer(), nullable=True),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )


def downgrade() -> None:
    op.drop_table("trail_checkpoints")
    append_only.uninstall_head_guard(op.get_bind())
    op.drop_column("trail_head", "mac")
    op.drop_column("trail_events", "mac")
