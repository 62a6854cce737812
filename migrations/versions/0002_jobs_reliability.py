"""Add the columns the reaper and the queue position need.

`queued_at` orders the queue (a requeued job goes to the back), `dispatch_count` counts the
messages sent for a job, and `redispatch_at` is when the reaper sends its message again if no
worker has claimed it by then.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from core.store.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("queued_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("dispatch_count", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("redispatch_at", UTCDateTime, nullable=True))
    op.execute("UPDATE jobs SET queued_at = created_at")
    op.create_index("ix_jobs_status_queued", "jobs", ["status", "queued_at"])
    op.create_index("ix_jobs_status_lease", "jobs", ["status", "lease_expires_at"])
    op.create_index("ix_jobs_status_redispatch", "jobs", ["status", "redispatch_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_status_redispatch", table_name="jobs")
    op.drop_index("ix_jobs_status_lease", table_name="jobs")
    op.drop_index("ix_jobs_status_queued", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("redispatch_at")
        batch.drop_column("dispatch_count")
        batch.drop_column("queued_at")
