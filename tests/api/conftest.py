"""A service with API keys on: an API process on PostgreSQL and Redis, without workers, so jobs stay queued."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.stack import Stack, distributed_stack
from tests.tenant_helpers import build_tiny_zip

ADMIN_KEY = secrets.token_urlsafe(32)
MAX_ACTIVE_JOBS = 2
CLASSIFY_PER_MINUTE = 5


@pytest.fixture(scope="session")
def tiny_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_zip(tmp_path_factory.mktemp("tiny") / "tiny.zip")


@pytest.fixture(scope="session")
def auth_stack(tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_url: str, tiny_zip: Path) -> Iterator[Stack]:
    """Keys on, an admin key, and limits small enough to reach: one tiny upload fits, two do not."""
    queue = f"flyp-test-{uuid.uuid4().hex[:12]}"
    max_stored_bytes = tiny_zip.stat().st_size * 3 // 2
    with distributed_stack(
        tmp_path_factory.mktemp("auth"),
        database_url=postgres_url,
        broker_url=redis_url,
        queue=queue,
        workers=0,
        auth="on",
        admin_key=ADMIN_KEY,
        tenant_max_stored_bytes=str(max_stored_bytes),
        tenant_max_active_jobs=str(MAX_ACTIVE_JOBS),
        tenant_classify_per_minute=str(CLASSIFY_PER_MINUTE),
    ) as running:
        yield running
    # Jobs were queued for workers that never ran; drop their messages.
    client = redis.Redis.from_url(redis_url)
    client.delete(queue)
    client.close()


def new_tenant_name() -> str:
    return f"tenant-{uuid.uuid4().hex[:10]}"
