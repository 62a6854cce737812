from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.dataset_form import read_dataset_form
from api.dataset_upload import create_dataset as create_from_upload
from api.dataset_upload import status_code_for, validate_upload
from api.deps import DatabaseDep, DispatcherDep, SessionDep, SettingsDep, TenantDep
from api.limits import StoredBytesLimit
from api.multipart import parse_upload_form
from api.schemas.common import ERROR_RESPONSES, ErrorResponse, ListPublic
from api.schemas.datasets import DatasetDeleted, DatasetPublic, DatasetValidation
from core.datasets.creation import DatasetCreator, DatasetRequest
from core.datasets.deletion import delete_dataset as delete_stored_dataset
from core.errors import NotFoundError
from core.store.idempotency import validate_key
from core.store.queries import get_owned, list_page
from core.store.tables import DATASET_DELETED, Dataset

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/datasets", tags=["datasets"], responses=ERROR_RESPONSES)

IdempotencyKeyHeader = Annotated[
    str | None, Header(alias="Idempotency-Key", description="Retries with the same key and upload return the first dataset.")
]


def to_public(dataset: Dataset) -> DatasetPublic:
    return DatasetPublic(
        id=dataset.id,
        name=dataset.name,
        status=dataset.status,
        classes=dataset.classes,
        num_images=int(dataset.report.get("accepted", 0)),
        size_bytes=dataset.size_bytes,
        report=dataset.report,
        error=dataset.error,
        created_at=dataset.created_at,
    )


NOT_MULTIPART: dict[int | str, dict] = {415: {"model": ErrorResponse, "description": "The body is not multipart/form-data."}}


def _upload_body(*, with_validate_only: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "file": {"type": "string", "format": "binary", "description": "A zip or tar archive (tar, tar.gz, tgz) of class folders or with a CSV/JSONL manifest."},
        "name": {"type": "string", "maxLength": 200, "description": "A name for the dataset; default is the file name."},
        "display_names": {"type": "string", "description": 'A JSON object from class name to prompt text, e.g. {"golden_retriever": "golden retriever dog"}.'},
    }
    if with_validate_only:
        properties["validate_only"] = {"type": "boolean", "description": "Return the report of a dry run (200) and store nothing."}
    schema = {"type": "object", "required": ["file"], "properties": properties}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


@router.post(
    "",
    status_code=201,
    response_model=DatasetPublic | DatasetValidation,
    responses={
        200: {"model": DatasetValidation, "description": "With validate_only=true: the report of a dry run; nothing is stored."},
        202: {"model": DatasetPublic, "description": "Accepted; a worker ingests the upload. Poll the dataset until it is ready or failed."},
        **NOT_MULTIPART,
    },
    openapi_extra=_upload_body(with_validate_only=True),
    dependencies=[StoredBytesLimit],
)
async def create_dataset(
    request: Request,
    response: Response,
    database: DatabaseDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    tenant_id: TenantDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> DatasetPublic | DatasetValidation:
    """Upload an archive; small ones are ingested at once (201), larger ones by a worker (202)."""
    key = validate_key(idempotency_key) if idempotency_key is not None else None
    parsed = await parse_upload_form(request, settings.uploads_dir, max_bytes=settings.max_upload_bytes)
    try:
        form = read_dataset_form(parsed)
        if form.validate_only:
            response.status_code = 200
            return await run_in_threadpool(validate_upload, settings, form)

        dataset_request = DatasetRequest(name=form.name, tenant_id=tenant_id, display_names=form.display_names, idempotency_key=key)
        creator = DatasetCreator(database, settings)
        dataset = await run_in_threadpool(create_from_upload, creator, dispatcher, dataset_request, form.upload)
    finally:
        parsed.remove_files()

    response.status_code = status_code_for(dataset)
    if response.status_code == 202:
        response.headers["Location"] = f"{router.prefix}/{dataset.id}"
    return to_public(dataset)


@router.post("/validate", response_model=DatasetValidation, openapi_extra=_upload_body(with_validate_only=False), responses=NOT_MULTIPART)
async def validate_dataset(request: Request, settings: SettingsDep) -> DatasetValidation:
    """Run every ingest check on an archive and return the report; nothing is stored."""
    parsed = await parse_upload_form(request, settings.uploads_dir, max_bytes=settings.max_upload_bytes)
    try:
        form = read_dataset_form(parsed)
        return await run_in_threadpool(validate_upload, settings, form)
    finally:
        parsed.remove_files()


@router.get("", response_model=ListPublic[DatasetPublic])
def list_datasets(
    session: SessionDep,
    tenant_id: TenantDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> ListPublic[DatasetPublic]:
    filters = (Dataset.status != DATASET_DELETED,)
    rows, has_more = list_page(session, Dataset, tenant_id=tenant_id, limit=limit, after=after, filters=filters)
    return ListPublic[DatasetPublic](data=[to_public(row) for row in rows], has_more=has_more)


@router.get("/{dataset_id}", response_model=DatasetPublic)
def get_dataset(dataset_id: str, session: SessionDep, tenant_id: TenantDep) -> DatasetPublic:
    return to_public(require_dataset(session, dataset_id, tenant_id, param="dataset_id"))


@router.delete("/{dataset_id}", response_model=DatasetDeleted)
def delete_dataset(dataset_id: str, database: DatabaseDep, tenant_id: TenantDep) -> DatasetDeleted:
    """Delete a dataset and its files; 409 while it is processing or a queued or running job uses it.

    Jobs and models made from the dataset keep working and keep its id.
    """
    delete_stored_dataset(database, dataset_id, tenant_id)
    return DatasetDeleted(id=dataset_id)


def require_dataset(session: SessionDep, dataset_id: str, tenant_id: str | None, *, param: str) -> Dataset:
    dataset = get_owned(session, Dataset, dataset_id, tenant_id)
    if dataset is None or dataset.status == DATASET_DELETED:
        raise NotFoundError("dataset_not_found", f"No dataset with id {dataset_id!r} exists.", param=param)
    return dataset

