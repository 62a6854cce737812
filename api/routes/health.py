from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import DatabaseDep, DispatcherDep

logger = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Report that the process is alive; touches nothing else."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(database: DatabaseDep, dispatcher: DispatcherDep) -> JSONResponse:
    """Report whether the database and the message broker are reachable."""
    checks = {"database": _check_database(database), "broker": _check_broker(dispatcher)}
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(status_code=200 if ready else 503, content={"status": "ok" if ready else "unavailable", "checks": checks})


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
