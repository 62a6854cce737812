"""The `Idempotency-Key` header of POSTs that create work.

A retried request with the same key and body returns the first request's resource. The key
is stored in the transaction that creates the resource, so a concurrent twin loses on the
primary key and then returns the winner's resource.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from core.store.idempotency import validate_key

IDEMPOTENCY_HEADER = "Idempotency-Key"
# Set on a response that returns the resource of an earlier request with the same key.
REPLAYED_HEADER = "Idempotent-Replayed"


def get_idempotency_key(
    idempotency_key: Annotated[
        str | None,
        Header(alias=IDEMPOTENCY_HEADER, description="A unique key per intended request; a retry with the same key returns the first result."),
    ] = None,
) -> str | None:
    return None if idempotency_key is None else validate_key(idempotency_key)


IdempotencyKeyDep = Annotated[str | None, Depends(get_idempotency_key)]
