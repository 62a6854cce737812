"""Creating datasets from uploads: within the request, or as a pending row a worker finishes.

The API decides which path an upload takes; a worker task calls
`core.datasets.processing.process_pending`. A dataset created within the request is `ready`
or not created at all. A pending one ends `ready` (files under its storage directory) or
`failed` (no files; the report and the error are stored on the row).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.datasets.storage import IngestOptions, ingest_into, load_report, storage_key
from core.errors import ServiceError
from core.ids import new_id
from core.ingest import IngestLimits
from core.settings import Settings
from core.store import datasets as dataset_store
from core.store import idempotency
from core.store.db import Database
from core.store.tables import DATASET_PROCESSING, DATASET_READY, Dataset

logger = logging.getLogger(__name__)

IDEMPOTENCY_ENDPOINT = "datasets.create"
PENDING_SUFFIX = ".archive"
# A directory removed by a concurrent delete between ingest and insert is ingested again.
MAX_STORE_ATTEMPTS = 3


@dataclass(frozen=True)
class Upload:
    """An uploaded archive on disk."""

    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class DatasetRequest:
    """The caller's request apart from the archive: name, tenant, display names and Idempotency-Key."""

    name: str
    tenant_id: str | None
    display_names: dict[str, str]
    idempotency_key: str | None = None

    def fingerprint(self, upload: Upload) -> str:
        """Return the hash that an Idempotency-Key retry must match: the archive and every field."""
        return idempotency.request_fingerprint({"sha256": upload.sha256, "name": self.name, "display_names": self.display_names})


class DatasetCreator:
    """Create dataset rows and their stored files for one service configuration."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings

    @staticmethod
    def options_for(settings: Settings, display_names: dict[str, str]) -> IngestOptions:
        """Return the ingest options that `settings` and the caller's display names give."""
        return IngestOptions(limits=IngestLimits.from_settings(settings), val_fraction=settings.val_fraction, display_names=display_names)

    def options(self, display_names: dict[str, str]) -> IngestOptions:
        return self.options_for(self.settings, display_names)

    def storage_dir(self, request: DatasetRequest, upload: Upload) -> Path:
        key = storage_key(upload.sha256, self.options(request.display_names), tenant_id=request.tenant_id)
        return (self.settings.datasets_dir / key).resolve()

    def pending_path(self, dataset_id: str) -> Path:
        """Return where an upload waits for a worker. The data directory is shared with the workers."""
        return self.settings.uploads_dir / f"{dataset_id}{PENDING_SUFFIX}"

    def find_replay(self, request: DatasetRequest, upload: Upload) -> Dataset | None:
        """Return the dataset an earlier request with the same Idempotency-Key created, if any.

        Raises InvalidRequestError (idempotency_key_reused) when the key came with another request.
        """
        if request.idempotency_key is None:
            return None
        with self.database.session() as session:
            dataset_id = idempotency.find_previous(
                session,
                scope=request.tenant_id,
                key=request.idempotency_key,
                endpoint=IDEMPOTENCY_ENDPOINT,
                fingerprint=request.fingerprint(upload),
            )
            return session.get(Dataset, dataset_id) if dataset_id is not None else None

    def is_stored(self, request: DatasetRequest, upload: Upload) -> bool:
        """Tell whether this archive with these options is already stored, so no ingest is needed."""
        return load_report(self.storage_dir(request, upload)) is not None

    def create_ready(self, request: DatasetRequest, upload: Upload) -> Dataset:
        """Ingest the upload now (or reuse its stored copy) and insert a ready row.

        Raises the ingest errors (422 or 413) with nothing stored, and DuplicateRowError when a
        concurrent request with the same Idempotency-Key created its dataset first. Blocking
        and CPU-bound.
        """
        storage_dir = self.storage_dir(request, upload)
        options = self.options(request.display_names)
        for attempt in range(1, MAX_STORE_ATTEMPTS + 1):
            report = ingest_into(upload.path, storage_dir, options)
            dataset = self._insert(request, upload, status=DATASET_READY, storage_dir=storage_dir, report=report)
            if dataset is not None:
                logger.info("dataset.created dataset_id=%s status=ready images=%s dir=%s", dataset.id, report.get("accepted"), storage_dir)
                return dataset
            logger.info("dataset.storage.removed_meanwhile dir=%s attempt=%d", storage_dir, attempt)
        raise RuntimeError(f"the dataset directory {storage_dir} was removed during each of {MAX_STORE_ATTEMPTS} attempts")

    def create_pending(self, request: DatasetRequest, upload: Upload) -> Dataset:
        """Insert a processing row and move the upload to where the worker reads it.

        The caller then sends the ingest task. The row names its storage directory from the
        start, so a concurrent delete of another row never removes files it is about to use.
        Raises DuplicateRowError like `create_ready`; the upload then stays where it was.
        """
        storage_dir = self.storage_dir(request, upload)
        dataset = self._insert(request, upload, status=DATASET_PROCESSING, storage_dir=storage_dir, report={})
        if dataset is None:
            raise RuntimeError("a processing dataset row was not inserted")
        os.replace(upload.path, self.pending_path(dataset.id))
        logger.info("dataset.created dataset_id=%s status=processing bytes=%d", dataset.id, upload.size)
        return dataset

    def fail_pending(self, dataset_id: str, error: ServiceError, report: dict[str, Any] | None = None) -> bool:
        """Fail a processing dataset with `error` and remove its waiting upload. Return False if it was not processing."""
        with self.database.session() as session:
            changed = dataset_store.mark_failed(session, dataset_id, error=error_body(error), report=report or {})
        self.pending_path(dataset_id).unlink(missing_ok=True)
        logger.info("dataset.failed dataset_id=%s code=%s changed=%s", dataset_id, error.code, changed)
        return changed

    def _insert(
        self, request: DatasetRequest, upload: Upload, *, status: str, storage_dir: Path, report: dict[str, Any]
    ) -> Dataset | None:
        """Insert the row under the storage lock. Return None instead for a ready row whose directory is gone."""
        with self.database.session() as session:
            dataset_store.lock_storage(session, str(storage_dir))
            if status == DATASET_READY and load_report(storage_dir) is None:
                return None
            dataset_id = new_id("ds")
            dataset = dataset_store.insert_dataset(
                session,
                dataset_id=dataset_id,
                tenant_id=request.tenant_id,
                name=request.name or dataset_id,
                status=status,
                content_hash=upload.sha256,
                storage_dir=str(storage_dir),
                size_bytes=upload.size,
                report=report,
                ingest_options=self.options(request.display_names).to_dict(),
            )
            if request.idempotency_key is not None:
                idempotency.remember(
                    session,
                    scope=request.tenant_id,
                    key=request.idempotency_key,
                    endpoint=IDEMPOTENCY_ENDPOINT,
                    fingerprint=request.fingerprint(upload),
                    resource_id=dataset.id,
                )
            dataset_store.flush_new_rows(session)
        return dataset


def error_body(error: ServiceError) -> dict[str, Any]:
    """Return the error as stored on a failed dataset: the fields of the API's error shape."""
    body: dict[str, Any] = {"code": error.code, "message": error.message, "param": error.param}
    if error.details is not None:
        body["details"] = error.details
    return body
