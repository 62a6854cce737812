from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel


class ClassPublic(BaseModel):
    name: str
    display_name: str
    counts: dict[str, int]


class DatasetPublic(BaseModel):
    id: str
    object: Literal["dataset"] = "dataset"
    name: str
    status: str
    classes: list[ClassPublic]
    num_images: int
    size_bytes: int
    report: dict[str, Any]
    error: dict[str, Any] | None
    created_at: datetime
