"""Give each tenant optional limits that replace the service-wide defaults.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = ("max_stored_bytes", "max_active_jobs", "classify_per_minute")


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("max_stored_bytes", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("max_active_jobs", sa.Integer, nullable=True))
        batch.add_column(sa.Column("classify_per_minute", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        for column in COLUMNS:
            batch.drop_column(column)
