"""Model rows: deleting a model, and job counts for the metrics endpoint."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core.store.tables import MODEL_DELETING, MODEL_FAILED, MODEL_READY, Job, Model

DELETABLE_STATES = (MODEL_READY, MODEL_FAILED)


def mark_model_deleting(session: Session, model_id: str) -> bool:
    """Move a ready or failed model to `deleting`; return False if another request got there first."""
    result = session.execute(
        update(Model)
        .where(Model.id == model_id, Model.status.in_(DELETABLE_STATES))
        .values(status=MODEL_DELETING)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def delete_model_row(session: Session, model_id: str) -> None:
    session.execute(delete(Model).where(Model.id == model_id, Model.status == MODEL_DELETING).execution_options(synchronize_session=False))


def jobs_by_status(session: Session) -> dict[str, int]:
    """Return the number of jobs in each state, over every tenant."""
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status))
    return {status: int(count) for status, count in rows}
