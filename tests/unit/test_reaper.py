"""One reaper scan against PostgreSQL, with the broker replaced by a recorder or a failure."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from core.settings import Settings
from core.store import datasets as dataset_store
from core.store import jobs as job_store
from core.store.db import Database
from core.store.tables import Dataset, Job, Model
from core.store.types import utcnow
from tests.store_fixtures import database, insert_dataset, insert_job  # noqa: F401
from worker.reaper import Reaper


class RecordingBroker:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, job_id: str) -> None:
        self.sent.append(job_id)


def _refuse(job_id: str) -> None:
    raise ConnectionRefusedError(f"broker down while sending {job_id}")


@pytest.fixture()
def settings(tmp_path: Path, postgres_url: str) -> Settings:
    return Settings(data_dir=tmp_path, database_url=postgres_url, lease_seconds=60, max_attempts=2, redispatch_after=600)


def _lost_job(database: Database, *, attempt: int) -> str:
    job_id = insert_job(database, insert_dataset(database))
    with database.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(attempt=attempt - 1))
        assert job_store.claim_job(session, job_id, worker_id="dead", lease_seconds=60, max_attempts=9)
        session.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    return job_id


def _job(database: Database, job_id: str) -> Job:
    with database.session() as session:
        return session.get(Job, job_id)


def test_scan_requeues_and_sends(database: Database, settings: Settings) -> None:
    job_id = _lost_job(database, attempt=1)
    broker = RecordingBroker()

    Reaper(settings, database, broker.send).scan()

    assert _job(database, job_id).status == "queued"
    assert broker.sent.count(job_id) == 1


def test_scan_fails_last_attempt(database: Database, settings: Settings) -> None:
    job_id = _lost_job(database, attempt=settings.max_attempts)
    broker = RecordingBroker()

    Reaper(settings, database, broker.send).scan()

    job = _job(database, job_id)
    assert job.status == "failed"
    assert job.error["code"] == "worker_lost"
    assert job_id not in broker.sent


def test_scan_retries_after_broker_failure(database: Database, settings: Settings) -> None:
    job_id = _lost_job(database, attempt=1)
    Reaper(settings, database, _refuse).scan()
    assert _job(database, job_id).redispatch_at <= utcnow()

    broker = RecordingBroker()
    Reaper(settings, database, broker.send).scan()

    assert broker.sent.count(job_id) == 1
    assert _job(database, job_id).redispatch_at > utcnow()


def test_scan_removes_abandoned_files(database: Database, settings: Settings) -> None:
    job_id = insert_job(database, insert_dataset(database))
    model_dir = settings.models_dir / "model_abandoned"
    work_dir = settings.jobs_dir / job_id
    for directory in (model_dir, work_dir / "checkpoints"):
        directory.mkdir(parents=True)
    with database.session() as session:
        session.execute(update(Model).where(Model.job_id == job_id).values(storage_dir=str(model_dir)))
        assert job_store.cancel_job(session, job_id)
        session.execute(update(Job).where(Job.id == job_id).values(finished_at=utcnow() - timedelta(hours=1)))

    Reaper(settings, database, RecordingBroker().send).scan()

    assert not work_dir.exists()
    assert not model_dir.exists()


def test_scan_keeps_files_of_running_job(database: Database, settings: Settings) -> None:
    job_id = insert_job(database, insert_dataset(database))
    with database.session() as session:
        assert job_store.claim_job(session, job_id, worker_id="alive", lease_seconds=60, max_attempts=2)
    work_dir = settings.jobs_dir / job_id / "checkpoints"
    work_dir.mkdir(parents=True)

    Reaper(settings, database, RecordingBroker().send).scan()

    assert work_dir.is_dir()


def _processing_dataset(database: Database, *, idle_seconds: int) -> str:
    dataset_id = insert_dataset(database)
    with database.session() as session:
        session.execute(
            update(Dataset)
            .where(Dataset.id == dataset_id)
            .values(status="processing", updated_at=utcnow() - timedelta(seconds=idle_seconds))
        )
    return dataset_id


def test_scan_resends_stale_dataset_ingest(database: Database, settings: Settings) -> None:
    stale_id = _processing_dataset(database, idle_seconds=601)
    busy_id = _processing_dataset(database, idle_seconds=5)
    jobs, datasets = RecordingBroker(), RecordingBroker()
    reaper = Reaper(settings, database, jobs.send, send_dataset=datasets.send)

    reaper.scan()
    reaper.scan()  # the first resend touched the row, so the second scan leaves it alone

    assert datasets.sent.count(stale_id) == 1
    assert busy_id not in datasets.sent
    with database.session() as session:
        assert session.get(Dataset, stale_id).updated_at > utcnow() - timedelta(seconds=60)


def test_ingest_heartbeat_keeps_dataset_fresh(database: Database, settings: Settings) -> None:
    dataset_id = _processing_dataset(database, idle_seconds=601)
    with database.session() as session:
        assert dataset_store.touch_processing(session, dataset_id)
    datasets = RecordingBroker()

    Reaper(settings, database, RecordingBroker().send, send_dataset=datasets.send).scan()

    assert dataset_id not in datasets.sent


def test_touch_stops_once_dataset_is_ready(database: Database) -> None:
    dataset_id = insert_dataset(database)
    with database.session() as session:
        assert not dataset_store.touch_processing(session, dataset_id)
