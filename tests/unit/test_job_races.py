"""A cancel racing a progress or event write from the worker, against PostgreSQL row locks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import select, text

from core.store import jobs as job_store
from core.store.db import Database
from core.store.tables import Job, JobEvent
from tests.store_fixtures import database, insert_dataset, insert_job  # noqa: F401

LOCK_WAIT_TIMEOUT = 20.0


def _running_job(database: Database) -> str:
    job_id = insert_job(database, insert_dataset(database))
    with database.session() as session:
        assert job_store.claim_job(session, job_id, worker_id="a", lease_seconds=60, max_attempts=3)
    return job_id


def _wait_for_lock_waiter(database: Database) -> None:
    """Return once another connection of this database waits on a row lock."""
    deadline = time.monotonic() + LOCK_WAIT_TIMEOUT
    while time.monotonic() < deadline:
        with database.engine.connect() as connection:
            waiting = connection.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
            )
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError("the second transaction never waited for the row lock")


def _in_thread(action: Callable[[], object]) -> tuple[threading.Thread, dict[str, object]]:
    result: dict[str, object] = {}
    thread = threading.Thread(target=lambda: result.update(value=action()))
    thread.start()
    return thread, result


def _cancel(database: Database, job_id: str) -> bool:
    with database.session() as session:
        return job_store.cancel_job(session, job_id)


def _write_progress(database: Database, job_id: str) -> bool:
    with database.session() as session:
        return job_store.renew_lease(session, job_id, worker_id="a", lease_seconds=60, progress={"step": 7})


def test_cancel_waits_for_progress_write(database: Database) -> None:
    job_id = _running_job(database)
    with database.session() as worker_session:
        assert job_store.renew_lease(worker_session, job_id, worker_id="a", lease_seconds=60, progress={"step": 6})
        thread, result = _in_thread(lambda: _cancel(database, job_id))
        _wait_for_lock_waiter(database)
    thread.join()

    assert result["value"] is True
    assert _write_progress(database, job_id) is False
    with database.session() as session:
        job = session.get(Job, job_id)
    assert job.status == "cancelled"
    assert job.progress == {"step": 6}


def test_progress_write_after_cancel_rejected(database: Database) -> None:
    job_id = _running_job(database)
    with database.session() as cancel_session:
        assert job_store.cancel_job(cancel_session, job_id)
        thread, result = _in_thread(lambda: _write_progress(database, job_id))
        _wait_for_lock_waiter(database)
    thread.join()

    assert result["value"] is False
    with database.session() as session:
        job = session.get(Job, job_id)
    assert job.status == "cancelled"
    assert job.progress is None
    assert job.lease_expires_at is None


def test_event_after_cancel_not_recorded(database: Database) -> None:
    job_id = _running_job(database)
    with database.session() as cancel_session:
        assert job_store.cancel_job(cancel_session, job_id)
        thread, result = _in_thread(lambda: _record_event(database, job_id))
        _wait_for_lock_waiter(database)
    thread.join()

    assert result["value"] is False
    with database.session() as session:
        messages = list(session.scalars(select(JobEvent.message).where(JobEvent.job_id == job_id).order_by(JobEvent.id)))
    assert messages[-1] == "Job cancelled."
    assert "epoch 1/3" not in messages


def _record_event(database: Database, job_id: str) -> bool:
    with database.session() as session:
        return job_store.add_worker_event(session, job_id, worker_id="a", lease_seconds=60, level="info", message="epoch 1/3", data={})
