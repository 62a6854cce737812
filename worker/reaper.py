"""The reaper: a thread in each worker's parent process that recovers jobs no live worker owns.

Every `FLYP_REAPER_INTERVAL` seconds it

- requeues each running job whose lease expired (its worker died) and sends its message
  again, so the next attempt resumes from the last epoch checkpoint; a job that has used
  `FLYP_MAX_ATTEMPTS` attempts fails with the code `worker_lost` instead;
- sends the message again for each queued job that no worker claimed by its `redispatch_at`,
  because a message can be lost (the broker was down at submit time, Redis restarted
  without persistence, the filesystem queue was deleted);
- sends the ingest message again for each processing dataset whose row no worker has touched
  for `FLYP_REDISPATCH_AFTER` seconds (a worker that ingests touches it every
  quarter of that interval, and at least once a minute);
- removes the work and model directories that failed or cancelled jobs left behind.

Several workers each run a reaper; every change is a conditional UPDATE, so at most one of
them acts on each observation.
"""

from __future__ import annotations

import logging
import shutil
import threading
from datetime import timedelta
from pathlib import Path
from typing import Callable

from core.settings import Settings
from core.store import datasets as dataset_store
from core.store import jobs as job_store
from core.store import reaping
from core.store.db import Database
from core.store.types import utcnow

logger = logging.getLogger(__name__)

# Work directories checked for abandoned files per scan.
MAX_DIRECTORIES_PER_SCAN = 500


class Reaper:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        send: Callable[[str], None],
        *,
        send_dataset: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.send = send
        self.send_dataset = send_dataset
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flyp-reaper", daemon=True)

    def start(self) -> None:
        logger.info("reaper.start interval=%s lease_seconds=%d max_attempts=%d", self.settings.reaper_interval, self.settings.lease_seconds, self.settings.max_attempts)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        logger.info("reaper.stop")

    def _run(self) -> None:
        while True:
            self.scan()
            if self._stop.wait(self.settings.reaper_interval):
                return

    def scan(self) -> None:
        """Run each step once; a failing step is logged and retried at the next scan."""
        steps = (self.reap_lost_jobs, self.redispatch_unclaimed_jobs, self.redispatch_stale_datasets, self.remove_abandoned_files)
        for step in steps:
            try:
                step()
            except Exception:  # noqa: BLE001 - the reaper must survive a database or broker outage
                logger.exception("reaper.step_failed step=%s", step.__name__)

    def reap_lost_jobs(self) -> None:
        with self.database.session() as session:
            lost_jobs = reaping.find_lost_jobs(session)
        for lost in lost_jobs:
            if lost.attempt < self.settings.max_attempts:
                self._requeue(lost)
            else:
                self._fail(lost)

    def _requeue(self, lost: reaping.LostJob) -> None:
        with self.database.session() as session:
            requeued = reaping.requeue_lost_job(
                session, lost, max_attempts=self.settings.max_attempts, redispatch_after=self.settings.redispatch_after
            )
        if requeued:
            logger.warning("job.requeued job_id=%s attempt=%d worker_id=%s lease_expired_at=%s", lost.id, lost.attempt, lost.worker_id, lost.lease_expires_at)
            self._send(lost.id)

    def _fail(self, lost: reaping.LostJob) -> None:
        with self.database.session() as session:
            failed = reaping.fail_lost_job(session, lost, max_attempts=self.settings.max_attempts)
        if failed:
            logger.warning("job.failed job_id=%s code=%s attempt=%d worker_id=%s", lost.id, reaping.WORKER_LOST, lost.attempt, lost.worker_id)

    def redispatch_unclaimed_jobs(self) -> None:
        with self.database.session() as session:
            unclaimed = reaping.find_unclaimed_jobs(session)
        for job in unclaimed:
            with self.database.session() as session:
                claimed = reaping.claim_redispatch(session, job, redispatch_after=self.settings.redispatch_after)
            if claimed and self._send(job.id):
                logger.info("job.redispatched job_id=%s dispatch_count=%d", job.id, job.dispatch_count + 1)
                with self.database.session() as session:
                    reaping.record_redispatch(session, job)

    def redispatch_stale_datasets(self) -> None:
        if self.send_dataset is None:
            return
        with self.database.session() as session:
            stale = dataset_store.find_stale_processing(session, idle_seconds=self.settings.redispatch_after)
        for dataset in stale:
            with self.database.session() as session:
                claimed = dataset_store.claim_stale_processing(session, dataset)
            if not claimed:
                continue
            try:
                self.send_dataset(dataset.id)
            except Exception as error:  # noqa: BLE001 - any broker failure: resent once the row is stale again
                logger.warning("dataset.dispatch_failed dataset_id=%s sender=reaper error=%r", dataset.id, error)
                continue
            logger.warning("dataset.redispatched dataset_id=%s idle_since=%s", dataset.id, dataset.updated_at)

    def _send(self, job_id: str) -> bool:
        try:
            self.send(job_id)
        except Exception as error:  # noqa: BLE001 - any broker failure: retry at the next scan
            logger.warning("job.dispatch_failed job_id=%s sender=reaper error=%r", job_id, error)
            with self.database.session() as session:
                job_store.mark_unsent(session, job_id, reason=f"{type(error).__name__}: {error}", announce=False)
            return False
        return True

    def remove_abandoned_files(self) -> None:
        # A stopping worker removes its files within a lease or two; older ones are abandoned.
        finished_before = utcnow() - timedelta(seconds=2 * self.settings.lease_seconds)
        directories = _job_directories(self.settings.jobs_dir)
        with self.database.session() as session:
            abandoned = reaping.abandoned_files(session, list(directories), finished_before=finished_before)
        for job_id, model_dir in abandoned.items():
            shutil.rmtree(directories[job_id], ignore_errors=True)
            if model_dir:
                shutil.rmtree(model_dir, ignore_errors=True)
            logger.info("job.abandoned_files_removed job_id=%s work_dir=%s model_dir=%s", job_id, directories[job_id], model_dir)


def _job_directories(jobs_dir: Path) -> dict[str, Path]:
    if not jobs_dir.is_dir():
        return {}
    found: dict[str, Path] = {}
    for path in jobs_dir.iterdir():
        if path.name.startswith("job_") and path.is_dir():
            found[path.name] = path
        if len(found) >= MAX_DIRECTORIES_PER_SCAN:
            break
    return found
