"""Finishing a pending dataset in a worker: ingest its waiting upload, then mark it ready or failed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from core.datasets.creation import DatasetCreator
from core.datasets.storage import IngestOptions, ingest_into
from core.errors import ServiceError
from core.ingest import DatasetInvalidError
from core.store import datasets as dataset_store
from core.store.tables import DATASET_PROCESSING, Dataset

logger = logging.getLogger(__name__)

TIMEOUT_MESSAGE = "Ingest took longer than the worker's time limit; split the dataset into smaller archives."
INTERNAL_ERROR_MESSAGE = "Ingest failed with an unexpected error; the worker log has the details for dataset {dataset_id}."


@dataclass(frozen=True)
class PendingDataset:
    storage_dir: Path
    options: IngestOptions


def process_pending(
    creator: DatasetCreator, dataset_id: str, *, timeout_errors: tuple[type[BaseException], ...] = ()
) -> str:
    """Ingest the waiting upload of a processing dataset. Return "ready", "failed" or "skipped".

    Safe to run twice for one dataset (a redelivered task), because a dataset that is no
    longer processing is skipped and a second ingest of the same archive reuses the first
    one's directory. Expected ingest errors fail the dataset with their code and report, and
    `timeout_errors` (the task runner's time limit) with `ingest_timed_out`. Any other error
    fails it with `internal_error` and propagates.
    """
    pending = _load_pending(creator, dataset_id)
    if pending is None:
        creator.pending_path(dataset_id).unlink(missing_ok=True)
        return "skipped"

    archive_path = creator.pending_path(dataset_id)
    logger.info("dataset.ingest.start dataset_id=%s dir=%s", dataset_id, pending.storage_dir)
    try:
        report = ingest_into(archive_path, pending.storage_dir, pending.options)
    except DatasetInvalidError as error:
        creator.fail_pending(dataset_id, error, error.report)
        return "failed"
    except ServiceError as error:
        creator.fail_pending(dataset_id, error)
        return "failed"
    except FileNotFoundError:
        logger.error("dataset.ingest.upload_missing dataset_id=%s path=%s", dataset_id, archive_path)
        message = "The uploaded archive was lost before a worker could ingest it; upload the dataset again."
        creator.fail_pending(dataset_id, ServiceError("upload_missing", message, param="file"))
        return "failed"
    except timeout_errors:
        logger.error("dataset.ingest.timed_out dataset_id=%s", dataset_id)
        creator.fail_pending(dataset_id, ServiceError("ingest_timed_out", TIMEOUT_MESSAGE))
        return "failed"
    except Exception:
        logger.exception("dataset.ingest.failed dataset_id=%s code=internal_error", dataset_id)
        creator.fail_pending(dataset_id, ServiceError("internal_error", INTERNAL_ERROR_MESSAGE.format(dataset_id=dataset_id)))
        raise

    with creator.database.session() as session:
        changed = dataset_store.mark_ready(session, dataset_id, report=report)
    archive_path.unlink(missing_ok=True)
    logger.info("dataset.ingest.done dataset_id=%s changed=%s images=%s", dataset_id, changed, report.get("accepted"))
    return "ready"


def _load_pending(creator: DatasetCreator, dataset_id: str) -> PendingDataset | None:
    """Return where and how to ingest the dataset, or None if it is not processing."""
    with creator.database.session() as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None or dataset.status != DATASET_PROCESSING or not dataset.storage_dir or not dataset.ingest_options:
            logger.info("dataset.ingest.skip dataset_id=%s status=%s", dataset_id, dataset.status if dataset else "missing")
            return None
        return PendingDataset(storage_dir=Path(dataset.storage_dir), options=IngestOptions.from_dict(dataset.ingest_options))
