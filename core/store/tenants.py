"""Tenants and their API keys: creation, lookup, listing and revocation."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, fields

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.apikeys import NewKey, generate_key
from core.errors import InvalidRequestError, NotFoundError
from core.ids import new_id
from core.store.tables import ApiKey, Tenant
from core.store.types import utcnow

logger = logging.getLogger(__name__)

TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def validate_tenant_name(name: str) -> str:
    if not TENANT_NAME.match(name):
        raise InvalidRequestError(
            "invalid_tenant_name",
            f"Tenant name {name!r} is invalid; use 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit.",
            param="tenant",
        )
    return name


@dataclass(frozen=True)
class TenantLimits:
    """A tenant's own limits; None takes the service default, 0 turns the limit off."""

    max_stored_bytes: int | None = None
    max_active_jobs: int | None = None
    classify_per_minute: int | None = None

    @classmethod
    def of(cls, tenant: Tenant) -> "TenantLimits":
        return cls(**{field.name: getattr(tenant, field.name) for field in fields(cls)})


LIMIT_NAMES = tuple(field.name for field in fields(TenantLimits))


def set_limits(session: Session, name: str, changes: dict[str, int | None]) -> Tenant:
    """Set or clear (None) the named limits of an existing tenant; return the tenant."""
    tenant = find_tenant(session, name)
    if tenant is None:
        raise NotFoundError("tenant_not_found", f"No tenant named {name!r} exists; `flyp keys create --tenant {name}` creates it.", param="tenant")
    for limit, value in changes.items():
        if limit not in LIMIT_NAMES:
            raise InvalidRequestError("invalid_limit", f"Unknown limit {limit!r}; the limits are {', '.join(LIMIT_NAMES)}.", param=limit)
        if value is not None and value < 0:
            raise InvalidRequestError("invalid_limit", f"{limit} must be 0 (no limit) or more, got {value}.", param=limit)
        setattr(tenant, limit, value)
    session.flush()
    logger.info("tenant.limits_set tenant_id=%s %s", tenant.id, " ".join(f"{key}={value}" for key, value in changes.items()))
    return tenant


def find_tenant(session: Session, name: str) -> Tenant | None:
    return session.scalar(select(Tenant).where(Tenant.name == name))


def ensure_tenant(session: Session, name: str) -> Tenant:
    """Return the tenant called `name`, creating it on first use."""
    tenant = find_tenant(session, validate_tenant_name(name))
    if tenant is not None:
        return tenant
    tenant = Tenant(id=new_id("tenant"), name=name, created_at=utcnow())
    session.add(tenant)
    session.flush()
    logger.info("tenant.created tenant_id=%s", tenant.id)
    return tenant


def create_key(session: Session, tenant: Tenant, name: str | None = None) -> tuple[ApiKey, NewKey]:
    """Store a new key for `tenant`; the returned NewKey contains the only copy of the secret."""
    new_key = generate_key()
    row = ApiKey(
        id=new_id("key"),
        tenant_id=tenant.id,
        prefix=new_key.prefix,
        secret_hash=new_key.secret_hash,
        name=name,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    logger.info("api_key.created key_id=%s tenant_id=%s", row.id, tenant.id)
    return row, new_key


def find_key(session: Session, prefix: str) -> tuple[ApiKey, Tenant] | None:
    row = session.execute(
        select(ApiKey, Tenant).join(Tenant, Tenant.id == ApiKey.tenant_id).where(ApiKey.prefix == prefix)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def list_keys(session: Session, tenant_name: str | None = None) -> list[tuple[ApiKey, Tenant]]:
    """Return keys oldest first, of one tenant or of all."""
    query = select(ApiKey, Tenant).join(Tenant, Tenant.id == ApiKey.tenant_id)
    if tenant_name is not None:
        query = query.where(Tenant.name == tenant_name)
    return [(key, tenant) for key, tenant in session.execute(query.order_by(ApiKey.created_at, ApiKey.id))]


def revoke_key(session: Session, key_id: str) -> ApiKey:
    """Mark a key revoked; revoking it again keeps the first revocation time."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFoundError("api_key_not_found", f"No API key with id {key_id!r} exists; `flyp keys list` shows the ids.", param="key_id")
    session.execute(
        update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    session.refresh(key)
    logger.info("api_key.revoked key_id=%s tenant_id=%s", key.id, key.tenant_id)
    return key


def has_active_keys(session: Session) -> bool:
    return session.scalar(select(ApiKey.id).where(ApiKey.revoked_at.is_(None)).limit(1)) is not None
