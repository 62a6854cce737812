"""Shapes of the service's responses, as typed dictionaries (the JSON the API returns)."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypedDict, TypeVar

Item = TypeVar("Item")

TERMINAL_STATUSES = ("succeeded", "failed", "cancelled")


class Page(TypedDict, Generic[Item]):
    object: Literal["list"]
    data: list[Item]
    has_more: bool


class DatasetClass(TypedDict):
    name: str
    display_name: str
    counts: dict[str, int]


class Dataset(TypedDict):
    id: str
    object: Literal["dataset"]
    name: str
    status: str
    classes: list[DatasetClass]
    num_images: int
    size_bytes: int
    report: dict[str, Any]
    error: dict[str, Any] | None
    created_at: str


class JobError(TypedDict):
    code: str
    message: str


class Job(TypedDict):
    id: str
    object: Literal["job"]
    dataset_id: str
    method: str
    status: str
    model: dict[str, Any]
    hyperparameters: dict[str, Any]
    progress: dict[str, Any] | None
    metrics: dict[str, Any] | None
    error: JobError | None
    model_id: str | None
    attempt: int
    created_at: str
    started_at: str | None
    finished_at: str | None


class Event(TypedDict):
    id: int
    object: Literal["job.event"]
    job_id: str
    level: str
    message: str
    data: dict[str, Any]
    created_at: str


class Model(TypedDict):
    id: str
    object: Literal["model"]
    kind: Literal["finetuned", "base"]
    status: str
    job_id: str | None
    dataset_id: str | None
    method: str
    architecture: str
    pretrained: str | None
    classes: list[str]
    wise_ft_alpha: float | None
    validation: dict[str, Any] | None
    metrics: dict[str, Any]
    created_at: str | None


class Prediction(TypedDict):
    label: str
    score: float
    zero_shot: bool


class ImageResult(TypedDict):
    index: int
    filename: str | None
    predictions: list[Prediction]


class ModelDeleted(TypedDict):
    id: str
    object: Literal["model"]
    deleted: bool


class Classification(TypedDict):
    object: Literal["classification"]
    model_id: str
    data: list[ImageResult]
