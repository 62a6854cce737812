"""Lookups and cursor pagination shared by every resource table."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from core.errors import InvalidRequestError
from core.store.tables import Dataset, Job, Model

Row = TypeVar("Row", Dataset, Job, Model)


def get_owned(session: Session, table: type[Row], resource_id: str, tenant_id: str | None) -> Row | None:
    """Return the row with `resource_id` if it belongs to `tenant_id` (None: no tenants)."""
    if "\x00" in resource_id:
        # No id contains NUL, and PostgreSQL rejects NUL in any text parameter with an error.
        return None
    row = session.get(table, resource_id)
    if row is None or row.tenant_id != tenant_id:
        return None
    return row


def list_page(
    session: Session,
    table: type[Row],
    *,
    tenant_id: str | None,
    limit: int,
    after: str | None,
    filters: tuple = (),
) -> tuple[list[Row], bool]:
    """Return up to `limit` rows, newest first, that come after the row with id `after`.

    The second value says whether more rows follow.
    """
    query = select(table).where(table.tenant_id == tenant_id, *filters)
    if after is not None:
        anchor = get_owned(session, table, after, tenant_id)
        if anchor is None:
            raise InvalidRequestError("invalid_cursor", f"'after' names no {table.__tablename__[:-1]} id: {after!r}", param="after")
        query = query.where(
            or_(
                table.created_at < anchor.created_at,
                and_(table.created_at == anchor.created_at, table.id < anchor.id),
            )
        )
    rows = list(session.scalars(query.order_by(table.created_at.desc(), table.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit
