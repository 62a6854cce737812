"""One JSON error shape for every 4xx and 5xx response."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from core.errors import ServiceError

logger = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


def error_response(status: int, code: str, message: str, *, param: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, "param": param}
    body.update({key: value for key, value in extra.items() if value is not None})
    return JSONResponse(status_code=status, content={"error": body})


def _field_path(location: tuple[Any, ...]) -> str:
    # ("body", "hyperparameters", "epochs") -> "hyperparameters.epochs"; query and path keep the name.
    parts = [str(part) for part in location[1:]] if location and location[0] in ("body", "query", "path", "header", "form") else [str(part) for part in location]
    return ".".join(parts) or str(location[0] if location else "body")


async def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
    errors = [
        {"param": _field_path(tuple(item.get("loc", ()))), "message": item.get("msg", "invalid value"), "type": item.get("type", "value_error")}
        for item in error.errors()
    ]
    summary = "; ".join(f"{item['param']}: {item['message']}" for item in errors)
    message = f"{len(errors)} invalid field{'s' if len(errors) != 1 else ''}: {summary}"
    return error_response(422, "invalid_request", message, param=errors[0]["param"] if errors else None, errors=errors)


async def _service_error(request: Request, error: ServiceError) -> JSONResponse:
    logger.info("request.rejected path=%s status=%s code=%s", request.url.path, error.http_status, error.code)
    return error_response(error.http_status, error.code, error.message, param=error.param, details=error.details)


async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(error.status_code, "error")
    message = error.detail if isinstance(error.detail, str) else code.replace("_", " ")
    response = error_response(error.status_code, code, message)
    for name, value in (error.headers or {}).items():
        response.headers[name] = value
    if error.status_code == 405:
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


def _allowed_methods(request: Request) -> list[str]:
    """Return every method that some route serves at this path.

    Starlette's own Allow header names only the first route that matched the path, but GET
    and POST on one path are separate routes here.
    """
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


async def _unstorable_value(request: Request, error: DataError) -> JSONResponse:
    # The database rejected a value that validation let through: a NUL character, which
    # PostgreSQL cannot store in text or JSON, or a value too long or out of range.
    logger.warning("request.unstorable_value method=%s path=%s error=%s", request.method, request.url.path, str(error.orig).splitlines()[0])
    return error_response(
        422, "invalid_value", "A value in the request cannot be stored (NUL characters, for example, are not allowed); correct it and retry."
    )


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    logger.exception("request.failed method=%s path=%s", request.method, request.url.path)
    return error_response(500, "internal_error", "The server failed to handle this request; the API log has the details.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(ServiceError, _service_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(DataError, _unstorable_value)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)
