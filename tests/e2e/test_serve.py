"""`flyp serve` as a process: its worker lives and dies with it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.stack import Process, free_port, service_environment, wait_until_healthy

pytestmark = pytest.mark.e2e


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(entry.name))
    return children


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_stops_worker(tmp_path: Path) -> None:
    port = free_port()
    serve = Process("serve", ["serve", "--port", str(port)], service_environment(tmp_path / "var"), tmp_path)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", [serve])
        workers = _children(serve.popen.pid)
        assert len(workers) == 1

        os.kill(serve.popen.pid, signal.SIGTERM)  # the serve process only, not its group
        serve.popen.wait(timeout=60)
        deadline = time.monotonic() + 60
        while _alive(workers[0]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(workers[0]), serve.log_text()[-3000:]
    finally:
        serve.kill()
