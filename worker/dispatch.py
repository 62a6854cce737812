"""Sends training and ingest tasks from a worker's parent process, with connections of its own.

The reaper uses this instead of the worker's Celery app, so its publishes never share the
connections and event loop of the worker's consumer.
"""

from __future__ import annotations

import logging

from celery import Celery

from core.broker import INGEST_DATASET_TASK, RUN_JOB_TASK, celery_config
from core.settings import Settings

logger = logging.getLogger(__name__)


class JobSender:
    def __init__(self, settings: Settings) -> None:
        self.queue = settings.queue
        self.celery = Celery("flyp-reaper", set_as_current=False)
        self.celery.conf.update(celery_config(settings))

    def send(self, job_id: str) -> None:
        """Send the job's message; raises the broker's error when it cannot be reached."""
        self.celery.send_task(RUN_JOB_TASK, args=[job_id], queue=self.queue)
        logger.info("job.dispatched job_id=%s queue=%s sender=reaper", job_id, self.queue)

    def send_dataset(self, dataset_id: str) -> None:
        """Send the dataset's ingest message; raises the broker's error when it cannot be reached."""
        self.celery.send_task(INGEST_DATASET_TASK, args=[dataset_id], queue=self.queue)
        logger.info("dataset.dispatched dataset_id=%s queue=%s sender=reaper", dataset_id, self.queue)

    def close(self) -> None:
        self.celery.close()
