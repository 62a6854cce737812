from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.deps import DispatcherDep, SessionDep, SettingsDep, TenantDep
from api.limits import TOO_MANY_REQUESTS, ActiveJobsLimit
from api.routes.datasets import require_dataset
from api.schemas.common import ERROR_RESPONSES, ListPublic
from api.schemas.jobs import EventPublic, JobCreate, JobPublic
from core.errors import ConflictError, NotFoundError
from core.ids import new_id
from core.store import jobs as job_store
from core.store.queries import get_owned, list_page
from core.store.tables import CANCELLED, SUCCEEDED, Job, JobEvent
from core.training import resolve_hyperparameters

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=ERROR_RESPONSES)


def to_public(job: Job) -> JobPublic:
    return JobPublic(
        id=job.id,
        dataset_id=job.dataset_id,
        method=job.method,
        status=job.status,
        model=job.model_spec,
        hyperparameters=job.hyperparameters,
        progress=job.progress,
        metrics=job.metrics,
        error=job.error,
        model_id=job.model_id if job.status == SUCCEEDED else None,
        attempt=job.attempt,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


@router.post("", status_code=201, response_model=JobPublic, dependencies=[ActiveJobsLimit], responses=TOO_MANY_REQUESTS)
def create_job(
    job_in: JobCreate,
    session: SessionDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    tenant_id: TenantDep,
) -> JobPublic:
    """Queue a finetuning job on a ready dataset."""
    dataset = require_dataset(session, job_in.dataset_id, tenant_id, param="dataset_id")
    if dataset.status != "ready":
        raise ConflictError(
            "dataset_not_ready", f"Dataset {dataset.id} is {dataset.status}; jobs need a ready dataset.", param="dataset_id"
        )
    num_train_images = sum(entry["counts"].get("train", 0) for entry in dataset.classes)
    hyperparameters, warnings = resolve_hyperparameters(
        job_in.hyperparameters, method=job_in.method, num_train_images=num_train_images, num_classes=len(dataset.classes)
    )

    job_id, model_id = new_id("job"), new_id("model")
    job = job_store.create_job(
        session,
        job_id=job_id,
        tenant_id=tenant_id,
        dataset_id=dataset.id,
        method=job_in.method,
        model_spec=job_in.model.model_dump(exclude_none=True),
        hyperparameters=hyperparameters,
        warnings=warnings,
        model_id=model_id,
        model_dir=str((settings.models_dir / model_id).resolve()),
    )
    session.commit()
    logger.info("job.created job_id=%s dataset_id=%s method=%s", job_id, dataset.id, job_in.method)
    dispatcher.send_job(job_id)
    return to_public(job)


@router.get("", response_model=ListPublic[JobPublic])
def list_jobs(
    session: SessionDep,
    tenant_id: TenantDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> ListPublic[JobPublic]:
    rows, has_more = list_page(session, Job, tenant_id=tenant_id, limit=limit, after=after)
    return ListPublic[JobPublic](data=[to_public(row) for row in rows], has_more=has_more)


@router.get("/{job_id}", response_model=JobPublic)
def get_job(job_id: str, session: SessionDep, tenant_id: TenantDep) -> JobPublic:
    return to_public(require_job(session, job_id, tenant_id))


@router.post("/{job_id}/cancel", response_model=JobPublic)
def cancel_job(job_id: str, session: SessionDep, tenant_id: TenantDep) -> JobPublic:
    """Cancel a queued or running job; a running job stops within a few training steps."""
    job = require_job(session, job_id, tenant_id)
    previous = job.status
    status = job_store.cancel_job(session, job_id)
    session.commit()
    if status != CANCELLED:
        raise ConflictError("job_not_cancellable", f"Job {job_id} has already ended with status {status}.", param="job_id")
    logger.info("job.cancelled job_id=%s previous_status=%s", job_id, previous)
    session.refresh(job)
    return to_public(job)


@router.get("/{job_id}/events", response_model=ListPublic[EventPublic])
def list_events(
    job_id: str,
    session: SessionDep,
    tenant_id: TenantDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[int | None, Query(ge=0, description="Return events with an id above this one.")] = None,
) -> ListPublic[EventPublic]:
    """List a job's events oldest first; pass the last id seen as `after` for the next page."""
    require_job(session, job_id, tenant_id)
    query = select(JobEvent).where(JobEvent.job_id == job_id)
    if after is not None:
        query = query.where(JobEvent.id > after)
    rows = list(session.scalars(query.order_by(JobEvent.id).limit(limit + 1)))
    events = [EventPublic.model_validate(row, from_attributes=True) for row in rows[:limit]]
    return ListPublic[EventPublic](data=events, has_more=len(rows) > limit)


def require_job(session: SessionDep, job_id: str, tenant_id: str | None) -> Job:
    job = get_owned(session, Job, job_id, tenant_id)
    if job is None:
        raise NotFoundError("job_not_found", f"No job with id {job_id!r} exists.", param="job_id")
    return job
