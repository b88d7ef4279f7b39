"""The learning loop: an index of the trail's events by kind and time.

The journal and the process-health figures read only the events of a few kinds (a rollback's
recommendation, votes, decision, execution, validation; a review's start and go/no-go; drill
events) in a time range; ``ix_trail_events_kind_at`` lets them do so without reading the
rest of the trail.

Revision ID: 0013_learning
Revises: 0008_timers
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013_learning"
down_revision: str | Sequence[str] | None = "0012_monitoring"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_trail_events_kind_at", "trail_events", ["kind", "at"])


def downgrade() -> None:
    op.drop_index("ix_trail_events_kind_at", table_name="trail_events")
