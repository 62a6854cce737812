"""A large upload whose ingest task cannot be queued: the dataset fails and the caller gets 503."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.dataset_upload import ServiceUnavailableError, create_dataset
from api.dispatch import Dispatcher
from core.datasets.creation import DatasetCreator, DatasetRequest, Upload
from core.ingest.pipeline import sha256_file
from core.settings import Settings
from core.store.db import Database
from core.store.migrate import upgrade
from core.store.tables import Dataset
from tests.unit.archive_builders import class_files, write_zip


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Nothing listens on port 1, so publishing to this broker fails like a broker that is down.
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'flyp.db'}",
        broker_url="redis://127.0.0.1:1/0",
        ingest_inline_max_bytes=0,
    )
    settings.ensure_dirs()
    upgrade(settings.resolved_database_url)
    return settings


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    database = Database(settings.resolved_database_url)
    yield database
    database.dispose()


def test_unqueued_upload_fails_503(settings: Settings, database: Database) -> None:
    archive = write_zip(settings.uploads_dir / "upload-test.part", class_files({"cats": 3, "dogs": 3}))
    upload = Upload(path=archive, size=archive.stat().st_size, sha256=sha256_file(archive))
    dispatcher = Dispatcher(settings)
    dispatcher.celery.conf.broker_connection_max_retries = 1
    dispatcher.celery.conf.broker_transport_options = {"max_retries": 1}
    try:
        with pytest.raises(ServiceUnavailableError) as caught:
            create_dataset(DatasetCreator(database, settings), dispatcher, DatasetRequest(name="pets", tenant_id=None, display_names={}), upload)
    finally:
        dispatcher.close()

    assert caught.value.http_status == 503
    assert caught.value.code == "broker_unavailable"
    with database.session() as session:
        dataset = session.query(Dataset).one()
        assert dataset.status == "failed"
        assert dataset.error["code"] == "broker_unavailable"
        assert dataset.storage_dir is None
    assert list(settings.uploads_dir.iterdir()) == []
