"""The Celery task that ingests a dataset upload off the request. Messages carry only the dataset id."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from celery.exceptions import SoftTimeLimitExceeded

from core.broker import INGEST_DATASET_TASK
from core.datasets.creation import DatasetCreator
from core.datasets.processing import process_pending
from core.store import datasets as dataset_store
from core.store.db import Database
from worker.app import celery_app
from worker.context import get_database, settings

logger = logging.getLogger(__name__)

# Ingest reads each file once and decodes each image once, so even an archive at the default
# upload and member limits (2 GiB, 100,000 entries) is expected to finish far sooner. A soft
# limit lets the task fail the dataset with a reason; a hard kill would make the broker
# redeliver the same message.
INGEST_SOFT_TIME_LIMIT_SECONDS = 4 * 3600


@celery_app.task(
    name=INGEST_DATASET_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=0,
    soft_time_limit=INGEST_SOFT_TIME_LIMIT_SECONDS,
)
def ingest_dataset(dataset_id: str) -> None:
    """Ingest a processing dataset's upload and mark it ready or failed; other states return at once."""
    config = settings()
    creator = DatasetCreator(get_database(), config)
    interval = max(1.0, min(60.0, config.redispatch_after / 4))
    with _heartbeat(creator.database, dataset_id, interval):
        status = process_pending(creator, dataset_id, timeout_errors=(SoftTimeLimitExceeded,))
    logger.info("dataset.task.done dataset_id=%s status=%s", dataset_id, status)


@contextmanager
def _heartbeat(database: Database, dataset_id: str, interval: float) -> Iterator[None]:
    """Touch the processing dataset's row every `interval` seconds, so no reaper resends its message."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            try:
                with database.session() as session:
                    if not dataset_store.touch_processing(session, dataset_id):
                        return
            except Exception:  # noqa: BLE001 - a missed beat only risks one duplicate message
                logger.warning("dataset.heartbeat_failed dataset_id=%s", dataset_id, exc_info=True)

    thread = threading.Thread(target=beat, name=f"flyp-ingest-heartbeat-{dataset_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
