"""Ingesting a local folder of class folders, as `flyp train` and the benchmarks need it."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

from core.ingest.limits import IngestLimits
from core.ingest.pipeline import IngestResult, ingest_archive


def ingest_folder(folder: Path, dataset_dir: Path, *, limits: IngestLimits, val_fraction: float, seed: int = 0) -> IngestResult:
    """Pack `folder` into an uncompressed tar and ingest it into `dataset_dir` exactly like an upload.

    `folder` contains class folders, optionally inside train/, val/ and test/ folders. The tar is
    written to a temporary directory beside `dataset_dir` and removed afterwards.
    """
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a directory")
    dataset_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".folder-archive.", dir=dataset_dir.parent) as temporary:
        archive = Path(temporary) / "folder.tar"
        with tarfile.open(archive, "w") as tar:
            for child in sorted(folder.iterdir()):
                tar.add(child, arcname=child.name)
        return ingest_archive(archive, dataset_dir, limits=limits, val_fraction=val_fraction, seed=seed)
