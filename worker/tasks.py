"""Celery task declarations. Messages carry only a job id, because the database stores the job itself."""

from __future__ import annotations

import logging

from core.broker import RUN_JOB_TASK
from worker.app import celery_app
from worker.runner import run_job as run_job_now

logger = logging.getLogger(__name__)


@celery_app.task(
    name=RUN_JOB_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=0,
)
def run_job(job_id: str) -> None:
    """Claim and train one job; a copy of a message for a job already claimed returns at once."""
    run_job_now(job_id)
