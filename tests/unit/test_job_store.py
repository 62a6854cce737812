"""Job state transitions against PostgreSQL: claims, leases and terminal states."""

from __future__ import annotations

import time

from sqlalchemy import select

from core.store import datasets as dataset_store
from core.store import jobs as job_store
from core.store.db import Database
from core.store.tables import Job, JobEvent, Model
from tests.store_fixtures import database, insert_dataset, insert_job  # noqa: F401



def _job(database: Database, job_id: str) -> Job:
    with database.session() as session:
        return session.get(Job, job_id)


def test_claim_only_once(database: Database) -> None:
    job_id = insert_job(database, insert_dataset(database))
    with database.session() as session:
        first = job_store.claim_job(session, job_id, worker_id="a", lease_seconds=60, max_attempts=3)
    with database.session() as session:
        second = job_store.claim_job(session, job_id, worker_id="b", lease_seconds=60, max_attempts=3)
    assert first is True
    assert second is False
    job = _job(database, job_id)
    assert job.status == "running"
    assert job.worker_id == "a"
    assert job.attempt == 1


def test_claim_after_lease_expiry(database: Database) -> None:
    job_id = insert_job(database, insert_dataset(database))
    with database.session() as session:
        assert job_store.claim_job(session, job_id, worker_id="a", lease_seconds=1, max_attempts=3)
    time.sleep(1.2)
    with database.session() as session:
        assert job_store.claim_job(session, job_id, worker_id="b", lease_seconds=60, max_attempts=3)
    job = _job(database, job_id)
    assert job.worker_id == "b"
    assert job.attempt == 2
    with database.session() as session:
        assert job_store.renew_lease(session, job_id, worker_id="a", lease_seconds=60) is False


def test_terminal_state_never_changes(database: Database) -> None:
    job_id = insert_job(database, insert_dataset(database))
    with database.session() as session:
        job_store.claim_job(session, job_id, worker_id="a", lease_seconds=60, max_attempts=3)
    with database.session() as session:
        assert job_store.cancel_job(session, job_id) is True
    with database.session() as session:
        assert job_store.succeed_job(session, job_id, worker_id="a", metrics={"x": 1}, classes=["a"]) is False
    with database.session() as session:
        assert job_store.fail_job(session, job_id, code="c", message="m", worker_id="a") is False
    with database.session() as session:
        assert job_store.renew_lease(session, job_id, worker_id="a", lease_seconds=60, progress={"step": 9}) is False
    job = _job(database, job_id)
    assert job.status == "cancelled"
    assert job.progress is None
    assert job.metrics is None


def test_cancel_finished_job_keeps_status(database: Database) -> None:
    job_id = insert_job(database, insert_dataset(database))
    with database.session() as session:
        job_store.claim_job(session, job_id, worker_id="a", lease_seconds=60, max_attempts=3)
    with database.session() as session:
        assert job_store.succeed_job(session, job_id, worker_id="a", metrics={}, classes=["ants", "bees"])
    with database.session() as session:
        assert job_store.cancel_job(session, job_id) is False
    with database.session() as session:
        model = session.scalar(select(Model).where(Model.job_id == job_id))
        assert model.status == "ready"
        assert model.classes == ["ants", "bees"]


def test_failure_marks_model_failed(database: Database) -> None:
    job_id = insert_job(database, insert_dataset(database))
    with database.session() as session:
        assert job_store.fail_job(session, job_id, code="boom", message="it broke")
    with database.session() as session:
        model = session.scalar(select(Model).where(Model.job_id == job_id))
        events = list(session.scalars(select(JobEvent.message).where(JobEvent.job_id == job_id).order_by(JobEvent.id)))
    assert model.status == "failed"
    assert events == ["Job created and queued.", "Job failed: it broke"]


def test_active_jobs_include_evaluation_use(database: Database) -> None:
    trained_on, evaluated_on, unused = insert_dataset(database), insert_dataset(database), insert_dataset(database)
    job_id = insert_job(database, trained_on, eval_dataset_ids=[evaluated_on])

    with database.session() as session:
        assert dataset_store.active_job_ids(session, trained_on) == [job_id]
        assert dataset_store.active_job_ids(session, evaluated_on) == [job_id]
        assert dataset_store.active_job_ids(session, unused) == []
        assert job_store.cancel_job(session, job_id)
    with database.session() as session:
        assert dataset_store.active_job_ids(session, evaluated_on) == []
