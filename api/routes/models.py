from __future__ import annotations

import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from api.deps import DatabaseDep, SessionDep, SettingsDep, TenantDep
from api.schemas.common import ERROR_RESPONSES, ListPublic
from api.schemas.models import ModelDeleted, ModelPublic
from api.served_models import base_to_public, find_public_model, lookup_served_model, offered_base_models, require_model, row_to_public
from api.serving import Serving
from core.errors import ConflictError, InvalidRequestError, NotFoundError
from core.models.base_models import is_base_model_id
from core.store.db import Database
from core.store.models import delete_model_row, mark_model_deleting
from core.store.queries import list_page
from core.store.tables import MODEL_DELETING, MODEL_PENDING, Model
from core.training.artifacts import HEAD_FILE, METADATA_FILE, OPEN_CLIP_CONFIG_FILE, WEIGHTS_FILE

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/models", tags=["models"], responses=ERROR_RESPONSES)

# The files of a download: plain open_clip loads the directory they unpack to with
# `open_clip.create_model_from_pretrained("local-dir:DIR")`.
DOWNLOAD_FILES = (WEIGHTS_FILE, OPEN_CLIP_CONFIG_FILE, HEAD_FILE, METADATA_FILE)


@router.get("", response_model=ListPublic[ModelPublic])
def list_models(
    session: SessionDep,
    settings: SettingsDep,
    tenant_id: TenantDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(max_length=300)] = None,
) -> ListPublic[ModelPublic]:
    """List the tenant's finetuned models, newest first, then the base models offered for zero-shot classify."""
    data: list[ModelPublic] = []
    has_more = False
    if after is None or not is_base_model_id(after):
        rows, has_more = list_page(session, Model, tenant_id=tenant_id, limit=limit, after=after, filters=(Model.status != MODEL_DELETING,))
        data = [row_to_public(row) for row in rows]

    if not has_more:
        bases = [base_to_public(ref) for ref in offered_base_models(settings)]
        if after is not None and is_base_model_id(after):
            ids = [base.id for base in bases]
            if after not in ids:
                raise InvalidRequestError("invalid_cursor", f"'after' names no offered base model id: {after!r}", param="after")
            bases = bases[ids.index(after) + 1 :]
        room = limit - len(data)
        data.extend(bases[:room])
        has_more = len(bases) > room
    return ListPublic[ModelPublic](data=data, has_more=has_more)


@router.get("/{model_id}", response_model=ModelPublic)
def get_model(model_id: str, session: SessionDep, settings: SettingsDep, tenant_id: TenantDep) -> ModelPublic:
    return find_public_model(session, settings, model_id, tenant_id)


@router.get("/{model_id}/download", response_class=FileResponse, responses={200: {"content": {"application/zip": {}}}})
async def download_model(model_id: str, request: Request, database: DatabaseDep, settings: SettingsDep, tenant_id: TenantDep) -> FileResponse:
    """Return a zip of the weights, open_clip config, head and metadata of a finished model."""
    serving: Serving = request.app.state.serving
    with serving.in_flight.hold(model_id):
        served = await run_in_threadpool(lookup_served_model, database, settings, model_id, tenant_id)
        if served.storage_dir is None:
            raise NotFoundError(
                "checkpoint_not_found",
                f"{model_id} is a base model with no stored checkpoint; plain open_clip creates it from its architecture and pretrained tag.",
                param="model_id",
            )
        archive = await run_in_threadpool(_zip_model_dir, served.storage_dir, settings.uploads_dir)
    return FileResponse(archive, media_type="application/zip", filename=f"{model_id}.zip", background=BackgroundTask(archive.unlink, missing_ok=True))


def _zip_model_dir(model_dir: Path, directory: Path) -> Path:
    # Stored, not deflated: safetensors weights barely compress.
    directory.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="model-download-", suffix=".zip", dir=directory)
    os.close(handle)
    path = Path(name)
    try:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
            for file_name in DOWNLOAD_FILES:
                archive.write(model_dir / file_name, file_name)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


@router.delete("/{model_id}", response_model=ModelDeleted)
async def delete_model(model_id: str, request: Request, database: DatabaseDep, settings: SettingsDep, tenant_id: TenantDep) -> ModelDeleted:
    """Delete a finished or failed model: hide it at once, let running requests finish, then remove files and row."""
    serving: Serving = request.app.state.serving
    storage_dir = await run_in_threadpool(_mark_deleting, database, model_id, tenant_id)

    # NOTE: only this process's requests are waited for. With several API processes, a request
    # in another one that already loaded the model finishes from memory, but one that has yet
    # to load it fails once the files are gone.
    if not await serving.in_flight.wait_idle(model_id, settings.model_delete_wait_seconds):
        logger.warning("model.delete_wait_timed_out model_id=%s in_flight=%d", model_id, serving.in_flight.count(model_id))
    serving.forget(model_id)
    await run_in_threadpool(_remove_model, database, model_id, storage_dir)
    logger.info("model.deleted model_id=%s", model_id)
    return ModelDeleted(id=model_id)


def _mark_deleting(database: Database, model_id: str, tenant_id: str | None) -> Path:
    if is_base_model_id(model_id):
        raise ConflictError("base_model_not_deletable", f"{model_id} is a base model offered by the service; it cannot be deleted.", param="model_id")
    with database.session() as session:
        model = require_model(session, model_id, tenant_id)
        if model.status == MODEL_PENDING:
            raise ConflictError(
                "model_not_finished",
                f"Model {model_id} belongs to job {model.job_id}, which has not finished; cancel the job first, then delete the model.",
                param="model_id",
            )
        if not mark_model_deleting(session, model_id):
            raise NotFoundError("model_not_found", f"No model with id {model_id!r} exists.", param="model_id")
        return Path(model.storage_dir)


def _remove_model(database: Database, model_id: str, storage_dir: Path) -> None:
    shutil.rmtree(storage_dir, ignore_errors=True)
    with database.session() as session:
        delete_model_row(session, model_id)
