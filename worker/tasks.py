"""Celery task declarations. Messages carry only a job id, because the database stores the job itself."""

from __future__ import annotations

import logging

from celery.signals import worker_process_init

# Imported in the parent so each forked child starts with torch, open_clip and the engine
# already loaded. Importing torch does not initialise CUDA; only the children touch the GPU.
import core.training  # noqa: F401
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


@worker_process_init.connect
def _prepare_child_process(**_kwargs: object) -> None:
    """Give each forked child its own database connections and thread settings."""
    from worker.context import get_database, settings

    get_database.cache_clear()
    threads = settings().torch_threads
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
