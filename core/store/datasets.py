"""Dataset rows: creation, state changes, locks, and removal.

Several rows may share one storage directory (content-addressed storage). Transactions that
add a user of a directory or remove the last one take `lock_storage` first, so a directory is
never deleted while another row is about to use it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, false, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.store.tables import (
    ACTIVE_STATES,
    DATASET_DELETED,
    DATASET_FAILED,
    DATASET_PROCESSING,
    DATASET_READY,
    Dataset,
    IdempotencyKey,
    Job,
)
from core.store.types import utcnow

# Rows whose storage directory contains (or is about to contain) their files.
STORAGE_USING_STATES = (DATASET_PROCESSING, DATASET_READY)


class DuplicateRowError(Exception):
    """A concurrent transaction inserted the same primary key first (such as an idempotency key)."""


def lock_storage(session: Session, storage_dir: str) -> None:
    """Take a lock on `storage_dir` until the transaction ends. Call it before any other statement.

    PostgreSQL gets an advisory lock keyed by the path. SQLite allows one writer at a time, so
    a write as the first statement holds the database lock until the transaction ends.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(storage_lock_key(storage_dir))))
    else:
        _take_sqlite_write_lock(session)


def lock_dataset(session: Session, dataset_id: str, tenant_id: str | None) -> Dataset | None:
    """Return the dataset row locked for update, or None if the tenant has no such live dataset.

    On PostgreSQL the row lock also waits for jobs being inserted on this dataset, because
    their foreign key check locks the same row.
    """
    if session.get_bind().dialect.name != "postgresql":
        _take_sqlite_write_lock(session)
    query = select(Dataset).where(Dataset.id == dataset_id).with_for_update()
    dataset = session.scalar(query)
    if dataset is None or dataset.tenant_id != tenant_id or dataset.status == DATASET_DELETED:
        return None
    return dataset


def insert_dataset(
    session: Session,
    *,
    dataset_id: str,
    tenant_id: str | None,
    name: str,
    status: str,
    content_hash: str,
    storage_dir: str | None,
    size_bytes: int,
    report: dict[str, Any],
    ingest_options: dict[str, Any],
) -> Dataset:
    now = utcnow()
    dataset = Dataset(
        id=dataset_id,
        tenant_id=tenant_id,
        name=name,
        status=status,
        content_hash=content_hash,
        storage_dir=storage_dir,
        size_bytes=size_bytes,
        classes=list(report.get("classes", [])),
        report=report,
        error=None,
        ingest_options=ingest_options,
        created_at=now,
        updated_at=now,
    )
    session.add(dataset)
    return dataset


def flush_new_rows(session: Session) -> None:
    """Send pending inserts now, raising DuplicateRowError when a concurrent twin won a primary key."""
    try:
        session.flush()
    except IntegrityError as error:
        raise DuplicateRowError(str(error.orig)) from error


def mark_ready(session: Session, dataset_id: str, *, report: dict[str, Any]) -> bool:
    """Set a processing dataset ready with its report. Return False if it was not processing."""
    values = {"status": DATASET_READY, "report": report, "classes": list(report.get("classes", [])), "updated_at": utcnow()}
    return _update_processing(session, dataset_id, values)


def mark_failed(session: Session, dataset_id: str, *, error: dict[str, Any], report: dict[str, Any]) -> bool:
    """Set a processing dataset failed, without files. Return False if it was not processing."""
    values = {
        "status": DATASET_FAILED,
        "error": error,
        "report": report,
        "classes": list(report.get("classes", [])),
        "storage_dir": None,
        "updated_at": utcnow(),
    }
    return _update_processing(session, dataset_id, values)


@dataclass(frozen=True)
class StaleDataset:
    id: str
    updated_at: datetime


def find_stale_processing(session: Session, *, idle_seconds: int, limit: int = 100) -> list[StaleDataset]:
    """Return processing datasets whose row has not changed for `idle_seconds`, oldest first.

    A worker that ingests a dataset touches its row regularly (`touch_processing`), so a
    stale row means that no worker has the upload: its message was lost or never sent.
    """
    cutoff = utcnow() - timedelta(seconds=idle_seconds)
    rows = session.execute(
        select(Dataset.id, Dataset.updated_at)
        .where(Dataset.status == DATASET_PROCESSING, Dataset.updated_at <= cutoff)
        .order_by(Dataset.updated_at)
        .limit(limit)
    )
    return [StaleDataset(id=row.id, updated_at=row.updated_at) for row in rows]


def claim_stale_processing(session: Session, stale: StaleDataset) -> bool:
    """Take the right to send a stale dataset's ingest message again; False if another reaper took it."""
    statement = (
        update(Dataset)
        .where(Dataset.id == stale.id, Dataset.status == DATASET_PROCESSING, Dataset.updated_at == stale.updated_at)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return session.execute(statement).rowcount == 1


def touch_processing(session: Session, dataset_id: str) -> bool:
    """Record that a worker is still ingesting the dataset. Return False once it is no longer processing."""
    return _update_processing(session, dataset_id, {"updated_at": utcnow()})


def active_job_ids(session: Session, dataset_id: str) -> list[str]:
    """Return the ids of queued or running jobs that train or evaluate on the dataset, oldest first."""
    query = (
        select(Job.id, Job.dataset_id, Job.eval_dataset_ids)
        .where(Job.status.in_(ACTIVE_STATES), or_(Job.dataset_id == dataset_id, Job.eval_dataset_ids.is_not(None)))
        .order_by(Job.created_at)
    )
    # The JSON list is searched here, not in SQL, so the query is the same on SQLite and
    # PostgreSQL; only active jobs are read, a few per tenant.
    return [row.id for row in session.execute(query) if row.dataset_id == dataset_id or dataset_id in (row.eval_dataset_ids or [])]


def count_storage_users(session: Session, storage_dir: str, *, excluding: str) -> int:
    """Count live rows other than `excluding` whose files are in `storage_dir`."""
    query = select(func.count()).where(
        Dataset.storage_dir == storage_dir, Dataset.status.in_(STORAGE_USING_STATES), Dataset.id != excluding
    )
    return int(session.scalar(query) or 0)


def remove_dataset(session: Session, dataset: Dataset, *, endpoint: str) -> str:
    """Delete the row, or keep it as a file-less `deleted` row when jobs name it. Return which of the two.

    The idempotency keys that created the dataset are forgotten, so a retry with the same key
    creates a new dataset.
    """
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.resource_id == dataset.id, IdempotencyKey.endpoint == endpoint))
    if session.scalar(select(exists().where(Job.dataset_id == dataset.id))):
        dataset.status = DATASET_DELETED
        dataset.storage_dir = None
        dataset.classes = []
        dataset.report = {}
        dataset.updated_at = utcnow()
        return "kept_for_jobs"
    session.delete(dataset)
    return "deleted"


def _update_processing(session: Session, dataset_id: str, values: dict[str, Any]) -> bool:
    statement = update(Dataset).where(Dataset.id == dataset_id, Dataset.status == DATASET_PROCESSING).values(**values)
    return session.execute(statement).rowcount == 1


def _take_sqlite_write_lock(session: Session) -> None:
    # An UPDATE that matches no row still starts a write transaction in SQLite.
    session.execute(update(Dataset).where(false()).values(status=Dataset.status))


def storage_lock_key(text: str) -> int:
    """Map `text` to the signed 64-bit key that pg_advisory_xact_lock takes."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)
