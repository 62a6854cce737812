"""The reaper's database side against PostgreSQL: lost leases, attempts, resends and queue order."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from core.store import jobs as job_store
from core.store import reaping
from core.store.db import Database
from core.store.tables import Job, JobEvent, Model
from core.store.types import utcnow
from tests.store_fixtures import database, insert_dataset, insert_job  # noqa: F401

MAX_ATTEMPTS = 3


def _job(database: Database, job_id: str) -> Job:
    with database.session() as session:
        return session.get(Job, job_id)


def _claim(database: Database, job_id: str, worker_id: str) -> bool:
    with database.session() as session:
        return job_store.claim_job(session, job_id, worker_id=worker_id, lease_seconds=60, max_attempts=MAX_ATTEMPTS)


def _expire(database: Database, job_id: str) -> None:
    """Move the lease into the past, as if the worker had stopped renewing it a while ago."""
    with database.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=utcnow() - timedelta(seconds=5)))


def _lost(database: Database, job_id: str) -> reaping.LostJob:
    with database.session() as session:
        return next(lost for lost in reaping.find_lost_jobs(session) if lost.id == job_id)


def _event_names(database: Database, job_id: str) -> list[str]:
    with database.session() as session:
        rows = session.scalars(select(JobEvent.data).where(JobEvent.job_id == job_id).order_by(JobEvent.id))
        return [data.get("event", data.get("status", "")) for data in rows]


def test_lost_job_requeued_once(database: Database) -> None:
    job_id = insert_job(database, insert_dataset(database))
    assert _claim(database, job_id, "a")
    _expire(database, job_id)
    lost = _lost(database, job_id)

    with database.session() as session:
        first = reaping.requeue_lost_job(session, lost, max_attempts=MAX_ATTEMPTS, redispatch_after=600)
    with database.session() as session:
        second = reaping.requeue_lost_job(session, lost, max_attempts=MAX_ATTEMPTS, redispatch_after=600)

    assert first is True
    assert second is False
    job = _job(database, job_id)
    assert job.status == "queued"
    assert job.worker_id is None
    assert job.attempt == 1
    assert "requeued" in _event_names(database, job_id)


def test_requeued_job_claimed_as_next_attempt(database: Database) -> None:
    job_id = insert_job(database, insert_dataset(database))
    assert _claim(database, job_id, "a")
    _expire(database, job_id)
    with database.session() as session:
        assert reaping.requeue_lost_job(session, _lost(database, job_id), max_attempts=MAX_ATTEMPTS, redispatch_after=600)

    assert _claim(database, job_id, "b")
    job = _job(database, job_id)
    assert job.worker_id == "b"
    assert job.attempt == 2


def test_renewed_lease_not_requeued(database: Database) -> None:
    job_id = insert_job(database, insert_dataset(database))
    assert _claim(database, job_id, "a")
    _expire(database, job_id)
    lost = _lost(database, job_id)
    # The worker renews after the reaper read the row but before it acted.
    with database.session() as session:
        assert job_store.renew_lease(session, job_id, worker_id="a", lease_seconds=60)

    with database.session() as session:
        assert reaping.requeue_lost_job(session, lost, max_attempts=MAX_ATTEMPTS, redispatch_after=600) is False
    assert _job(database, job_id).status == "running"


def test_last_attempt_lost_fails_job(database: Database) -> None:
    job_id = insert_job(database, insert_dataset(database))
    with database.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(attempt=MAX_ATTEMPTS - 1))
    assert _claim(database, job_id, "a")
    _expire(database, job_id)

    with database.session() as session:
        assert reaping.fail_lost_job(session, _lost(database, job_id), max_attempts=MAX_ATTEMPTS)

    job = _job(database, job_id)
    assert job.status == "failed"
    assert job.error["code"] == "worker_lost"
    assert f"attempt {MAX_ATTEMPTS} of {MAX_ATTEMPTS}" in job.error["message"]
    with database.session() as session:
        assert session.scalar(select(Model.status).where(Model.job_id == job_id)) == "failed"


def test_claim_refuses_expired_last_attempt(database: Database) -> None:
    job_id = insert_job(database, insert_dataset(database))
    with database.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(attempt=MAX_ATTEMPTS - 1))
    assert _claim(database, job_id, "a")
    _expire(database, job_id)

    assert _claim(database, job_id, "b") is False
    assert _job(database, job_id).worker_id == "a"


def test_unclaimed_job_resent_with_backoff(database: Database) -> None:
    job_id = insert_job(database, insert_dataset(database))
    with database.session() as session:
        assert job_id not in {job.id for job in reaping.find_unclaimed_jobs(session)}
    with database.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(redispatch_at=utcnow() - timedelta(seconds=1)))
    with database.session() as session:
        unclaimed = next(job for job in reaping.find_unclaimed_jobs(session) if job.id == job_id)

    with database.session() as session:
        first = reaping.claim_redispatch(session, unclaimed, redispatch_after=600)
    with database.session() as session:
        second = reaping.claim_redispatch(session, unclaimed, redispatch_after=600)

    assert first is True
    assert second is False
    job = _job(database, job_id)
    assert job.dispatch_count == 2
    # The first send was at creation, so the next resend waits 600 s * 2.
    assert job.redispatch_at - utcnow() > timedelta(seconds=1100)


def test_unsent_job_due_at_once(database: Database) -> None:
    job_id = insert_job(database, insert_dataset(database))
    with database.session() as session:
        job_store.mark_unsent(session, job_id, reason="ConnectionRefusedError", announce=True)

    with database.session() as session:
        due = {job.id for job in reaping.find_unclaimed_jobs(session)}
    assert job_id in due
    assert "dispatch_failed" in _event_names(database, job_id)


def test_queue_position_follows_queue_order(database: Database) -> None:
    dataset_id = insert_dataset(database)
    first, second, third = (insert_job(database, dataset_id) for _ in range(3))

    def position(job_id: str) -> int | None:
        with database.session() as session:
            return job_store.queue_position(session, session.get(Job, job_id))

    assert position(second) == position(first) + 1
    assert position(third) == position(second) + 1
    assert _claim(database, first, "a")
    assert position(first) is None
    assert position(third) == position(second) + 1

    # A requeued job goes to the back of the queue.
    _expire(database, first)
    with database.session() as session:
        assert reaping.requeue_lost_job(session, _lost(database, first), max_attempts=MAX_ATTEMPTS, redispatch_after=600)
    assert position(first) == position(third) + 1


def test_abandoned_files_of_ended_jobs(database: Database) -> None:
    dataset_id = insert_dataset(database)
    cancelled, running = insert_job(database, dataset_id), insert_job(database, dataset_id)
    with database.session() as session:
        assert job_store.cancel_job(session, cancelled)
    assert _claim(database, running, "a")

    with database.session() as session:
        found = reaping.abandoned_files(session, [cancelled, running], finished_before=utcnow() + timedelta(seconds=1))
    with database.session() as session:
        too_recent = reaping.abandoned_files(session, [cancelled], finished_before=utcnow() - timedelta(seconds=60))
    assert set(found) == {cancelled}
    assert found[cancelled] == "/nowhere"
    assert too_recent == {}
