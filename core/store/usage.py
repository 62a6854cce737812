"""Current usage of one tenant, checked by the per-tenant limits."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.store.tables import ACTIVE_STATES, Dataset, Job


def stored_bytes(session: Session, tenant_id: str | None) -> int:
    """Return the summed upload sizes of the tenant's datasets (models are not counted)."""
    total = session.scalar(select(func.coalesce(func.sum(Dataset.size_bytes), 0)).where(Dataset.tenant_id == tenant_id))
    return int(total or 0)


def active_jobs(session: Session, tenant_id: str | None) -> int:
    """Return how many of the tenant's jobs are queued or running."""
    count = session.scalar(select(func.count()).select_from(Job).where(Job.tenant_id == tenant_id, Job.status.in_(ACTIVE_STATES)))
    return int(count or 0)
