"""Finding the model a request names: a tenant's finetuned model or an offered base model."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sqlalchemy.orm import Session

from api.schemas.models import ModelPublic
from core.errors import ConflictError, NotFoundError
from core.inference import Classifier
from core.models.base_models import BaseModelRef, find_base_model, is_base_model_id, parse_base_models
from core.settings import Settings
from core.store.db import Database
from core.store.queries import get_owned
from core.store.tables import MODEL_DELETING, MODEL_PENDING, MODEL_READY, Model
from core.training.artifacts import METADATA_FILE

logger = logging.getLogger(__name__)


@dataclass
class ServedModel:
    """A model ready to classify: what to show, and how to load it on a cache miss."""

    public: ModelPublic
    load: Callable[[], Classifier]
    storage_dir: Path | None


def row_to_public(model: Model) -> ModelPublic:
    selected = (model.metrics or {}).get("selected") or {}
    return ModelPublic(
        id=model.id,
        status=model.status,
        job_id=model.job_id,
        dataset_id=model.dataset_id,
        method=model.method,
        architecture=model.architecture,
        pretrained=model.pretrained,
        classes=model.classes,
        wise_ft_alpha=selected.get("wise_ft_alpha"),
        validation=selected.get("val"),
        metrics=model.metrics,
        created_at=model.created_at,
    )


def base_to_public(ref: BaseModelRef) -> ModelPublic:
    return ModelPublic(
        id=ref.id,
        kind="base",
        status=MODEL_READY,
        job_id=None,
        dataset_id=None,
        method="zeroshot",
        architecture=ref.architecture,
        pretrained=ref.pretrained,
        classes=[],
        metrics={},
        created_at=None,
    )


def offered_base_models(settings: Settings) -> list[BaseModelRef]:
    return parse_base_models(settings.base_models)


def require_model(session: Session, model_id: str, tenant_id: str | None) -> Model:
    """Return the tenant's model row; 404 for an unknown id or a model being deleted."""
    model = get_owned(session, Model, model_id, tenant_id)
    if model is None or model.status == MODEL_DELETING:
        raise NotFoundError("model_not_found", f"No model with id {model_id!r} exists.", param="model_id")
    return model


def find_public_model(session: Session, settings: Settings, model_id: str, tenant_id: str | None) -> ModelPublic:
    if is_base_model_id(model_id):
        return base_to_public(_require_base(settings, model_id))
    return row_to_public(require_model(session, model_id, tenant_id))


def find_served_model(session: Session, settings: Settings, model_id: str, tenant_id: str | None) -> ServedModel:
    """Return a model that can classify now; 404 if unknown, 409 if its job has not succeeded."""
    if is_base_model_id(model_id):
        ref = _require_base(settings, model_id)
        load = lambda: Classifier.from_base(ref.architecture, ref.pretrained, device=settings.device, cache_dir=settings.cache_dir)  # noqa: E731
        return ServedModel(base_to_public(ref), load, None)

    model = require_model(session, model_id, tenant_id)
    if model.status == MODEL_PENDING:
        raise ConflictError(
            "model_not_ready",
            f"Model {model_id} is pending: its job {model.job_id} has not finished, so it cannot classify yet.",
            param="model_id",
        )
    if model.status != MODEL_READY:
        raise ConflictError(
            "model_not_ready",
            f"Model {model_id} is {model.status}: its job {model.job_id} did not succeed, so this model will never classify;"
            f" delete it with DELETE /v1/models/{model_id}.",
            param="model_id",
        )
    storage_dir = Path(model.storage_dir)
    return ServedModel(row_to_public(model), lambda: load_stored_model(model_id, storage_dir, device=settings.device), storage_dir)


def load_stored_model(model_id: str, storage_dir: Path, *, device: str) -> Classifier:
    """Load a finished model's directory; a directory removed meanwhile is a 404, not a 500.

    Another API process can delete the model between this request's lookup and its load.
    """
    try:
        return Classifier.load(storage_dir, device=device)
    except Exception:
        if (storage_dir / METADATA_FILE).is_file():
            raise
        logger.info("model.load.files_gone model_id=%s dir=%s", model_id, storage_dir)
        raise NotFoundError("model_not_found", f"Model {model_id} was deleted while this request was loading it.", param="model_id") from None


def _require_base(settings: Settings, model_id: str) -> BaseModelRef:
    ref = find_base_model(model_id, offered_base_models(settings))
    if ref is None:
        offered = ", ".join(ref.id for ref in offered_base_models(settings)) or "none"
        raise NotFoundError("model_not_found", f"No base model with id {model_id!r} is offered; offered: {offered}.", param="model_id")
    return ref


def lookup_served_model(database: Database, settings: Settings, model_id: str, tenant_id: str | None) -> ServedModel:
    """Run `find_served_model` in a session of its own, for handlers that call it from a thread."""
    with database.session() as session:
        return find_served_model(session, settings, model_id, tenant_id)
