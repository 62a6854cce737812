from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.deps import DatabaseDep, DispatcherDep
from api.recent import RecentValue

logger = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Report that the process is alive; touches nothing else."""
    return {"status": "ok"}


# Seconds a /readyz result is reused, so a flood of probes opens at most one database and
# one broker connection per interval.
READY_CHECK_SECONDS = 1.0


@router.get("/readyz")
def readyz(request: Request, database: DatabaseDep, dispatcher: DispatcherDep) -> JSONResponse:
    """Report whether the database and the message broker are reachable, checked at most once a second per process."""
    recent = getattr(request.app.state, "ready_checks", None)
    if recent is None:
        recent = RecentValue(
            lambda: {"database": _check_database(database), "broker": _check_broker(dispatcher)}, READY_CHECK_SECONDS
        )
        request.app.state.ready_checks = recent
    checks = dict(recent.get())
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(status_code=200 if ready else 503, content={"status": "ok" if ready else "unavailable", "checks": checks})


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request) -> Response:
    """Return this process's metrics in the Prometheus text format.

    Like /healthz it needs no API key: it carries no ids or tenant names, only counts by route
    template, status, job state and model cache figures. Keep it off the public network.
    """
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _check_database(database) -> str:  # type: ignore[no-untyped-def]
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        logger.warning("readyz.database_failed error=%s", error)
        return f"failed: {type(error).__name__}"
    return "ok"


def _check_broker(dispatcher) -> str:  # type: ignore[no-untyped-def]
    try:
        with dispatcher.celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        logger.warning("readyz.broker_failed error=%s", error)
        return f"failed: {type(error).__name__}"
    return "ok"
