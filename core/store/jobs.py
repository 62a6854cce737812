"""Job state transitions. Every change of status is a conditional UPDATE, so two workers or a
worker and a cancel request can race without a terminal state ever changing."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from core.store.tables import (
    ACTIVE_STATES,
    CANCELLED,
    FAILED,
    MODEL_FAILED,
    MODEL_PENDING,
    MODEL_READY,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    Job,
    JobEvent,
    Model,
)
from core.store.types import utcnow

logger = logging.getLogger(__name__)


def add_event(session: Session, job_id: str, level: str, message: str, data: dict[str, Any] | None = None) -> JobEvent:
    event = JobEvent(job_id=job_id, level=level, message=message, data=data or {}, created_at=utcnow())
    session.add(event)
    return event


def create_job(
    session: Session,
    *,
    job_id: str,
    tenant_id: str | None,
    dataset_id: str,
    method: str,
    model_spec: dict[str, Any],
    hyperparameters: dict[str, Any],
    warnings: list[str],
    model_id: str,
    model_dir: str,
    redispatch_after: int,
    eval_dataset_ids: list[str] | None = None,
) -> Job:
    """Insert a queued job and the pending model row it will produce.

    The caller sends the job's message after the commit. If no worker has claimed the job
    `redispatch_after` seconds later, the reaper sends the message again.
    """
    now = utcnow()
    job = Job(
        id=job_id,
        tenant_id=tenant_id,
        dataset_id=dataset_id,
        method=method,
        status=QUEUED,
        model_spec=model_spec,
        hyperparameters=hyperparameters,
        eval_dataset_ids=list(eval_dataset_ids or []),
        model_id=model_id,
        created_at=now,
        queued_at=now,
        dispatch_count=1,
        redispatch_at=now + timedelta(seconds=redispatch_after),
    )
    session.add(job)
    session.flush()
    session.add(
        Model(
            id=model_id,
            tenant_id=tenant_id,
            job_id=job_id,
            dataset_id=dataset_id,
            status=MODEL_PENDING,
            method=method,
            architecture=model_spec["architecture"],
            pretrained=model_spec.get("pretrained") or model_spec.get("checkpoint"),
            classes=[],
            metrics={},
            storage_dir=model_dir,
            created_at=utcnow(),
        )
    )
    add_event(session, job_id, "info", "Job created and queued.", {"status": QUEUED})
    for warning in warnings:
        add_event(session, job_id, "warning", warning)
    return job


def claim_job(session: Session, job_id: str, *, worker_id: str, lease_seconds: int, max_attempts: int) -> bool:
    """Take ownership of a queued job, or of a running one whose lease has expired.

    Returns False when another worker owns the job or it has ended, so a duplicated or
    redelivered message never trains twice. A running job with an expired lease that has
    used all `max_attempts` is left to the reaper, which fails it.
    """
    now = utcnow()
    claimable = or_(
        Job.status == QUEUED,
        and_(Job.status == RUNNING, Job.lease_expires_at < now, Job.attempt < max_attempts),
    )
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, claimable)
        .values(
            status=RUNNING,
            worker_id=worker_id,
            attempt=Job.attempt + 1,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            redispatch_at=None,
            started_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    attempt = session.scalar(select(Job.attempt).where(Job.id == job_id))
    add_event(session, job_id, "info", "Job started.", {"status": RUNNING, "worker_id": worker_id, "attempt": attempt})
    return True


def renew_lease(session: Session, job_id: str, *, worker_id: str, lease_seconds: int, progress: dict[str, Any] | None = None) -> bool:
    """Extend the lease (and store progress) while the job still runs under this worker.

    Returns False when the job was cancelled, failed by the reaper or taken over by another
    worker; the caller must then stop training.
    """
    now = utcnow()
    values: dict[str, Any] = {"lease_expires_at": now + timedelta(seconds=lease_seconds), "updated_at": now}
    if progress is not None:
        values["progress"] = progress
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == RUNNING, Job.worker_id == worker_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def add_worker_event(
    session: Session, job_id: str, *, worker_id: str, lease_seconds: int, level: str, message: str, data: dict[str, Any]
) -> bool:
    """Record an event from the worker that owns the job, and renew its lease.

    Returns False, and records nothing, when the job has ended or moved to another worker, so
    a cancelled job shows no training events after "Job cancelled.". The lease update takes
    the row lock first, so a concurrent cancel commits either before this check or after the
    event.
    """
    if not renew_lease(session, job_id, worker_id=worker_id, lease_seconds=lease_seconds):
        return False
    add_event(session, job_id, level, message, data)
    return True


def mark_unsent(session: Session, job_id: str, *, reason: str, announce: bool) -> None:
    """Make the reaper send a queued job's message on its next scan, because sending it failed.

    With `announce`, a warning event explains to the user why the job waits.
    """
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == QUEUED)
        .values(redispatch_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1 and announce:
        add_event(
            session, job_id, "warning", f"The job's message could not be sent to the queue ({reason}); it is sent again once the broker is reachable.",
            {"event": "dispatch_failed"},
        )


def queue_position(session: Session, job: Job) -> int | None:
    """Return the 1-based position of a queued job among all queued jobs, oldest first; None otherwise.

    Workers take messages in the order they were sent, so the position counts the jobs that
    entered the queue earlier. Jobs of every tenant count, because they share the workers.
    """
    if job.status != QUEUED or job.queued_at is None:
        return None
    ahead = session.scalar(
        select(func.count())
        .select_from(Job)
        .where(
            Job.status == QUEUED,
            or_(Job.queued_at < job.queued_at, and_(Job.queued_at == job.queued_at, Job.id < job.id)),
        )
    )
    return int(ahead or 0) + 1


def _finish(session: Session, job_id: str, worker_id: str | None, status: str, values: dict[str, Any]) -> bool:
    """Move a job from a non-terminal state to `status`; with `worker_id`, only if that worker owns it."""
    now = utcnow()
    conditions = [Job.id == job_id, Job.status.in_(ACTIVE_STATES)]
    if worker_id is not None:
        conditions += [Job.status == RUNNING, Job.worker_id == worker_id]
    result = session.execute(
        update(Job)
        .where(*conditions)
        .values(status=status, finished_at=now, updated_at=now, lease_expires_at=None, redispatch_at=None, **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def succeed_job(session: Session, job_id: str, *, worker_id: str, metrics: dict[str, Any], classes: list[str]) -> bool:
    """End the job `succeeded` and make its model ready, in one transaction."""
    if not _finish(session, job_id, worker_id, SUCCEEDED, {"metrics": metrics}):
        return False
    model_id = session.scalar(select(Job.model_id).where(Job.id == job_id))
    session.execute(
        update(Model)
        .where(Model.id == model_id)
        .values(status=MODEL_READY, metrics=metrics, classes=classes)
        .execution_options(synchronize_session=False)
    )
    add_event(session, job_id, "info", "Job succeeded.", {"status": SUCCEEDED, "model_id": model_id})
    return True


def mark_model_failed(session: Session, job_id: str) -> None:
    session.execute(
        update(Model)
        .where(Model.job_id == job_id, Model.status == MODEL_PENDING)
        .values(status=MODEL_FAILED)
        .execution_options(synchronize_session=False)
    )


def fail_job(session: Session, job_id: str, *, code: str, message: str, worker_id: str | None = None, metrics: dict[str, Any] | None = None) -> bool:
    values: dict[str, Any] = {"error": {"code": code, "message": message}}
    if metrics is not None:
        values["metrics"] = metrics
    if not _finish(session, job_id, worker_id, FAILED, values):
        return False
    mark_model_failed(session, job_id)
    add_event(session, job_id, "error", f"Job failed: {message}", {"status": FAILED, "code": code})
    return True


def cancel_job(session: Session, job_id: str) -> bool:
    """End a queued or running job `cancelled`; return False if it had already ended.

    A running job is marked cancelled at once: its worker finds that on its next progress
    write, stops within a few steps and removes its partial files. A job that had already
    ended keeps its terminal status.
    """
    previous = job_status(session, job_id)
    if previous not in ACTIVE_STATES or not _finish(session, job_id, None, CANCELLED, {}):
        return False
    mark_model_failed(session, job_id)
    add_event(session, job_id, "info", "Job cancelled.", {"status": CANCELLED, "previous_status": previous})
    return True


def job_status(session: Session, job_id: str) -> str | None:
    return session.scalar(select(Job.status).where(Job.id == job_id))


def expire_lease(session: Session, job_id: str, *, worker_id: str) -> bool:
    """End this worker's lease now, so the reaper requeues the job at its next scan instead of after the lease."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == RUNNING, Job.worker_id == worker_id)
        .values(lease_expires_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
