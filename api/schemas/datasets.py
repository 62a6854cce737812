from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class ClassPublic(BaseModel):
    name: str
    display_name: str
    counts: dict[str, int]


class DatasetPublic(BaseModel):
    id: str
    object: Literal["dataset"] = "dataset"
    name: str
    status: str = Field(description="processing, ready or failed.")
    classes: list[ClassPublic]
    num_images: int
    size_bytes: int
    report: dict[str, Any]
    error: dict[str, Any] | None = Field(description="Why ingest failed (code, message, param, details); set when status is failed.")
    created_at: datetime


class DatasetValidation(BaseModel):
    """The dry run's result: the report ingest would store, and what would reject the upload."""

    object: Literal["dataset.validation"] = "dataset.validation"
    valid: bool = Field(description="False when any problem in `errors` would reject the upload with 422.")
    errors: list[dict[str, Any]] = Field(description="Each problem that makes training impossible: code, message and class or classes.")
    classes: list[ClassPublic]
    num_images: int
    report: dict[str, Any]


class DatasetDeleted(BaseModel):
    id: str
    object: Literal["dataset"] = "dataset"
    deleted: Literal[True] = True
