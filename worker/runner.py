"""Run one training job: claim it, train with core, record the outcome.

The job row is the source of truth. Every write is conditional on this worker still owning
the job, so a cancel, a reaper or a second worker always wins over a late write from here.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import TrainingError
from core.manifest import MANIFEST_NAME
from core.store import jobs as job_store
from core.store.tables import CANCELLED, FAILED, Dataset, Job, Model
from worker.context import get_database, new_worker_id, settings
from worker.failures import INTERNAL_ERROR, describe_failure, internal_error_message
from worker.ownership import JobCallbacks, LeaseKeeper, Ownership

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingPlan:
    """The job, dataset and paths of one attempt, read from the database once after the claim."""

    job_id: str
    attempt: int
    dataset_id: str
    dataset_dir: Path | None
    model_dir: Path
    work_dir: Path
    model_spec: dict[str, Any]
    method: str
    hyperparameters: dict[str, Any]
    extra_eval_dirs: dict[str, Path | None]  # by dataset id; None where the dataset has no storage


def run_job(job_id: str) -> None:
    """Claim `job_id` and train it to a terminal state; return quietly if it cannot be claimed."""
    config = settings()
    worker_id = new_worker_id()
    with get_database().session() as session:
        claimed = job_store.claim_job(
            session, job_id, worker_id=worker_id, lease_seconds=config.lease_seconds, max_attempts=config.max_attempts
        )
    if not claimed:
        logger.info("job.skip job_id=%s reason=not_claimable worker_id=%s", job_id, worker_id)
        return

    ownership = Ownership(job_id, worker_id, config.lease_seconds)
    with LeaseKeeper(ownership):
        plan = _load_plan(job_id)
        logger.info("job.claimed job_id=%s worker_id=%s attempt=%d", job_id, worker_id, plan.attempt)
        _run_claimed(plan, ownership)


def _load_plan(job_id: str) -> TrainingPlan:
    with get_database().session() as session:
        job = session.get(Job, job_id)
        dataset = session.get(Dataset, job.dataset_id)
        model = session.get(Model, job.model_id)
        return TrainingPlan(
            job_id=job_id,
            attempt=job.attempt,
            dataset_id=dataset.id,
            dataset_dir=Path(dataset.storage_dir) if dataset.storage_dir else None,
            model_dir=Path(model.storage_dir),
            work_dir=settings().jobs_dir / job_id,
            model_spec=dict(job.model_spec),
            method=job.method,
            hyperparameters=dict(job.hyperparameters),
            extra_eval_dirs=_eval_dataset_dirs(session, job.eval_dataset_ids or []),
        )


def _eval_dataset_dirs(session: Any, dataset_ids: list[str]) -> dict[str, Path | None]:
    """Return the storage directory of each extra evaluation dataset by id, or None if it has none."""
    directories: dict[str, Path | None] = {}
    for dataset_id in dataset_ids:
        dataset = session.get(Dataset, dataset_id)
        directories[dataset_id] = Path(dataset.storage_dir) if dataset is not None and dataset.storage_dir else None
    return directories


def _run_claimed(plan: TrainingPlan, ownership: Ownership) -> None:
    from core.training import TrainingStopped

    try:
        result = _train(plan, ownership)
    except TrainingStopped:
        logger.info("job.stopped job_id=%s worker_id=%s", plan.job_id, ownership.worker_id)
        _remove_files_if_ended(plan)
        return
    except (SystemExit, KeyboardInterrupt):
        # Raised inside the task when its process is asked to exit: let the reaper requeue the
        # job at its next scan instead of after the whole lease.
        logger.warning("job.interrupted job_id=%s worker_id=%s", plan.job_id, ownership.worker_id)
        _expire_lease(plan.job_id, ownership.worker_id)
        raise
    except BaseException as error:
        _record_failure(plan, ownership, error)
        return

    _record_success(plan, ownership, result)


def _train(plan: TrainingPlan, ownership: Ownership) -> Any:
    from core.training import ModelSpec, train

    config = settings()
    _check_dataset_files(plan)
    _check_eval_dataset_files(plan)
    _configure_torch(config.torch_threads)
    if plan.model_dir.exists():
        # An earlier attempt saved the model but died before recording its success.
        # NOTE: a worker that lost its lease while saving can still rename its model into
        # place after this; this attempt's save then fails with internal_error.
        logger.warning("job.stale_model_removed job_id=%s model_dir=%s", plan.job_id, plan.model_dir)
        shutil.rmtree(plan.model_dir, ignore_errors=True)
    return train(
        dataset_dir=plan.dataset_dir,
        model_spec=ModelSpec(**plan.model_spec),
        method=plan.method,
        hyperparameters=plan.hyperparameters,
        model_dir=plan.model_dir,
        work_dir=plan.work_dir,
        cache_dir=config.cache_dir,
        device=config.device,
        max_image_pixels=config.max_image_pixels,
        callbacks=JobCallbacks(ownership),
        extra_eval_dirs={dataset_id: directory for dataset_id, directory in plan.extra_eval_dirs.items() if directory is not None},
    )


def _check_dataset_files(plan: TrainingPlan) -> None:
    manifest = plan.dataset_dir / MANIFEST_NAME if plan.dataset_dir else None
    if manifest is None or not manifest.is_file():
        raise TrainingError(
            "dataset_files_missing",
            f"The files of dataset {plan.dataset_id} are missing on the worker ({manifest or 'no storage directory'} does not exist): "
            "they were deleted, or FLYP_DATA_DIR is not shared between the API and this worker. Upload the dataset again and start a new job.",
        )


def _check_eval_dataset_files(plan: TrainingPlan) -> None:
    # The extra evaluation datasets are not foreign keys of the job, so they can be deleted after it was created.
    for dataset_id, directory in plan.extra_eval_dirs.items():
        if directory is None or not (directory / MANIFEST_NAME).is_file():
            raise TrainingError(
                "dataset_files_missing",
                f"The files of evaluation dataset {dataset_id} are missing on the worker: it was deleted after the job was created, "
                "or FLYP_DATA_DIR is not shared between the API and this worker. Start a new job without it or upload it again.",
            )


def _configure_torch(threads: int) -> None:
    import torch

    if threads > 0:
        torch.set_num_threads(threads)


def _record_failure(plan: TrainingPlan, ownership: Ownership, error: BaseException) -> None:
    failure = describe_failure(error, time_limit=settings().job_time_limit)
    if failure is None:
        logger.exception("job.failed job_id=%s code=%s worker_id=%s", plan.job_id, INTERNAL_ERROR, ownership.worker_id)
        _fail(plan, ownership, INTERNAL_ERROR, internal_error_message(plan.job_id))
        raise error
    code, message = failure
    logger.warning("job.failed job_id=%s code=%s worker_id=%s message=%s", plan.job_id, code, ownership.worker_id, message, exc_info=error)
    _fail(plan, ownership, code, message)


def _fail(plan: TrainingPlan, ownership: Ownership, code: str, message: str) -> None:
    ownership.release()
    with get_database().session() as session:
        failed = job_store.fail_job(session, plan.job_id, code=code, message=message, worker_id=ownership.worker_id)
    if not failed:
        logger.info("job.fail_skipped job_id=%s reason=no_longer_owned worker_id=%s", plan.job_id, ownership.worker_id)
    _remove_files_if_ended(plan)


def _record_success(plan: TrainingPlan, ownership: Ownership, result: Any) -> None:
    ownership.release()
    with get_database().session() as session:
        succeeded = job_store.succeed_job(session, plan.job_id, worker_id=ownership.worker_id, metrics=result.metrics, classes=result.classes)
    if not succeeded:
        logger.info("job.discarded job_id=%s reason=no_longer_owned worker_id=%s", plan.job_id, ownership.worker_id)
        _remove_files_if_ended(plan)
        return
    shutil.rmtree(plan.work_dir, ignore_errors=True)
    logger.info("job.succeeded job_id=%s worker_id=%s attempt=%d model_dir=%s", plan.job_id, ownership.worker_id, plan.attempt, plan.model_dir)


def _remove_files_if_ended(plan: TrainingPlan) -> None:
    """Remove the job's partial files if it ended failed or cancelled.

    A job that was requeued or taken over keeps its files: the next attempt resumes from the
    epoch checkpoints in the work directory.
    """
    with get_database().session() as session:
        status = job_store.job_status(session, plan.job_id)
    if status not in (FAILED, CANCELLED):
        logger.info("job.files_kept job_id=%s status=%s", plan.job_id, status)
        return
    for path in (plan.model_dir, plan.work_dir):
        shutil.rmtree(path, ignore_errors=True)
    logger.info("job.files_removed job_id=%s status=%s", plan.job_id, status)


def _expire_lease(job_id: str, worker_id: str) -> None:
    try:
        with get_database().session() as session:
            job_store.expire_lease(session, job_id, worker_id=worker_id)
    except Exception:  # noqa: BLE001 - shutting down anyway; the lease then expires on its own
        logger.exception("job.expire_lease_failed job_id=%s worker_id=%s", job_id, worker_id)
