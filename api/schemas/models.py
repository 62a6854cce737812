from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class ModelPublic(BaseModel):
    id: str
    object: Literal["model"] = "model"
    kind: Literal["finetuned", "base"] = Field("finetuned", description="finetuned: made by a job; base: zero-shot only, needs labels.")
    status: str
    job_id: str | None
    dataset_id: str | None
    method: str
    architecture: str
    pretrained: str | None
    classes: list[str]
    wise_ft_alpha: float | None = Field(None, description="The WiSE-FT mixing weight chosen on validation; None for base and unfinished models.")
    validation: dict[str, Any] | None = Field(None, description="Validation metrics of the served model (accuracy, macro_f1, loss).")
    metrics: dict[str, Any]
    created_at: datetime | None


class Prediction(BaseModel):
    label: str
    score: float
    zero_shot: bool = Field(False, description="True for a label the model was not trained on, scored from its text embedding.")


class ImageResult(BaseModel):
    index: int
    filename: str | None
    predictions: list[Prediction]


class ClassifyResponse(BaseModel):
    object: Literal["classification"] = "classification"
    model_id: str
    data: list[ImageResult]


class ImageIn(BaseModel):
    model_config = {"extra": "forbid"}

    data: str = Field(description="The image file's bytes in base64; a data URL (data:image/png;base64,...) also works.")
    filename: str | None = Field(None, max_length=255, description="Echoed back in the result.")


class ClassifyRequest(BaseModel):
    """The JSON form of a classify request; multipart sends the same fields as form fields."""

    model_config = {"extra": "forbid"}

    images: list[ImageIn | str] = Field(min_length=1, description="Images as objects with base64 `data`, or as base64 strings.")
    # Strict, so that JSON true is rejected instead of read as 1.
    top_k: int = Field(5, ge=1, le=1000, strict=True, description="Labels returned per image, best first.")
    labels: list[str] | None = Field(
        None, description="Labels to choose from instead of the model's classes; labels the model was not trained on are zero-shot."
    )
    templates: str | list[str] | None = Field(
        None, description="Template set name or templates with one '{}' for zero-shot labels; default: the model's own templates."
    )


class ModelDeleted(BaseModel):
    id: str
    object: Literal["model"] = "model"
    deleted: bool = True
