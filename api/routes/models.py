from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.concurrency import run_in_threadpool

from api.deps import ModelCacheDep, SessionDep, SettingsDep, TenantDep
from api.limits import TOO_MANY_REQUESTS, ClassifyRateLimit
from api.model_cache import ModelCache
from api.schemas.common import ERROR_RESPONSES, ListPublic
from api.schemas.models import ClassifyResponse, ImageResult, ModelPublic, Prediction
from core.errors import ConflictError, InvalidRequestError, NotFoundError
from core.images import ImageDecodeError, decode_image
from core.store.queries import get_owned, list_page
from core.store.tables import MODEL_READY, Model

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/models", tags=["models"], responses=ERROR_RESPONSES)


def to_public(model: Model) -> ModelPublic:
    return ModelPublic.model_validate(model, from_attributes=True)


@router.get("", response_model=ListPublic[ModelPublic])
def list_models(
    session: SessionDep,
    tenant_id: TenantDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> ListPublic[ModelPublic]:
    rows, has_more = list_page(session, Model, tenant_id=tenant_id, limit=limit, after=after)
    return ListPublic[ModelPublic](data=[to_public(row) for row in rows], has_more=has_more)


@router.get("/{model_id}", response_model=ModelPublic)
def get_model(model_id: str, session: SessionDep, tenant_id: TenantDep) -> ModelPublic:
    return to_public(require_model(session, model_id, tenant_id))


@router.post("/{model_id}/classify", response_model=ClassifyResponse, dependencies=[ClassifyRateLimit], responses=TOO_MANY_REQUESTS)
async def classify(
    model_id: str,
    session: SessionDep,
    settings: SettingsDep,
    cache: ModelCacheDep,
    tenant_id: TenantDep,
    files: Annotated[list[UploadFile], File(description="One or more images; repeat the field for each.")],
    top_k: Annotated[int, Form(ge=1, le=1000)] = 5,
) -> ClassifyResponse:
    """Classify images with a finished model; results come back in request order."""
    model = require_model(session, model_id, tenant_id)
    if model.status != MODEL_READY:
        raise ConflictError(
            "model_not_ready",
            f"Model {model_id} is {model.status}: its job {model.job_id} has not succeeded, so it cannot classify yet.",
            param="model_id",
        )
    if len(files) > settings.max_classify_images:
        raise InvalidRequestError(
            "too_many_images", f"{len(files)} images sent; the limit is {settings.max_classify_images} per request.", param="files"
        )
    payloads = [await upload.read() for upload in files]
    model_dir = Path(model.storage_dir)
    predictions = await run_in_threadpool(
        _classify_blocking, cache, model_id, model_dir, payloads, [upload.filename for upload in files], top_k, settings.max_image_pixels
    )
    results = [
        ImageResult(index=index, filename=upload.filename, predictions=[Prediction(label=label, score=score) for label, score in pairs])
        for index, (upload, pairs) in enumerate(zip(files, predictions))
    ]
    return ClassifyResponse(model_id=model_id, data=results)


def _classify_blocking(
    cache: ModelCache,
    model_id: str,
    model_dir: Path,
    payloads: list[bytes],
    filenames: list[str | None],
    top_k: int,
    max_pixels: int,
) -> list[list[tuple[str, float]]]:
    images = []
    for index, (payload, filename) in enumerate(zip(payloads, filenames)):
        try:
            images.append(decode_image(payload, max_pixels=max_pixels))
        except ImageDecodeError as error:
            raise InvalidRequestError(
                f"image_{error.code}",
                f"Image {index} ({filename or 'unnamed'}) cannot be used: {error.message}.",
                param=f"files[{index}]",
            ) from None
    classifier = cache.get(model_id, model_dir)
    return classifier.classify(images, top_k=top_k)


def require_model(session: SessionDep, model_id: str, tenant_id: str | None) -> Model:
    model = get_owned(session, Model, model_id, tenant_id)
    if model is None:
        raise NotFoundError("model_not_found", f"No model with id {model_id!r} exists.", param="model_id")
    return model
