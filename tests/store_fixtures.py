"""A migrated PostgreSQL database for tests of the store layer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.ids import new_id
from core.store import jobs as job_store
from core.store.db import Database
from core.store.migrate import upgrade
from core.store.tables import Dataset
from core.store.types import utcnow


@pytest.fixture(scope="module")
def database(postgres_url: str) -> Iterator[Database]:
    upgrade(postgres_url)
    database = Database(postgres_url)
    yield database
    database.dispose()


def insert_dataset(database: Database) -> str:
    dataset_id = new_id("ds")
    with database.session() as session:
        now = utcnow()
        session.add(
            Dataset(
                id=dataset_id, tenant_id=None, name="d", status="ready", content_hash=None, storage_dir="/nowhere",
                size_bytes=0, classes=[], report={}, created_at=now, updated_at=now,
            )
        )
    return dataset_id


def insert_job(database: Database, dataset_id: str, *, eval_dataset_ids: list[str] | None = None) -> str:
    job_id = new_id("job")
    with database.session() as session:
        job_store.create_job(
            session, job_id=job_id, tenant_id=None, dataset_id=dataset_id, method="flyp",
            model_spec={"architecture": "flyp-tiny"}, hyperparameters={}, warnings=[],
            model_id=new_id("model"), model_dir="/nowhere", redispatch_after=600, eval_dataset_ids=eval_dataset_ids,
        )
    return job_id
