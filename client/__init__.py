"""Python client for the FLYP finetuning service: `FlypClient`, its response types and `ApiError`."""

from client.client import FlypClient, JobUpdate
from client.errors import ApiError
from client.types import Classification, Dataset, Event, Job, Model, ModelDeleted, Page

__all__ = ["ApiError", "Classification", "Dataset", "Event", "FlypClient", "Job", "JobUpdate", "Model", "ModelDeleted", "Page"]
