"""The Alembic chain on both databases: it reaches head, matches the tables, and goes back down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

from core.store.db import make_engine
from core.store.migrate import downgrade, upgrade
from core.store.tables import Base
from tests.conftest import temporary_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    with temporary_postgres_database("flyp_migrations") as url:
        yield url


def _columns(url: str) -> dict[str, set[str]]:
    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        return {table: {column["name"] for column in inspector.get_columns(table)} for table in inspector.get_table_names()}
    finally:
        engine.dispose()


def test_head_matches_table_definitions(empty_database: str) -> None:
    upgrade(empty_database)

    columns = _columns(empty_database)

    for table in Base.metadata.sorted_tables:
        assert columns.get(table.name) == {column.name for column in table.columns}, table.name


def test_downgrade_to_base_and_back(empty_database: str) -> None:
    upgrade(empty_database)
    downgrade(empty_database, "base")
    assert set(_columns(empty_database)) <= {"alembic_version"}

    upgrade(empty_database)
    assert "max_active_jobs" in _columns(empty_database)["tenants"]
