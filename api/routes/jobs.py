from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.deps import DispatcherDep, SessionDep, SettingsDep, TenantDep
from api.dispatch import Dispatcher
from api.idempotency import REPLAYED_HEADER, IdempotencyKeyDep
from api.limits import TOO_MANY_REQUESTS, ActiveJobsLimit
from api.routes.datasets import require_dataset
from api.schemas.common import ERROR_RESPONSES, ListPublic
from api.schemas.jobs import JobCreate, JobPublic
from core.errors import ConflictError, InvalidRequestError, NotFoundError
from core.ids import new_id
from core.settings import Settings
from core.store import idempotency
from core.store import jobs as job_store
from core.store.queries import get_owned, list_page
from core.store.tables import MODEL_DELETING, SUCCEEDED, Job, Model
from core.training import resolve_hyperparameters
from core.training.artifacts import REPORT_FILE

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=ERROR_RESPONSES)

IDEMPOTENCY_ENDPOINT = "POST /v1/jobs"


def to_public(job: Job, *, queue_position: int | None = None) -> JobPublic:
    return JobPublic(
        id=job.id,
        dataset_id=job.dataset_id,
        method=job.method,
        status=job.status,
        model=job.model_spec,
        hyperparameters=job.hyperparameters,
        eval_dataset_ids=job.eval_dataset_ids or [],
        queue_position=queue_position,
        progress=job.progress,
        metrics=job.metrics,
        error=job.error,
        model_id=job.model_id if job.status == SUCCEEDED else None,
        attempt=job.attempt,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def to_public_with_position(session: Session, job: Job) -> JobPublic:
    return to_public(job, queue_position=job_store.queue_position(session, job))


@router.post("", status_code=201, response_model=JobPublic, dependencies=[ActiveJobsLimit], responses=TOO_MANY_REQUESTS)
def create_job(
    job_in: JobCreate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    tenant_id: TenantDep,
    idempotency_key: IdempotencyKeyDep,
) -> JobPublic:
    """Queue a finetuning job on a ready dataset; with an Idempotency-Key, a retry returns the first job."""
    fingerprint = idempotency.request_fingerprint(job_in.model_dump(mode="json"))
    if idempotency_key is not None:
        previous = idempotency.find_previous(
            session, scope=tenant_id, key=idempotency_key, endpoint=IDEMPOTENCY_ENDPOINT, fingerprint=fingerprint
        )
        if previous is not None:
            return _replay(session, previous, response)

    job = _insert_job(session, settings, job_in, tenant_id)
    if idempotency_key is not None:
        idempotency.remember(
            session, scope=tenant_id, key=idempotency_key, endpoint=IDEMPOTENCY_ENDPOINT, fingerprint=fingerprint, resource_id=job.id
        )
    try:
        session.commit()
    except IntegrityError:
        if idempotency_key is None:
            raise
        # A concurrent request with the same key committed first: return its job.
        session.rollback()
        previous = idempotency.find_previous(
            session, scope=tenant_id, key=idempotency_key, endpoint=IDEMPOTENCY_ENDPOINT, fingerprint=fingerprint
        )
        if previous is None:
            raise
        logger.info("job.idempotent_race key_owner_job_id=%s", previous)
        return _replay(session, previous, response)

    logger.info("job.created job_id=%s dataset_id=%s method=%s", job.id, job.dataset_id, job.method)
    _dispatch(session, dispatcher, job.id)
    return to_public_with_position(session, job)


def _insert_job(session: Session, settings: Settings, job_in: JobCreate, tenant_id: str | None) -> Job:
    dataset = require_dataset(session, job_in.dataset_id, tenant_id, param="dataset_id")
    if dataset.status != "ready":
        raise ConflictError(
            "dataset_not_ready", f"Dataset {dataset.id} is {dataset.status}; jobs need a ready dataset.", param="dataset_id"
        )
    num_train_images = sum(entry["counts"].get("train", 0) for entry in dataset.classes)
    hyperparameters, warnings = resolve_hyperparameters(
        job_in.hyperparameters, method=job_in.method, num_train_images=num_train_images, num_classes=len(dataset.classes)
    )

    class_names = {entry["name"] for entry in dataset.classes}
    eval_dataset_ids = _require_eval_datasets(session, job_in.eval_dataset_ids, tenant_id, class_names)

    model_id = new_id("model")
    return job_store.create_job(
        session,
        job_id=new_id("job"),
        tenant_id=tenant_id,
        dataset_id=dataset.id,
        method=job_in.method,
        model_spec=job_in.model.model_dump(exclude_none=True),
        hyperparameters=hyperparameters,
        warnings=warnings,
        model_id=model_id,
        model_dir=str((settings.models_dir / model_id).resolve()),
        redispatch_after=settings.redispatch_after,
        eval_dataset_ids=eval_dataset_ids,
    )


def _require_eval_datasets(session: Session, dataset_ids: list[str], tenant_id: str | None, class_names: set[str]) -> list[str]:
    """Return the ids without repeats, after checking that each is a ready dataset of the tenant.

    Each must also share a class name with the training dataset (`class_names`), because the
    worker evaluates only the images of shared classes and fails the job when there are none.
    """
    unique_ids = list(dict.fromkeys(dataset_ids))
    # Errors name the first position in the request's list, not the position among unique ids.
    for dataset_id in unique_ids:
        index = dataset_ids.index(dataset_id)
        dataset = require_dataset(session, dataset_id, tenant_id, param=f"eval_dataset_ids[{index}]")
        if dataset.status != "ready":
            raise ConflictError(
                "dataset_not_ready", f"Dataset {dataset.id} is {dataset.status}; evaluation needs a ready dataset.", param=f"eval_dataset_ids[{index}]"
            )
        if not class_names & {entry["name"] for entry in dataset.classes}:
            raise InvalidRequestError(
                "eval_dataset_no_shared_classes",
                f"Dataset {dataset.id} has no class named like a class of the training dataset ({', '.join(sorted(class_names))}); "
                "evaluation matches images to classes by folder name.",
                param=f"eval_dataset_ids[{index}]",
            )
    return unique_ids


def _dispatch(session: Session, dispatcher: Dispatcher, job_id: str) -> None:
    """Send the job's message; if the broker is down, leave the job queued for the reaper to send."""
    try:
        dispatcher.send_job(job_id)
    except Exception as error:  # noqa: BLE001 - the job is stored either way; the reaper sends it later
        logger.warning("job.dispatch_failed job_id=%s sender=api error=%r", job_id, error)
        job_store.mark_unsent(session, job_id, reason=f"{type(error).__name__}: {error}", announce=True)
        session.commit()


def _replay(session: Session, job_id: str, response: Response) -> JobPublic:
    response.headers[REPLAYED_HEADER] = "true"
    logger.info("job.idempotent_replay job_id=%s", job_id)
    return to_public_with_position(session, session.get(Job, job_id))


@router.get("", response_model=ListPublic[JobPublic])
def list_jobs(
    session: SessionDep,
    tenant_id: TenantDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> ListPublic[JobPublic]:
    rows, has_more = list_page(session, Job, tenant_id=tenant_id, limit=limit, after=after)
    return ListPublic[JobPublic](data=[to_public_with_position(session, row) for row in rows], has_more=has_more)


@router.get("/{job_id}", response_model=JobPublic)
def get_job(job_id: str, session: SessionDep, tenant_id: TenantDep) -> JobPublic:
    return to_public_with_position(session, require_job(session, job_id, tenant_id))


@router.post("/{job_id}/cancel", response_model=JobPublic)
def cancel_job(job_id: str, session: SessionDep, tenant_id: TenantDep) -> JobPublic:
    """Cancel a queued or running job; a running job stops within a few training steps.

    Its worker removes the partial files. Cancelling a job that has already ended is a 409.
    """
    job = require_job(session, job_id, tenant_id)
    previous = job.status
    cancelled = job_store.cancel_job(session, job_id)
    session.commit()
    session.refresh(job)
    if not cancelled:
        raise ConflictError("job_not_cancellable", f"Job {job_id} has already ended with status {job.status}.", param="job_id")
    logger.info("job.cancelled job_id=%s previous_status=%s", job_id, previous)
    return to_public(job)


@router.get(
    "/{job_id}/report.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The training report plot."}},
)
def get_job_report(job_id: str, session: SessionDep, tenant_id: TenantDep) -> Response:
    """Return the report plot of a succeeded job: loss and accuracy per epoch, WiSE-FT curve, confusion matrix.

    A job that has not succeeded has no report yet, which is a 409. The report is stored with
    the job's model, so once that model is deleted the report is a 404.
    """
    job = require_job(session, job_id, tenant_id)
    if job.status != SUCCEEDED or job.model_id is None:
        raise ConflictError(
            "report_not_ready",
            f"Job {job_id} has no report: its status is {job.status}, and the report is written only when a job succeeds.",
            param="job_id",
        )

    # Read at once, not streamed from the path, so a model deleted meanwhile is a 404 rather than a failed response.
    content = _read_report(session, job.model_id)
    if content is None:
        raise NotFoundError(
            "report_not_found",
            f"Job {job_id} has no report any more: it was stored with model {job.model_id}, which has been deleted.",
            param="job_id",
        )
    headers = {"Content-Disposition": f'inline; filename="{job_id}-report.png"'}
    return Response(content, media_type="image/png", headers=headers)


def _read_report(session: Session, model_id: str) -> bytes | None:
    model = session.get(Model, model_id)
    if model is None or model.status == MODEL_DELETING:
        return None
    try:
        return (Path(model.storage_dir) / REPORT_FILE).read_bytes()
    except FileNotFoundError:
        return None


def require_job(session: Session, job_id: str, tenant_id: str | None) -> Job:
    job = get_owned(session, Job, job_id, tenant_id)
    if job is None:
        raise NotFoundError("job_not_found", f"No job with id {job_id!r} exists.", param="job_id")
    return job
