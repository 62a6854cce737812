"""Tools for fault tests: a database and a Redis server of a test's own, waits, and job lookups."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import redis

from tests.conftest import POSTGRES_ADMIN_URL
from tests.stack import Process, Stack, free_port, wait_until_healthy

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@contextmanager
def own_database() -> Iterator[str]:
    """Create an empty PostgreSQL database, so the reaper of this stack finds only the jobs of this stack."""
    name = f"flyp_fault_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class RedisServer:
    """A redis-server without persistence on a free port, which a test may stop and start again."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_path = log_dir / f"redis-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        arguments = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(arguments, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._answers, 30, f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        """Kill the server; every queued and unacknowledged message is lost with it."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False


def wait_for(condition: Callable[[], Any], timeout: float, message: str, interval: float = 0.2) -> Any:
    """Return the first true value of `condition()`, or fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(message)


def events(stack: Stack, job_id: str) -> list[dict]:
    found, after = [], None
    while True:
        params = {"limit": 1000} if after is None else {"limit": 1000, "after": after}
        page = stack.client.get(f"/v1/jobs/{job_id}/events", params=params).json()
        found += page["data"]
        if not page["has_more"]:
            return found
        after = page["data"][-1]["id"]


def event_kinds(stack: Stack, job_id: str) -> list[str]:
    """The `event` or `status` of each of the job's events, oldest first."""
    return [event["data"].get("event") or event["data"].get("status") or "" for event in events(stack, job_id)]


def models_of(stack: Stack, job_id: str) -> list[dict]:
    models = stack.client.get("/v1/models", params={"limit": 100}).json()["data"]
    return [model for model in models if model["job_id"] == job_id]


def data_dir(stack: Stack) -> Path:
    return Path(stack.environment["FLYP_DATA_DIR"])


def dataset_storage_dir(stack: Stack, dataset_id: str) -> Path:
    """Return the directory the stack stored the dataset's images in, as its database records it."""
    from core.store.db import Database
    from core.store.tables import Dataset

    database = Database(stack.environment["FLYP_DATABASE_URL"])
    try:
        with database.session() as session:
            dataset = session.get(Dataset, dataset_id)
            assert dataset is not None and dataset.storage_dir, f"dataset {dataset_id} has no storage directory"
            return Path(dataset.storage_dir)
    finally:
        database.dispose()


def checkpoint_written(stack: Stack, job_id: str, epoch: int) -> bool:
    return (data_dir(stack) / "jobs" / job_id / "checkpoints" / f"epoch-{epoch:04d}.pt").is_file()


def start_process(stack: Stack, name: str, arguments: list[str]) -> Process:
    process = Process(name, arguments, stack.environment, stack.log_dir)
    stack.processes.insert(0, process)
    return process


def restart_api(stack: Stack) -> Process:
    """SIGKILL the API process and start a new one on the same port."""
    api = next(process for process in stack.processes if process.name.startswith("api") and process.popen.poll() is None)
    api.kill()
    port = stack.base_url.rsplit(":", 1)[1]
    replacement = start_process(stack, f"api-after-{api.name}", ["api", "--port", port])
    wait_until_healthy(stack.base_url, [replacement])
    return replacement


def worker_pid(job: dict | str) -> int:
    """Return the pid in a worker id `host:pid:suffix`."""
    worker_id = job if isinstance(job, str) else job["worker_id"]
    return int(worker_id.split(":")[1])
