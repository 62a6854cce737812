from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel


class ModelPublic(BaseModel):
    id: str
    object: Literal["model"] = "model"
    status: str
    job_id: str | None
    dataset_id: str | None
    method: str
    architecture: str
    pretrained: str | None
    classes: list[str]
    metrics: dict[str, Any]
    created_at: datetime


class Prediction(BaseModel):
    label: str
    score: float


class ImageResult(BaseModel):
    index: int
    filename: str | None
    predictions: list[Prediction]


class ClassifyResponse(BaseModel):
    object: Literal["classification"] = "classification"
    model_id: str
    data: list[ImageResult]
