"""Outbox: who holds a running job (``claimed_by``), so a restarted process can take back at
once the jobs its dead predecessor held instead of waiting out their leases.

Revision ID: 0014_delivery
Revises: 0013_learning
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_delivery"
down_revision: str | Sequence[str] | None = "0013_learning"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_jobs") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_jobs") as batch:
        batch.drop_column("claimed_by")
