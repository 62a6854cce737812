"""Content-addressed dataset directories: `datasets_dir/<storage key>/`.

The storage key hashes the archive's sha256 with everything else that shapes the stored
result (tenant, display names, split options, limits), so the same upload with the same
options is stored once however many dataset rows use it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.ingest import IngestLimits, ingest_archive
from core.ingest.pipeline import REPORT_NAME
from core.manifest import MANIFEST_NAME

logger = logging.getLogger(__name__)

# Bump when ingest stores a different result for the same archive and options, so that new
# uploads are ingested again instead of reusing directories written by older code.
STORAGE_FORMAT_VERSION = 1
TRASH_PREFIX = ".trash-"


@dataclass(frozen=True)
class IngestOptions:
    """Everything besides the archive bytes that decides what ingest stores."""

    limits: IngestLimits
    val_fraction: float
    seed: int = 0
    display_names: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "IngestOptions":
        return cls(
            limits=IngestLimits(**values["limits"]),
            val_fraction=float(values["val_fraction"]),
            seed=int(values["seed"]),
            display_names=dict(values["display_names"]),
        )


def storage_key(content_hash: str, options: IngestOptions, *, tenant_id: str | None) -> str:
    """Return the sha256 naming the directory for this archive ingested with `options`.

    The tenant is part of the key, so one tenant's upload never reveals, by finishing
    faster, that another tenant stored the same archive.
    """
    payload = {"version": STORAGE_FORMAT_VERSION, "archive_sha256": content_hash, "tenant": tenant_id or "", **options.to_dict()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def load_report(dataset_dir: Path) -> dict[str, Any] | None:
    """Return the report of a complete dataset directory, or None if it is missing or incomplete."""
    if not (dataset_dir / MANIFEST_NAME).is_file():
        return None
    try:
        return json.loads((dataset_dir / REPORT_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        logger.warning("dataset.storage.report_unreadable dir=%s error=%s", dataset_dir, error)
        return None


def ingest_into(archive_path: Path, dataset_dir: Path, options: IngestOptions) -> dict[str, Any]:
    """Ingest the archive into `dataset_dir`, or reuse it if it is already complete; return the report.

    Two uploads of the same archive may ingest at the same time. The second to finish finds the
    directory taken, so ingest_archive removes its copy and the first one's is used.
    Raises the ingest errors of `core.ingest.ingest_archive`.
    """
    existing = load_report(dataset_dir)
    if existing is not None:
        logger.info("dataset.storage.reused dir=%s", dataset_dir)
        return existing
    try:
        result = ingest_archive(
            archive_path,
            dataset_dir,
            limits=options.limits,
            val_fraction=options.val_fraction,
            seed=options.seed,
            display_names=options.display_names or None,
        )
    except OSError as error:
        raced = load_report(dataset_dir)
        if raced is None:
            raise
        logger.info("dataset.storage.raced dir=%s error=%s", dataset_dir, error)
        return raced
    return result.report


def move_to_trash(dataset_dir: Path) -> Path | None:
    """Rename `dataset_dir` to a hidden trash name beside it; return the new path, or None if absent.

    The rename is atomic, so the directory stops existing under its storage key at once and
    the slow removal can happen after the database transaction ends.
    """
    trash = dataset_dir.with_name(f"{TRASH_PREFIX}{dataset_dir.name}-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(dataset_dir, trash)
    except FileNotFoundError:
        logger.warning("dataset.storage.already_missing dir=%s", dataset_dir)
        return None
    return trash


def restore_from_trash(trash: Path, dataset_dir: Path) -> None:
    os.rename(trash, dataset_dir)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        logger.error("dataset.storage.remove_failed dir=%s", path)
