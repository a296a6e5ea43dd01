"""A partial index over the inbox rows still to do, for the worker's claim.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

QUEUED = sa.text("status IN ('pending', 'processing')")


def upgrade() -> None:
    op.create_index(
        "ix_webhook_events_queue",
        "webhook_events",
        ["id"],
        postgresql_where=QUEUED,
        sqlite_where=QUEUED,
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_events_queue", table_name="webhook_events")
