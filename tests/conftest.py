"""Shared fixtures: a PostgreSQL database and a Redis queue of this test run's own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import psycopg
import pytest
import redis

if TYPE_CHECKING:
    from tests.stack import Stack

POSTGRES_ADMIN_URL = os.environ.get("FLYP_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("FLYP_TEST_REDIS", "redis://127.0.0.1:6379/0")


@contextmanager
def temporary_postgres_database(prefix: str) -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its URL, and drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database for this test run, dropped afterwards."""
    with temporary_postgres_database("flyp_test") as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    client.close()
    return REDIS_URL


@pytest.fixture()
def queue_name() -> str:
    """A Celery queue no other test run listens on, so parallel runs cannot take each other's tasks."""
    return f"flyp-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_url: str) -> Iterator["Stack"]:
    """One API process and one worker process on PostgreSQL and Redis, shared by the whole run."""
    from tests.stack import distributed_stack

    data_dir = tmp_path_factory.mktemp("distributed")
    queue = f"flyp-test-{uuid.uuid4().hex[:12]}"
    with distributed_stack(data_dir, database_url=postgres_url, broker_url=redis_url, queue=queue) as running:
        yield running
