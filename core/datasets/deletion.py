"""Deleting a dataset: its row, and its files unless another dataset row still uses them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from core.datasets.creation import IDEMPOTENCY_ENDPOINT
from core.datasets.storage import move_to_trash, remove_tree, restore_from_trash
from core.errors import ConflictError, NotFoundError
from core.store import datasets as dataset_store
from core.store.db import Database
from core.store.tables import DATASET_PROCESSING

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deletion:
    """The outcome: how the row went, and whether the files were removed or kept for other rows."""

    dataset_id: str
    row: str  # "deleted", or "kept_for_jobs" when jobs still name the dataset
    files_removed: bool


def delete_dataset(database: Database, dataset_id: str, tenant_id: str | None) -> Deletion:
    """Delete the dataset, or raise NotFoundError, or ConflictError while it is processing or in use.

    The row is locked, checked and removed in one transaction. When no other row uses the
    storage directory, the directory is renamed away inside that transaction (under the
    storage lock that uploads also take) and removed from disk after the commit.
    """
    trash: Path | None = None
    storage_dir: Path | None = None
    try:
        with database.session() as session:
            dataset = dataset_store.lock_dataset(session, dataset_id, tenant_id)
            if dataset is None:
                raise NotFoundError("dataset_not_found", f"No dataset with id {dataset_id!r} exists.", param="dataset_id")
            if dataset.status == DATASET_PROCESSING:
                raise _processing_error(dataset_id)
            job_ids = dataset_store.active_job_ids(session, dataset_id)
            if job_ids:
                raise _in_use_error(dataset_id, job_ids)

            storage_dir = Path(dataset.storage_dir) if dataset.storage_dir else None
            if storage_dir is not None:
                dataset_store.lock_storage(session, str(storage_dir))
            row = dataset_store.remove_dataset(session, dataset, endpoint=IDEMPOTENCY_ENDPOINT)
            if storage_dir is not None and dataset_store.count_storage_users(session, str(storage_dir), excluding=dataset_id) == 0:
                trash = move_to_trash(storage_dir)
    except BaseException:
        if trash is not None and storage_dir is not None:
            restore_from_trash(trash, storage_dir)
        raise

    if trash is not None:
        remove_tree(trash)
    logger.info("dataset.deleted dataset_id=%s row=%s files_removed=%s", dataset_id, row, trash is not None)
    return Deletion(dataset_id=dataset_id, row=row, files_removed=trash is not None)


def _processing_error(dataset_id: str) -> ConflictError:
    return ConflictError(
        "dataset_processing",
        f"Dataset {dataset_id} is still being processed; delete it once its status is ready or failed.",
        param="dataset_id",
    )


def _in_use_error(dataset_id: str, job_ids: list[str]) -> ConflictError:
    return ConflictError(
        "dataset_in_use",
        f"Dataset {dataset_id} is used by {len(job_ids)} queued or running job(s) ({', '.join(job_ids[:5])}); "
        "cancel them or wait until they finish, then delete the dataset.",
        param="dataset_id",
        details={"job_ids": job_ids},
    )
