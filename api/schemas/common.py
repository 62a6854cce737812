"""Shapes shared by every resource: lists and errors."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

Item = TypeVar("Item")


class ListPublic(BaseModel, Generic[Item]):
    object: Literal["list"] = "list"
    data: list[Item]
    has_more: bool


class FieldError(BaseModel):
    param: str = Field(description="Dotted path of the invalid field, e.g. hyperparameters.epochs.")
    message: str
    type: str


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. dataset_not_found.")
    message: str = Field(description="What went wrong and what to do about it.")
    param: str | None = Field(None, description="The request field or path parameter at fault, if any.")
    details: Any = None
    errors: list[FieldError] | None = Field(None, description="Every invalid field, for validation errors.")


class ErrorResponse(BaseModel):
    error: ErrorBody


# Documented on routes so the OpenAPI schema shows the error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 404, 409, 413, 422, 500, 503)
}
