from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.training.config import Hyperparameters, Method, ModelSpec


MAX_EVAL_DATASETS = 8


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_id: str = Field(..., min_length=1, max_length=64)
    method: Method = "flyp"
    model: ModelSpec
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    eval_dataset_ids: list[str] = Field(
        default_factory=list,
        max_length=MAX_EVAL_DATASETS,
        description="Other ready datasets to evaluate for every WiSE-FT alpha, such as distribution shifts. "
        "Their images are matched to this job's classes by class name and reported separately.",
    )


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
    hyperparameters: dict[str, Any] = Field(description="The resolved values the job trains with.")
    eval_dataset_ids: list[str] = Field(default_factory=list, description="Extra evaluation datasets, reported under metrics[...]['extra'].")
    queue_position: int | None = Field(
        None, description="While queued: 1 for the next job a free worker takes, counting the queued jobs of every user."
    )
    progress: dict[str, Any] | None = Field(
        description="While running: epoch, epochs, step, total_steps, loss, learning_rate, images_per_second and eta_seconds."
    )
    metrics: dict[str, Any] | None
    error: JobError | None
    model_id: str | None = Field(description="The finished model; set once the job has succeeded.")
    attempt: int = Field(description="Attempts started so far; a job whose worker was lost resumes in a new attempt.")
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
