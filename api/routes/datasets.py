from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from api.deps import DatabaseDep, SessionDep, SettingsDep, TenantDep
from api.limits import StoredBytesLimit
from api.multipart import UploadedFile, parse_upload_form
from api.schemas.common import ERROR_RESPONSES, ErrorResponse, ListPublic
from api.schemas.datasets import DatasetPublic
from core.errors import InvalidRequestError, NotFoundError
from core.ids import new_id
from core.ingest import IngestLimits, ingest_archive
from core.settings import Settings
from core.store.db import Database
from core.store.queries import get_owned, list_page
from core.store.tables import Dataset
from core.store.types import utcnow

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/datasets", tags=["datasets"], responses=ERROR_RESPONSES)


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

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "A zip archive of class folders, optionally under train/ and val/."},
                        "name": {"type": "string", "maxLength": 200, "description": "A name for the dataset; default is the file name."},
                    },
                }
            }
        },
    }
}


@router.post("", status_code=201, response_model=DatasetPublic, openapi_extra=UPLOAD_BODY, dependencies=[StoredBytesLimit], responses=NOT_MULTIPART)
async def create_dataset(request: Request, database: DatabaseDep, settings: SettingsDep, tenant_id: TenantDep) -> DatasetPublic:
    """Upload an archive, check every image once, and store the dataset with its report."""
    form = await parse_upload_form(request, settings.uploads_dir, max_bytes=settings.max_upload_bytes)
    try:
        upload = form.files.get("file")
        if upload is None:
            raise InvalidRequestError("missing_file", "The form has no 'file' part; send the archive as file=@dataset.zip.", param="file")
        name = (form.fields.get("name") or upload.filename or "").strip()[:200]
        dataset = await run_in_threadpool(_ingest_upload, database, settings, tenant_id, upload, name)
    finally:
        form.remove_files()
    return to_public(dataset)


def _ingest_upload(database: Database, settings: Settings, tenant_id: str | None, upload: UploadedFile, name: str) -> Dataset:
    dataset_id = new_id("ds")
    logger.info("dataset.upload.received dataset_id=%s bytes=%d", dataset_id, upload.size)
    dataset_dir = settings.datasets_dir / dataset_id
    result = ingest_archive(upload.path, dataset_dir, limits=IngestLimits.from_settings(settings), val_fraction=settings.val_fraction)

    now = utcnow()
    dataset = Dataset(
        id=dataset_id,
        tenant_id=tenant_id,
        name=name or dataset_id,
        status="ready",
        content_hash=upload.sha256,
        storage_dir=str(dataset_dir.resolve()),
        size_bytes=upload.size,
        classes=result.report["classes"],
        report=result.report,
        created_at=now,
        updated_at=now,
    )
    with database.session() as session:
        session.add(dataset)
    logger.info("dataset.created dataset_id=%s images=%s", dataset_id, result.report.get("accepted"))
    return dataset


@router.get("", response_model=ListPublic[DatasetPublic])
def list_datasets(
    session: SessionDep,
    tenant_id: TenantDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> ListPublic[DatasetPublic]:
    rows, has_more = list_page(session, Dataset, tenant_id=tenant_id, limit=limit, after=after)
    return ListPublic[DatasetPublic](data=[to_public(row) for row in rows], has_more=has_more)


@router.get("/{dataset_id}", response_model=DatasetPublic)
def get_dataset(dataset_id: str, session: SessionDep, tenant_id: TenantDep) -> DatasetPublic:
    return to_public(require_dataset(session, dataset_id, tenant_id, param="dataset_id"))


def require_dataset(session: SessionDep, dataset_id: str, tenant_id: str | None, *, param: str) -> Dataset:
    dataset = get_owned(session, Dataset, dataset_id, tenant_id)
    if dataset is None:
        raise NotFoundError("dataset_not_found", f"No dataset with id {dataset_id!r} exists.", param=param)
    return dataset
