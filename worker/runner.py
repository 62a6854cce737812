"""Run one training job: claim it, train with core, record the outcome.

The job row is the source of truth. Every write is conditional on this worker still owning
the job, so a cancel, a reaper or a second worker always wins over a late write from here.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from core.errors import ServiceError
from core.store import jobs as job_store
from core.store.tables import Dataset, Job, Model
from worker.context import get_database, new_worker_id, settings

logger = logging.getLogger(__name__)

# Progress is written at most this often; the lease is renewed with every write.
PROGRESS_INTERVAL_SECONDS = 1.0


class JobCallbacks:
    """Training callbacks that store progress and events on the job row."""

    def __init__(self, job_id: str, worker_id: str) -> None:
        self.job_id = job_id
        self.worker_id = worker_id
        self._last_write = 0.0

    def on_progress(self, progress: Any) -> None:
        from core.training import TrainingStopped

        now = time.monotonic()
        last_step = progress.step >= progress.total_steps
        if now - self._last_write < PROGRESS_INTERVAL_SECONDS and not last_step:
            return
        self._last_write = now
        with get_database().session() as session:
            owned = job_store.renew_lease(
                session,
                self.job_id,
                worker_id=self.worker_id,
                lease_seconds=settings().lease_seconds,
                progress=_progress_dict(progress),
            )
        if not owned:
            raise TrainingStopped(f"job {self.job_id} is no longer running under worker {self.worker_id}")

    def on_event(self, level: str, message: str, data: dict[str, Any]) -> None:
        with get_database().session() as session:
            job_store.add_event(session, self.job_id, level, message, data)


def _progress_dict(progress: Any) -> dict[str, Any]:
    return {
        "epoch": progress.epoch,
        "epochs": progress.epochs,
        "step": progress.step,
        "total_steps": progress.total_steps,
        "loss": progress.loss,
        "learning_rate": progress.learning_rate,
        "images_per_second": progress.images_per_second,
        "eta_seconds": progress.eta_seconds,
    }


class LeaseKeeper:
    """Renew the job's lease from a background thread while a long step or evaluation runs."""

    def __init__(self, job_id: str, worker_id: str, lease_seconds: int) -> None:
        self.job_id = job_id
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job_id}", daemon=True)

    def __enter__(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        interval = max(1.0, self.lease_seconds / 3)
        while not self._stop.wait(interval):
            try:
                with get_database().session() as session:
                    owned = job_store.renew_lease(
                        session, self.job_id, worker_id=self.worker_id, lease_seconds=self.lease_seconds
                    )
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the lease thread
                logger.exception("job.lease.renew_failed job_id=%s worker_id=%s", self.job_id, self.worker_id)
                continue
            if not owned:
                logger.info("job.lease.lost job_id=%s worker_id=%s", self.job_id, self.worker_id)
                return


def run_job(job_id: str) -> None:
    """Claim `job_id` and train it to a terminal state; return quietly if it cannot be claimed."""
    config = settings()
    worker_id = new_worker_id()
    with get_database().session() as session:
        claimed = job_store.claim_job(session, job_id, worker_id=worker_id, lease_seconds=config.lease_seconds)
    if not claimed:
        logger.info("job.skip job_id=%s reason=not_claimable worker_id=%s", job_id, worker_id)
        return

    logger.info("job.claimed job_id=%s worker_id=%s", job_id, worker_id)
    with LeaseKeeper(job_id, worker_id, config.lease_seconds):
        _train_claimed(job_id, worker_id)


def _train_claimed(job_id: str, worker_id: str) -> None:
    from core.training import ModelSpec, TrainingStopped, train

    config = settings()
    with get_database().session() as session:
        job = session.get(Job, job_id)
        dataset = session.get(Dataset, job.dataset_id)
        model = session.get(Model, job.model_id)
        dataset_dir, model_dir = Path(dataset.storage_dir), Path(model.storage_dir)
        model_spec, method, hyperparameters = ModelSpec(**job.model_spec), job.method, dict(job.hyperparameters)

    work_dir = config.jobs_dir / job_id
    try:
        result = train(
            dataset_dir=dataset_dir,
            model_spec=model_spec,
            method=method,
            hyperparameters=hyperparameters,
            model_dir=model_dir,
            work_dir=work_dir,
            cache_dir=config.cache_dir,
            device=config.device,
            max_image_pixels=config.max_image_pixels,
            callbacks=JobCallbacks(job_id, worker_id),
        )
    except TrainingStopped:
        logger.info("job.stopped job_id=%s worker_id=%s", job_id, worker_id)
        _remove(model_dir, work_dir)
        return
    except BaseException as error:
        _remove(model_dir, work_dir)
        failure = _expected_failure(error)
        if failure is None:
            logger.exception("job.failed job_id=%s code=internal_error worker_id=%s", job_id, worker_id)
            message = f"Training failed with an unexpected error; the worker log has the details for job {job_id}."
            _fail(job_id, worker_id, "internal_error", message)
            raise
        logger.warning("job.failed job_id=%s code=%s message=%s", job_id, *failure)
        _fail(job_id, worker_id, *failure)
        return

    with get_database().session() as session:
        succeeded = job_store.succeed_job(session, job_id, worker_id=worker_id, metrics=result.metrics, classes=result.classes)
    if not succeeded:
        logger.info("job.discarded job_id=%s reason=no_longer_owned worker_id=%s", job_id, worker_id)
        _remove(model_dir, work_dir)
        return
    shutil.rmtree(work_dir, ignore_errors=True)
    logger.info("job.succeeded job_id=%s worker_id=%s model_dir=%s", job_id, worker_id, model_dir)


def _expected_failure(error: BaseException) -> tuple[str, str] | None:
    """Return (code, message) for failures a user can act on, or None for unexpected ones."""
    if isinstance(error, ServiceError):
        return error.code, error.message
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return "out_of_memory", "Training ran out of memory; use a smaller batch_size or a smaller model."
    return None


def _fail(job_id: str, worker_id: str, code: str, message: str) -> None:
    with get_database().session() as session:
        if not job_store.fail_job(session, job_id, code=code, message=message, worker_id=worker_id):
            logger.info("job.fail_skipped job_id=%s reason=no_longer_owned", job_id)


def _remove(*paths: Path) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
