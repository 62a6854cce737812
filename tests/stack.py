"""Start the service as real processes for end-to-end tests: API, worker, or `flyp serve`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
TERMINAL_STATES = ("succeeded", "failed", "cancelled")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def service_environment(data_dir: Path, **settings: str) -> dict[str, str]:
    """Return an environment for service processes, with FLYP_ settings given as keyword arguments."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("FLYP_")}
    environment.update(
        PYTHONPATH=str(REPO_ROOT),
        PYTHONUNBUFFERED="1",
        FLYP_DATA_DIR=str(data_dir),
        FLYP_LOG_LEVEL="INFO",
        FLYP_TORCH_THREADS="1",
    )
    environment.update({f"FLYP_{key.upper()}": value for key, value in settings.items()})
    return environment


class Process:
    """A child process whose output goes to a log file that failing tests print."""

    def __init__(self, name: str, arguments: list[str], environment: dict[str, str], log_dir: Path) -> None:
        self.name = name
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "cli", *arguments],
            cwd=REPO_ROOT,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self._log.close()

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crashed machine would end it."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()


def run_cli(arguments: list[str], environment: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "cli", *arguments], cwd=REPO_ROOT, env=environment, check=True, timeout=120)


def wait_until_healthy(base_url: str, processes: list[Process], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.name} exited with {process.popen.returncode}:\n{process.log_text()[-4000:]}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the API at {base_url} did not become healthy within {timeout} s")


class Stack:
    """A running service: its base URL, its processes and an HTTP client."""

    def __init__(self, base_url: str, processes: list[Process], environment: dict[str, str], log_dir: Path) -> None:
        self.base_url = base_url
        self.processes = processes
        self.environment = environment
        self.log_dir = log_dir
        self.client = httpx.Client(base_url=base_url, timeout=120)

    def logs(self) -> str:
        return "\n".join(f"===== {process.name} =====\n{process.log_text()[-6000:]}" for process in self.processes)

    def wait_for_job(self, job_id: str, timeout: float = 400) -> dict:
        """Poll a job until it reaches a terminal state and return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.client.get(f"/v1/jobs/{job_id}").json()
            if job["status"] in TERMINAL_STATES:
                return job
            time.sleep(0.5)
        raise AssertionError(f"job {job_id} did not finish within {timeout} s; last status {job['status']}\n{self.logs()}")

    def close(self) -> None:
        self.client.close()
        for process in reversed(self.processes):
            process.stop()


@contextmanager
def distributed_stack(data_dir: Path, *, database_url: str, broker_url: str, queue: str, workers: int = 1, **settings: str) -> Iterator[Stack]:
    """Run migrations, then an API process and `workers` worker processes against PostgreSQL and Redis."""
    environment = service_environment(data_dir, database_url=database_url, broker_url=broker_url, queue=queue, **settings)
    run_cli(["db", "upgrade"], environment)
    port = free_port()
    processes = [Process(f"worker-{index}", ["worker"], environment, data_dir) for index in range(workers)]
    processes.append(Process("api", ["api", "--port", str(port)], environment, data_dir))
    stack = Stack(f"http://127.0.0.1:{port}", processes, environment, data_dir)
    try:
        wait_until_healthy(stack.base_url, processes)
        yield stack
    finally:
        stack.close()


@contextmanager
def embedded_stack(data_dir: Path, **settings: str) -> Iterator[Stack]:
    """Run `flyp serve` as a user would: SQLite and the filesystem queue under `data_dir`."""
    environment = service_environment(data_dir, **settings)
    port = free_port()
    process = Process("serve", ["serve", "--port", str(port)], environment, data_dir)
    stack = Stack(f"http://127.0.0.1:{port}", [process], environment, data_dir)
    try:
        wait_until_healthy(stack.base_url, [process])
        yield stack
    finally:
        stack.close()
