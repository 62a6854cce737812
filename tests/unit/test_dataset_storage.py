"""Shared dataset storage: the storage lock on PostgreSQL and SQLite, and deletes that keep shared files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import func, select

from core.datasets.creation import DatasetCreator, DatasetRequest, Upload
from core.datasets.deletion import delete_dataset
from core.datasets.storage import IngestOptions, storage_key
from core.ingest.pipeline import sha256_file
from core.settings import Settings
from core.store import datasets as dataset_store
from core.store.db import Database
from core.store.migrate import upgrade
from core.store.tables import Dataset
from tests.store_fixtures import database  # noqa: F401
from tests.unit.archive_builders import TEST_LIMITS, class_files, write_zip


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'flyp.db'}")
    settings.ensure_dirs()
    upgrade(settings.resolved_database_url)
    return settings


@pytest.fixture
def sqlite_database(sqlite_settings: Settings) -> Iterator[Database]:
    database = Database(sqlite_settings.resolved_database_url)
    yield database
    database.dispose()


def upload_of(path: Path) -> Upload:
    return Upload(path=path, size=path.stat().st_size, sha256=sha256_file(path))


# The storage lock.


def test_postgres_storage_lock_held_until_commit(database: Database) -> None:  # noqa: F811
    key = dataset_store.storage_lock_key("/data/datasets/abc")
    with database.session() as holder:
        dataset_store.lock_storage(holder, "/data/datasets/abc")
        with database.session() as other:
            taken_while_held = other.scalar(select(func.pg_try_advisory_xact_lock(key)))
            free_path = other.scalar(select(func.pg_try_advisory_xact_lock(dataset_store.storage_lock_key("/data/datasets/xyz"))))
    with database.session() as after:
        taken_after = after.scalar(select(func.pg_try_advisory_xact_lock(key)))

    assert taken_while_held is False
    assert free_path is True
    assert taken_after is True


def test_sqlite_storage_lock_blocks_other_writers(sqlite_settings: Settings) -> None:
    url = sqlite_settings.resolved_database_url
    holder_database = Database(url)
    impatient = sqlalchemy.create_engine(url, connect_args={"timeout": 0.1})
    try:
        with holder_database.session() as holder:
            dataset_store.lock_storage(holder, "/data/datasets/abc")
            with pytest.raises(sqlalchemy.exc.OperationalError, match="locked"):
                with impatient.begin() as connection:
                    connection.execute(sqlalchemy.text("UPDATE datasets SET name = name"))
        with impatient.begin() as connection:
            connection.execute(sqlalchemy.text("UPDATE datasets SET name = name"))
    finally:
        impatient.dispose()
        holder_database.dispose()


# Storage keys.


def test_storage_key_depends_on_options() -> None:
    base = IngestOptions(limits=TEST_LIMITS, val_fraction=0.2)
    keys = {
        storage_key("a" * 64, base, tenant_id=None),
        storage_key("b" * 64, base, tenant_id=None),
        storage_key("a" * 64, base, tenant_id="tenant_1"),
        storage_key("a" * 64, IngestOptions(limits=TEST_LIMITS, val_fraction=0.3), tenant_id=None),
        storage_key("a" * 64, IngestOptions(limits=TEST_LIMITS, val_fraction=0.2, display_names={"cats": "cat"}), tenant_id=None),
    }
    assert len(keys) == 5
    assert storage_key("a" * 64, base, tenant_id=None) == storage_key("a" * 64, IngestOptions(limits=TEST_LIMITS, val_fraction=0.2), tenant_id=None)


def test_options_round_trip() -> None:
    options = IngestOptions(limits=TEST_LIMITS, val_fraction=0.25, seed=3, display_names={"cats": "house cat"})
    assert IngestOptions.from_dict(options.to_dict()) == options


# Creating and deleting on SQLite, the embedded database.


def test_sqlite_shared_files_kept_until_last_delete(sqlite_settings: Settings, sqlite_database: Database, tmp_path: Path) -> None:
    creator = DatasetCreator(sqlite_database, sqlite_settings)
    archive = write_zip(tmp_path / "pets.zip", class_files({"cats": 3, "dogs": 3}))
    request = DatasetRequest(name="pets", tenant_id=None, display_names={})
    first = creator.create_ready(request, upload_of(archive))
    second = creator.create_ready(request, upload_of(archive))
    storage_dir = Path(first.storage_dir)

    assert second.storage_dir == first.storage_dir
    assert sorted(path.name for path in sqlite_settings.datasets_dir.iterdir()) == [storage_dir.name]

    kept = delete_dataset(sqlite_database, first.id, None)
    assert kept.files_removed is False
    assert (storage_dir / "manifest.json").is_file()

    removed = delete_dataset(sqlite_database, second.id, None)
    assert removed.files_removed is True
    assert removed.row == "deleted"
    assert list(sqlite_settings.datasets_dir.iterdir()) == []


def test_sqlite_pending_dataset_processed(sqlite_settings: Settings, sqlite_database: Database, tmp_path: Path) -> None:
    from core.datasets.processing import process_pending

    creator = DatasetCreator(sqlite_database, sqlite_settings)
    archive = write_zip(tmp_path / "pets.zip", class_files({"cats": 3, "dogs": 3}))
    pending = creator.create_pending(DatasetRequest(name="pets", tenant_id=None, display_names={"cats": "cat"}), upload_of(archive))

    assert not archive.exists()
    assert process_pending(creator, pending.id) == "ready"
    assert process_pending(creator, pending.id) == "skipped"
    with sqlite_database.session() as session:
        stored = session.get(type(pending), pending.id)
        assert stored.status == "ready"
        assert {entry["display_name"] for entry in stored.classes} == {"cat", "dogs"}
    assert list(sqlite_settings.uploads_dir.iterdir()) == []


def test_same_idempotency_key_twice_duplicate(sqlite_settings: Settings, sqlite_database: Database, tmp_path: Path) -> None:
    # The second insert stands for a concurrent retry that missed the first one's key when it looked.
    creator = DatasetCreator(sqlite_database, sqlite_settings)
    archive = write_zip(tmp_path / "pets.zip", class_files({"cats": 3, "dogs": 3}))
    request = DatasetRequest(name="pets", tenant_id=None, display_names={}, idempotency_key="retry-1")
    first = creator.create_ready(request, upload_of(archive))

    with pytest.raises(dataset_store.DuplicateRowError):
        creator.create_ready(request, upload_of(archive))
    assert creator.find_replay(request, upload_of(archive)).id == first.id
    with sqlite_database.session() as session:
        assert session.scalar(select(func.count()).select_from(Dataset)) == 1
