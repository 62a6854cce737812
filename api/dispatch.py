"""Sends training and dataset ingest tasks to the workers. Messages carry only an id."""

from __future__ import annotations

import logging

from celery import Celery

from core.broker import INGEST_DATASET_TASK, RUN_JOB_TASK, celery_config
from core.settings import Settings

logger = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, settings: Settings) -> None:
        self.queue = settings.queue
        self.celery = Celery("flyp-api", set_as_current=False)
        self.celery.conf.update(celery_config(settings))

    def send_job(self, job_id: str) -> None:
        """Send the job's message; raises the broker's error when it cannot be reached."""
        self.celery.send_task(RUN_JOB_TASK, args=[job_id], queue=self.queue)
        logger.info("job.dispatched job_id=%s queue=%s", job_id, self.queue)

    def send_dataset(self, dataset_id: str) -> None:
        self.celery.send_task(INGEST_DATASET_TASK, args=[dataset_id], queue=self.queue)
        logger.info("dataset.dispatched dataset_id=%s queue=%s", dataset_id, self.queue)

    def close(self) -> None:
        self.celery.close()
