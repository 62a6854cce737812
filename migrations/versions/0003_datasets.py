"""Store dataset ingest options; index storage directories and idempotency resource ids.

A worker that ingests an upload off the request reads the options the API resolved from
`ingest_options`. Deleting a dataset counts the other rows that share its storage directory,
and forgets the idempotency keys that name it; both lookups use the new indexes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from core.store.types import JSONType

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("datasets", sa.Column("ingest_options", JSONType, nullable=True))
    op.create_index("ix_datasets_storage_dir", "datasets", ["storage_dir"])
    op.create_index("ix_idempotency_keys_resource_id", "idempotency_keys", ["resource_id"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_resource_id", table_name="idempotency_keys")
    op.drop_index("ix_datasets_storage_dir", table_name="datasets")
    op.drop_column("datasets", "ingest_options")
