"""Idempotency keys: a retried POST with the same key returns the resource the first one created."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import InvalidRequestError
from core.store.tables import IdempotencyKey
from core.store.types import utcnow

MAX_KEY_LENGTH = 255


def request_fingerprint(payload: Any) -> str:
    """Return a sha256 of `payload` (JSON-ready data or bytes) that ignores key order."""
    if isinstance(payload, bytes):
        return hashlib.sha256(payload).hexdigest()
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def validate_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidRequestError(
            "invalid_idempotency_key", f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.", param="Idempotency-Key"
        )
    return key


def find_previous(session: Session, *, scope: str | None, key: str, endpoint: str, fingerprint: str) -> str | None:
    """Return the id created by an earlier request with this key, or None for a new key.

    Raises InvalidRequestError when the key was used before with a different request body,
    because returning the earlier result would silently ignore the new body.
    """
    row = session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.scope == (scope or ""), IdempotencyKey.key == key, IdempotencyKey.endpoint == endpoint
        )
    )
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise InvalidRequestError(
            "idempotency_key_reused",
            f"Idempotency-Key {key!r} was already used for a different {endpoint} request; use a new key for a new request.",
            param="Idempotency-Key",
        )
    return row.resource_id


def remember(session: Session, *, scope: str | None, key: str, endpoint: str, fingerprint: str, resource_id: str) -> None:
    """Store the key in the caller's transaction; a concurrent twin then fails on the primary key."""
    session.add(
        IdempotencyKey(
            scope=scope or "", key=key, endpoint=endpoint, request_hash=fingerprint, resource_id=resource_id, created_at=utcnow()
        )
    )
