"""Outbox: an index of the jobs still open, so a claim does not scan the finished ones.

Revision ID: 0004_outbox_open_jobs
Revises: 0003_metric_samples
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_outbox_open_jobs"
down_revision: str | Sequence[str] | None = "0003_metric_samples"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("state IN ('pending', 'running')")


def upgrade() -> None:
    op.create_index(
        "ix_outbox_jobs_open",
        "outbox_jobs",
        ["id"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_jobs_open", table_name="outbox_jobs")
