"""The error a client call raises for any non-2xx response."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A response with the service's error shape: `{"error": {"code", "message", "param", ...}}`."""

    def __init__(self, status_code: int, code: str, message: str, *, param: str | None = None, details: Any = None, retry_after: int | None = None) -> None:
        super().__init__(f"{status_code} {code}: {message}")
        self.status_code = status_code
        self.code = code
        self.message = message
        self.param = param
        self.details = details
        self.retry_after = retry_after


def error_from_response(status_code: int, body: Any, retry_after: str | None) -> ApiError:
    """Build an ApiError from a response body, which a proxy in front of the service may not have shaped."""
    error = body.get("error") if isinstance(body, dict) else None
    seconds = int(retry_after) if retry_after and retry_after.isdigit() else None
    if not isinstance(error, dict):
        return ApiError(status_code, "http_error", f"HTTP {status_code} without the service's error body", retry_after=seconds)
    return ApiError(
        status_code,
        str(error.get("code", "error")),
        str(error.get("message", "")),
        param=error.get("param"),
        details=error.get("details") or error.get("errors"),
        retry_after=seconds,
    )
