from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.training.config import Hyperparameters, Method, ModelSpec


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_id: str = Field(..., min_length=1, max_length=64)
    method: Method = "flyp"
    model: ModelSpec
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)


class JobError(BaseModel):
    code: str
    message: str


class JobPublic(BaseModel):
    id: str
    object: Literal["job"] = "job"
    dataset_id: str
    method: str
    status: str
    model: dict[str, Any]
    hyperparameters: dict[str, Any]
    progress: dict[str, Any] | None
    metrics: dict[str, Any] | None
    error: JobError | None
    model_id: str | None = Field(description="The finished model; set once the job has succeeded.")
    attempt: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class EventPublic(BaseModel):
    id: int
    object: Literal["job.event"] = "job.event"
    job_id: str
    level: str
    message: str
    data: dict[str, Any]
    created_at: datetime
