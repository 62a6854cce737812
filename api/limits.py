"""Per-tenant limits, declared as dependencies by the routes they guard.

- stored bytes: the summed upload sizes of a tenant's datasets (POST /v1/datasets, 413);
- active jobs: queued plus running jobs (POST /v1/jobs, 429);
- classify rate: requests per minute (POST /v1/models/{id}/classify, 429 with Retry-After).

Each limit is the tenant's own where an operator set one (`flyp tenants limits`), and the
FLYP_TENANT_* setting otherwise; 0 turns a limit off.
"""

from __future__ import annotations

import logging

import redis
from fastapi import Depends, HTTPException, Request

from api.auth import PrincipalDep
from api.deps import SessionDep, SettingsDep, TenantDep
from api.schemas.common import ErrorResponse
from core.errors import PayloadTooLargeError, ServiceError
from core.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from core.settings import Settings
from core.store.usage import active_jobs, stored_bytes

logger = logging.getLogger(__name__)

CLASSIFY_PERIOD_SECONDS = 60.0


class TooManyRequestsError(ServiceError):
    http_status = 429


def create_rate_limiter(settings: Settings) -> RateLimiter:
    """Use Redis when the broker is Redis, so all API processes share one count per tenant."""
    if settings.uses_redis_broker:
        return RedisRateLimiter(settings.resolved_broker_url, key_prefix=f"flyp:{settings.queue}:ratelimit:")
    return MemoryRateLimiter()


def _limit(own: int | None, default: int) -> int:
    return default if own is None else own


def check_stored_bytes(
    request: Request, session: SessionDep, settings: SettingsDep, tenant_id: TenantDep, principal: PrincipalDep
) -> None:
    """Reject an upload that would take the tenant past its stored-bytes limit.

    The upload's size is taken from Content-Length (the multipart body, a little more than
    the archive) before any byte is read.
    """
    limit = _limit(principal.limits.max_stored_bytes, settings.tenant_max_stored_bytes)
    if limit == 0:
        return
    used = stored_bytes(session, tenant_id)
    incoming = _content_length(request)
    # NOTE: two uploads that arrive together are both checked against the same usage, so a
    # tenant can pass the limit by one upload. A body sent without Content-Length counts as 0
    # here and is capped only by FLYP_MAX_UPLOAD_BYTES.
    if used + incoming > limit or used >= limit:
        logger.info("limit.stored_bytes tenant_id=%s used=%d incoming=%d limit=%d", tenant_id, used, incoming, limit)
        raise PayloadTooLargeError(
            "storage_limit_exceeded",
            f"This upload of about {incoming} bytes would take your datasets to {used + incoming} bytes, "
            f"past your limit of {limit} bytes; delete datasets you no longer need or ask the operator "
            "to raise your limit.",
            param="file",
            details={"used_bytes": used, "incoming_bytes": incoming, "limit_bytes": limit},
        )


def _content_length(request: Request) -> int:
    try:
        return max(0, int(request.headers.get("content-length", "0")))
    except ValueError:
        return 0


def check_active_jobs(session: SessionDep, settings: SettingsDep, tenant_id: TenantDep, principal: PrincipalDep) -> None:
    """Reject a new job while the tenant already has its limit of queued and running jobs."""
    limit = _limit(principal.limits.max_active_jobs, settings.tenant_max_active_jobs)
    if limit == 0:
        return
    # NOTE: two job requests that arrive together both see the same count, so a tenant can
    # pass the limit by one job.
    count = active_jobs(session, tenant_id)
    if count >= limit:
        logger.info("limit.active_jobs tenant_id=%s active=%d limit=%d", tenant_id, count, limit)
        raise TooManyRequestsError(
            "active_jobs_limit_exceeded",
            f"You have {count} queued or running jobs, the limit; wait for one to finish or cancel one, then retry.",
            details={"active_jobs": count, "limit": limit},
        )


def check_classify_rate(request: Request, settings: SettingsDep, tenant_id: TenantDep, principal: PrincipalDep) -> None:
    """Count one classify request against the tenant's per-minute rate; 429 with Retry-After past it."""
    limit = _limit(principal.limits.classify_per_minute, settings.tenant_classify_per_minute)
    if limit == 0:
        return
    limiter: RateLimiter = request.app.state.rate_limiter
    try:
        decision = limiter.hit(f"classify:{tenant_id or '-'}", limit=limit, period=CLASSIFY_PERIOD_SECONDS)
    except redis.RedisError as error:
        # The limit protects capacity, not data, so an unreachable Redis lets the request through.
        logger.warning("limit.classify_rate_unavailable tenant_id=%s error=%s", tenant_id, error)
        return
    if not decision.allowed:
        retry_after = decision.retry_after_seconds
        logger.info("limit.classify_rate tenant_id=%s limit=%d retry_after=%d", tenant_id, limit, retry_after)
        raise HTTPException(
            status_code=429,
            detail=f"More than {limit} classify requests per minute; retry in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )


# OpenAPI `responses` for the routes where a limit can reject a request with 429.
TOO_MANY_REQUESTS: dict[int | str, dict] = {
    429: {
        "model": ErrorResponse,
        "description": "A per-tenant limit was reached; Retry-After, when sent, says how many seconds to wait.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}},
    }
}

StoredBytesLimit = Depends(check_stored_bytes)
ActiveJobsLimit = Depends(check_active_jobs)
ClassifyRateLimit = Depends(check_classify_rate)
