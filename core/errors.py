"""Errors that carry a machine-readable code and the HTTP status the API maps them to.

Core code raises these without importing any web framework; `api.errors` turns them into
the shared JSON error shape.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An expected failure with a stable `code` and a message a user can act on."""

    http_status = 400

    def __init__(self, code: str, message: str, *, param: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.details = details


class NotFoundError(ServiceError):
    http_status = 404


class ConflictError(ServiceError):
    http_status = 409


class InvalidRequestError(ServiceError):
    http_status = 422


class PayloadTooLargeError(ServiceError):
    http_status = 413


class TrainingError(ServiceError):
    """An expected failure of a training job, such as unavailable weights or a non-finite loss.

    The job fails with `code` and shows `message` to the user.
    """
