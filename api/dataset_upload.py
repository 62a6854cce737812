"""The steps of `POST /v1/datasets` after parsing: replay, ingest now, or queue for a worker.

Every function here blocks on the database, the disk or image decoding, so route handlers
call them in the thread pool.
"""

from __future__ import annotations

import logging

from api.dataset_form import DatasetForm
from api.dispatch import Dispatcher
from api.schemas.datasets import DatasetValidation
from core.datasets.creation import DatasetCreator, DatasetRequest, Upload
from core.errors import ServiceError
from core.ingest import DatasetInvalidError, validate_archive
from core.settings import Settings
from core.store.datasets import DuplicateRowError
from core.store.tables import DATASET_PROCESSING, Dataset

logger = logging.getLogger(__name__)


class ServiceUnavailableError(ServiceError):
    http_status = 503


def create_dataset(creator: DatasetCreator, dispatcher: Dispatcher, request: DatasetRequest, upload: Upload) -> Dataset:
    """Return the dataset for this upload: a replayed one, one ingested now, or a processing one.

    Uploads up to FLYP_INGEST_INLINE_MAX_BYTES, and archives already stored with the same
    options, are ingested within the request. Larger ones get a processing row and an
    ingest task.
    """
    previous = creator.find_replay(request, upload)
    if previous is not None:
        logger.info("dataset.replayed dataset_id=%s", previous.id)
        return previous
    try:
        if upload.size <= creator.settings.ingest_inline_max_bytes or creator.is_stored(request, upload):
            return creator.create_ready(request, upload)
        dataset = creator.create_pending(request, upload)
    except DuplicateRowError:
        # A concurrent request with the same Idempotency-Key committed first; return its dataset.
        replayed = creator.find_replay(request, upload)
        if replayed is None:
            raise
        logger.info("dataset.replayed dataset_id=%s reason=concurrent_twin", replayed.id)
        return replayed
    _dispatch(creator, dispatcher, dataset)
    return dataset


def status_code_for(dataset: Dataset) -> int:
    """202 while a worker still processes the dataset, else 201, for first requests and replays alike."""
    return 202 if dataset.status == DATASET_PROCESSING else 201


def validate_upload(settings: Settings, form: DatasetForm) -> DatasetValidation:
    """Run every ingest check on the upload and store nothing.

    Problems that would make the upload fail with dataset_invalid come back in `errors`;
    archives that cannot be read at all still raise their 4xx error.
    """
    options = DatasetCreator.options_for(settings, form.display_names)
    try:
        result = validate_archive(
            form.upload.path,
            limits=options.limits,
            val_fraction=options.val_fraction,
            seed=options.seed,
            display_names=options.display_names or None,
            work_dir=settings.uploads_dir,
        )
    except DatasetInvalidError as error:
        return _validation(error.report, problems=list(error.details))
    return _validation(result.report, problems=[])


def _validation(report: dict, *, problems: list[dict]) -> DatasetValidation:
    return DatasetValidation(
        valid=not problems,
        errors=problems,
        classes=report.get("classes", []),
        num_images=int(report.get("accepted", 0)),
        report=report,
    )


def _dispatch(creator: DatasetCreator, dispatcher: Dispatcher, dataset: Dataset) -> None:
    try:
        dispatcher.send_dataset(dataset.id)
    except Exception as error:  # noqa: BLE001 - any broker failure leaves the dataset without a worker
        logger.exception("dataset.dispatch_failed dataset_id=%s", dataset.id)
        failure = ServiceUnavailableError(
            "broker_unavailable",
            f"The dataset could not be queued for processing ({type(error).__name__}); upload it again later.",
            param="file",
        )
        creator.fail_pending(dataset.id, failure)
        raise failure from None
