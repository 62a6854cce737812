"""A worker's claim on a job while it trains: lease renewal, and detection of a lost claim.

The worker owns a job while the job row is `running` under its worker id. A background
thread renews the lease; progress and event writes renew it too. Any of them that finds the
job cancelled, failed by the reaper or taken over marks the ownership lost, and the next
training callback raises TrainingStopped.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from core.store import jobs as job_store
from worker.context import get_database

logger = logging.getLogger(__name__)

# Progress is written at most this often; the lease is renewed with every write.
PROGRESS_INTERVAL_SECONDS = 1.0


class Ownership:
    """This worker's claim on one job."""

    def __init__(self, job_id: str, worker_id: str, lease_seconds: int) -> None:
        self.job_id = job_id
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self._lost = threading.Event()
        self._released = threading.Event()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def release(self) -> None:
        """Stop renewing the lease, because this worker is about to write the job's outcome."""
        self._released.set()

    def mark_lost(self, source: str) -> None:
        if not self._lost.is_set():
            logger.info("job.ownership_lost job_id=%s worker_id=%s source=%s", self.job_id, self.worker_id, source)
        self._lost.set()

    def renew(self, progress: dict[str, Any] | None = None) -> bool:
        """Renew the lease, storing `progress` if given; return False once the job is no longer ours."""
        if self.lost:
            return False
        if self._released.is_set():
            return True
        with get_database().session() as session:
            owned = job_store.renew_lease(
                session, self.job_id, worker_id=self.worker_id, lease_seconds=self.lease_seconds, progress=progress
            )
        if not owned:
            self.mark_lost("lease_renewal")
        return owned

    def record_event(self, level: str, message: str, data: dict[str, Any]) -> bool:
        """Add an event to the job; return False, adding nothing, once the job is no longer ours."""
        if self.lost:
            return False
        with get_database().session() as session:
            owned = job_store.add_worker_event(
                session, self.job_id, worker_id=self.worker_id, lease_seconds=self.lease_seconds, level=level, message=message, data=data
            )
        if not owned:
            self.mark_lost("event")
        return owned


class LeaseKeeper:
    """Renew the job's lease from a background thread while a long step or evaluation runs."""

    def __init__(self, ownership: Ownership) -> None:
        self.ownership = ownership
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{ownership.job_id}", daemon=True)

    def __enter__(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        # Three renewals per lease, so one slow database round trip does not lose the job.
        interval = max(0.5, self.ownership.lease_seconds / 3)
        while not self._stop.wait(interval):
            try:
                owned = self.ownership.renew()
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the lease thread
                logger.exception("job.lease.renew_failed job_id=%s worker_id=%s", self.ownership.job_id, self.ownership.worker_id)
                continue
            if not owned:
                return


class JobCallbacks:
    """Training callbacks that store progress and events on the job row while this worker owns it."""

    def __init__(self, ownership: Ownership) -> None:
        self.ownership = ownership
        self._last_write = 0.0

    def on_progress(self, progress: Any) -> None:
        self._stop_if_lost()
        now = time.monotonic()
        last_step = progress.step >= progress.total_steps
        if now - self._last_write < PROGRESS_INTERVAL_SECONDS and not last_step:
            return
        self._last_write = now
        self.ownership.renew(progress_dict(progress))
        self._stop_if_lost()

    def on_event(self, level: str, message: str, data: dict[str, Any]) -> None:
        self._stop_if_lost()
        self.ownership.record_event(level, message, data)
        self._stop_if_lost()

    def _stop_if_lost(self) -> None:
        from core.training import TrainingStopped

        if self.ownership.lost:
            raise TrainingStopped(f"job {self.ownership.job_id} is no longer running under worker {self.ownership.worker_id}")


def progress_dict(progress: Any) -> dict[str, Any]:
    return {
        "epoch": progress.epoch,
        "epochs": progress.epochs,
        "step": progress.step,
        "total_steps": progress.total_steps,
        "loss": progress.loss,
        "learning_rate": progress.learning_rate,
        "images_per_second": progress.images_per_second,
        "eta_seconds": progress.eta_seconds,
    }
