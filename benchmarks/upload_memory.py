"""Measure the API process's memory while a large dataset upload streams into it.

Starts the API as a real process (embedded: SQLite and the filesystem queue, no worker) in a
temporary data directory, streams a generated multipart upload of --size-gib to
`POST /v1/datasets`, and samples the API's resident set size from /proc/<pid>/status
throughout. The upload body is generated chunk by chunk and never held whole by either side.

Two runs:
- accepted: the cap is above the upload, so the whole body is written to disk and the API
  responds with 202 (the dataset waits for a worker that this script does not start);
- rejected: the cap is half the upload, so the API responds with 413 at the cap and removes the
  partial file.

Usage: python benchmarks/upload_memory.py [--size-gib 2] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
GIB = 1024**3
MIB = 1024**2
CHUNK_BYTES = MIB
SAMPLE_SECONDS = 0.02


@dataclass
class Measurement:
    label: str
    status: int
    error_code: str | None
    sent_bytes: int
    seconds: float
    idle_kib: int
    peak_sampled_kib: int
    peak_kernel_kib: int
    leftover_files: list[str]
    stored_bytes: int

    def report(self) -> str:
        rise = max(self.peak_sampled_kib, self.peak_kernel_kib) - self.idle_kib
        return (
            f"{self.label}: HTTP {self.status} {self.error_code or ''}\n"
            f"  sent {self.sent_bytes / GIB:.2f} GiB in {self.seconds:.1f} s ({self.sent_bytes / MIB / self.seconds:.0f} MiB/s)\n"
            f"  API RSS idle {self.idle_kib / 1024:.1f} MiB, peak sampled {self.peak_sampled_kib / 1024:.1f} MiB, "
            f"peak (VmHWM) {self.peak_kernel_kib / 1024:.1f} MiB\n"
            f"  rise over idle: {rise / 1024:.1f} MiB\n"
            f"  partial upload files left: {self.leftover_files or 'none'}; archive stored for a worker: {self.stored_bytes} bytes"
        )


def read_status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


class RssSampler:
    """Sample VmRSS of one process in a background thread and keep the maximum."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, read_status_kib(self.pid, "VmRSS"))
            time.sleep(SAMPLE_SECONDS)


def tar_stream(total_bytes: int) -> Iterator[bytes]:
    """Yield a valid tar archive of exactly `total_bytes`: one member of zeros, then the end blocks."""
    member_bytes = total_bytes - 3 * tarfile.BLOCKSIZE
    assert member_bytes % tarfile.BLOCKSIZE == 0, "the size must be a multiple of 512 bytes"
    info = tarfile.TarInfo("cats/large.bin")
    info.size = member_bytes
    yield info.tobuf(format=tarfile.GNU_FORMAT)
    zeros = bytes(CHUNK_BYTES)
    remaining = member_bytes
    while remaining:
        size = min(CHUNK_BYTES, remaining)
        yield zeros[:size]
        remaining -= size
    yield bytes(2 * tarfile.BLOCKSIZE)


def multipart_body(boundary: str, total_bytes: int, counter: list[int]) -> Iterator[bytes]:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nmemory benchmark\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="large.tar"\r\n'
        "Content-Type: application/x-tar\r\n\r\n"
    ).encode()
    counter[0] += len(head)
    yield head
    for chunk in tar_stream(total_bytes):
        counter[0] += len(chunk)
        yield chunk
    tail = f"\r\n--{boundary}--\r\n".encode()
    counter[0] += len(tail)
    yield tail


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_api(data_dir: Path, max_upload_bytes: int) -> tuple[subprocess.Popen, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("FLYP_")}
    environment.update(
        PYTHONPATH=str(REPO_ROOT), FLYP_DATA_DIR=str(data_dir), FLYP_LOG_LEVEL="WARNING", FLYP_MAX_UPLOAD_BYTES=str(max_upload_bytes)
    )
    subprocess.run([sys.executable, "-m", "cli", "db", "upgrade"], cwd=REPO_ROOT, env=environment, check=True, capture_output=True)
    port = free_port()
    log = open(data_dir / "api.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "api", "--port", str(port)], cwd=REPO_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600  # importing torch alone can take a minute on a busy machine
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return process, base_url
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    tail = (data_dir / "api.log").read_text(errors="replace")[-4000:]
    raise RuntimeError(f"the API did not respond to /healthz within 600 s; its log ends with:\n{tail}")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def measure(label: str, data_dir: Path, *, upload_bytes: int, max_upload_bytes: int) -> Measurement:
    data_dir.mkdir(parents=True)
    process, base_url = start_api(data_dir, max_upload_bytes)
    try:
        # One small request first, so that imports and caches a first request triggers count as idle.
        httpx.get(f"{base_url}/v1/datasets", timeout=30)
        time.sleep(1.0)
        idle_kib = read_status_kib(process.pid, "VmRSS")
        Path(f"/proc/{process.pid}/clear_refs").write_text("5")  # reset VmHWM to the current RSS

        boundary = uuid.uuid4().hex
        counter = [0]
        started = time.monotonic()
        with RssSampler(process.pid) as sampler:
            response = httpx.post(
                f"{base_url}/v1/datasets",
                content=multipart_body(boundary, upload_bytes, counter),
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                timeout=None,
            )
        seconds = time.monotonic() - started
        peak_kernel_kib = read_status_kib(process.pid, "VmHWM")
        error_code = response.json().get("error", {}).get("code") if response.status_code >= 400 else None
        uploads = list((data_dir / "uploads").iterdir())
        leftovers = sorted(path.name for path in uploads if path.name.startswith("upload-"))
        stored = sum(path.stat().st_size for path in uploads if path.suffix == ".archive")
        return Measurement(
            label, response.status_code, error_code, counter[0], seconds, idle_kib, sampler.peak_kib, peak_kernel_kib, leftovers, stored
        )
    finally:
        stop(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=2.0, help="Size of the generated upload in GiB; default 2.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary data directories (their uploads are large).")
    args = parser.parse_args()
    upload_bytes = int(args.size_gib * GIB) // tarfile.BLOCKSIZE * tarfile.BLOCKSIZE

    root = Path(tempfile.mkdtemp(prefix="flyp-upload-memory-"))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, data under {root}")
    try:
        accepted = measure("accepted (cap above the upload)", root / "accepted", upload_bytes=upload_bytes, max_upload_bytes=upload_bytes + GIB)
        print(accepted.report())
        rejected = measure("rejected (cap at half the upload)", root / "rejected", upload_bytes=upload_bytes, max_upload_bytes=upload_bytes // 2)
        print(rejected.report())
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
