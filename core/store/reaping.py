"""What the reaper changes: jobs whose worker stopped renewing its lease, and queued jobs that no worker claimed.

Every change is a conditional UPDATE on the values the reaper read, so several reapers (one
per worker) can scan at once and each job is requeued, failed or sent again at most once per
observation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.store.jobs import mark_model_failed, add_event
from core.store.tables import CANCELLED, FAILED, QUEUED, RUNNING, Job, Model
from core.store.types import utcnow

# Rows handled per scan; a longer backlog is handled over the following scans.
SCAN_LIMIT = 100
# A job's message is sent again after redispatch_after * 2**n seconds, with n capped here.
MAX_BACKOFF_DOUBLINGS = 6

WORKER_LOST = "worker_lost"


@dataclass(frozen=True)
class LostJob:
    """A running job whose lease expired, as the reaper saw it."""

    id: str
    attempt: int
    worker_id: str | None
    lease_expires_at: datetime


@dataclass(frozen=True)
class UnclaimedJob:
    """A queued job whose message is due to be sent again."""

    id: str
    dispatch_count: int


def find_lost_jobs(session: Session) -> list[LostJob]:
    rows = session.execute(
        select(Job.id, Job.attempt, Job.worker_id, Job.lease_expires_at)
        .where(Job.status == RUNNING, Job.lease_expires_at < utcnow())
        .order_by(Job.lease_expires_at)
        .limit(SCAN_LIMIT)
    )
    return [LostJob(id=row.id, attempt=row.attempt, worker_id=row.worker_id, lease_expires_at=row.lease_expires_at) for row in rows]


def requeue_lost_job(session: Session, lost: LostJob, *, max_attempts: int, redispatch_after: int) -> bool:
    """Put a lost job back in the queue for its next attempt; the caller then sends its message."""
    now = utcnow()
    result = session.execute(
        update(Job)
        .where(*_still_lost(lost, now))
        .values(
            status=QUEUED,
            worker_id=None,
            lease_expires_at=None,
            queued_at=now,
            dispatch_count=Job.dispatch_count + 1,
            redispatch_at=now + timedelta(seconds=redispatch_after),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    add_event(
        session,
        lost.id,
        "warning",
        f"Worker {lost.worker_id} stopped renewing its lease during attempt {lost.attempt} of {max_attempts}; "
        "the job is queued again and resumes from its last saved epoch checkpoint.",
        {"event": "requeued", "status": QUEUED, "attempt": lost.attempt, "worker_id": lost.worker_id},
    )
    return True


def fail_lost_job(session: Session, lost: LostJob, *, max_attempts: int) -> bool:
    """Fail a lost job that has used all its attempts."""
    now = utcnow()
    message = (
        f"The job's worker stopped responding in attempt {lost.attempt} of {max_attempts}, the last one allowed "
        "(a crashed or killed worker process, often for using too much memory, or a lost machine). "
        "The worker log has the details; start a new job, with a smaller batch_size if the worker ran out of memory."
    )
    result = session.execute(
        update(Job)
        .where(*_still_lost(lost, now))
        .values(
            status=FAILED,
            error={"code": WORKER_LOST, "message": message},
            lease_expires_at=None,
            finished_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    mark_model_failed(session, lost.id)
    add_event(session, lost.id, "error", f"Job failed: {message}", {"status": FAILED, "code": WORKER_LOST, "attempt": lost.attempt})
    return True


def _still_lost(lost: LostJob, now: datetime) -> tuple:
    # The same attempt must still be running with an expired lease: a job that its worker
    # renewed, or that another reaper already handled, is left alone.
    return (Job.id == lost.id, Job.status == RUNNING, Job.attempt == lost.attempt, Job.lease_expires_at < now)


def find_unclaimed_jobs(session: Session) -> list[UnclaimedJob]:
    rows = session.execute(
        select(Job.id, Job.dispatch_count)
        .where(Job.status == QUEUED, Job.redispatch_at <= utcnow())
        .order_by(Job.redispatch_at)
        .limit(SCAN_LIMIT)
    )
    return [UnclaimedJob(id=row.id, dispatch_count=row.dispatch_count) for row in rows]


def claim_redispatch(session: Session, job: UnclaimedJob, *, redispatch_after: int) -> bool:
    """Take the right to send a queued job's message again, and schedule the next resend.

    The wait before the next resend doubles each time, so a job that waits a long time behind
    others adds only a few duplicate messages. A worker skips each duplicate after one
    rejected claim.
    """
    now = utcnow()
    backoff = redispatch_after * 2 ** min(job.dispatch_count, MAX_BACKOFF_DOUBLINGS)
    result = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status == QUEUED, Job.dispatch_count == job.dispatch_count, Job.redispatch_at <= now)
        .values(dispatch_count=job.dispatch_count + 1, redispatch_at=now + timedelta(seconds=backoff), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def record_redispatch(session: Session, job: UnclaimedJob) -> None:
    add_event(
        session,
        job.id,
        "info",
        "No worker had claimed the job; its message was sent to the queue again.",
        {"event": "redispatched", "dispatch_count": job.dispatch_count + 1},
    )


def abandoned_files(session: Session, job_ids: list[str], *, finished_before: datetime) -> dict[str, str | None]:
    """Return the model directory of each failed or cancelled job among `job_ids` that finished before `finished_before`.

    Their work directories, and model directories, hold partial files that the job's worker
    did not remove, for example because it was dead when the job was cancelled.
    """
    if not job_ids:
        return {}
    rows = session.execute(
        select(Job.id, Model.storage_dir)
        .outerjoin(Model, Model.id == Job.model_id)
        .where(Job.id.in_(job_ids), Job.status.in_((FAILED, CANCELLED)), Job.finished_at < finished_before)
    )
    return {row.id: row.storage_dir for row in rows}
