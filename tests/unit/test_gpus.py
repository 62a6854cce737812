"""Choosing one GPU per worker pool process."""

from __future__ import annotations

from pathlib import Path

from worker.gpus import count_gpus, gpu_for_process


def test_gpu_for_process_round_robin() -> None:
    assert [gpu_for_process(index, 2) for index in range(4)] == ["0", "1", "0", "1"]


def test_gpu_for_process_single_gpu_unpinned() -> None:
    assert gpu_for_process(3, 1) is None


def test_count_gpus_reads_driver_entries(tmp_path: Path) -> None:
    for bus_id in ("0000:01:00.0", "0000:02:00.0"):
        (tmp_path / bus_id).mkdir()
    assert count_gpus(tmp_path) == 2


def test_count_gpus_without_driver(tmp_path: Path) -> None:
    assert count_gpus(tmp_path / "missing") == 0
