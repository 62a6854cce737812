"""Turning an uploaded archive into a stored dataset: the steps in order, and the atomic move."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.ingest.class_names import default_display_name
from core.ingest.collect import collect_archive
from core.ingest.errors import DatasetInvalidError
from core.ingest.image_checks import AcceptedImage, check_images
from core.ingest.layout import detect_layout
from core.ingest.layout_model import Layout
from core.ingest.limits import IngestLimits
from core.ingest.problems import find_problems
from core.ingest.report import SplitInfo, build_report
from core.ingest.report_warnings import find_warnings
from core.ingest.splits import group_by_class, hold_out
from core.manifest import SPLITS, ClassEntry, DatasetManifest, ImageEntry, write_json_atomic

logger = logging.getLogger(__name__)

REPORT_NAME = "report.json"
_STAGING_DIR = ".staging"
_HASH_CHUNK = 1024**2


@dataclass
class IngestResult:
    """The stored form of the dataset, its report (see `core.ingest.report`) and the archive's sha256."""

    manifest: DatasetManifest
    report: dict[str, Any]
    content_hash: str


def ingest_archive(
    archive_path: Path,
    dataset_dir: Path,
    *,
    limits: IngestLimits,
    val_fraction: float,
    seed: int = 0,
    display_names: dict[str, str] | None = None,
) -> IngestResult:
    """Build the dataset from `archive_path` and move it into `dataset_dir` (which must not exist).

    The dataset is built in a hidden temporary directory beside `dataset_dir` and renamed into
    place only when complete, so on any error nothing is left behind. `dataset_dir` then holds
    manifest.json, report.json and images/<sha256>.<ext>.

    Raises InvalidRequestError (invalid_archive, unsafe_archive, dataset_invalid) or
    PayloadTooLargeError (archive_too_large), all with param "file".
    """
    if dataset_dir.exists():
        raise FileExistsError(f"the dataset directory {dataset_dir} already exists")
    dataset_dir.parent.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix=f".{dataset_dir.name}.", suffix=".partial", dir=dataset_dir.parent))
    try:
        result = build_dataset(
            archive_path, work_dir, limits=limits, val_fraction=val_fraction, seed=seed, display_names=display_names
        )
        result.manifest.save(work_dir)
        write_json_atomic(work_dir / REPORT_NAME, result.report)
        os.replace(work_dir, dataset_dir)
    except BaseException:
        shutil.rmtree(work_dir, ignore_errors=True)
        raise

    logger.info(
        "dataset.ingested dir=%s sha256=%s accepted=%d rejected=%d",
        dataset_dir,
        result.content_hash,
        result.report["accepted"],
        result.report["rejected_total"],
    )
    return result


def validate_archive(
    archive_path: Path,
    *,
    limits: IngestLimits,
    val_fraction: float,
    seed: int = 0,
    display_names: dict[str, str] | None = None,
    work_dir: Path | None = None,
) -> IngestResult:
    """Run every check of `ingest_archive` and return the same report, storing nothing.

    Files are staged in a temporary directory inside `work_dir` (default: the archive's own
    directory), which is removed before this returns. The manifest's image paths therefore
    point at files that no longer exist.
    """
    with tempfile.TemporaryDirectory(prefix=".validate.", dir=work_dir or archive_path.parent) as temporary:
        return build_dataset(
            archive_path, Path(temporary), limits=limits, val_fraction=val_fraction, seed=seed, display_names=display_names
        )


def build_dataset(
    archive_path: Path,
    work_dir: Path,
    *,
    limits: IngestLimits,
    val_fraction: float,
    seed: int,
    display_names: dict[str, str] | None,
) -> IngestResult:
    """Read, lay out, decode and split the archive into `work_dir`; write no manifest yet."""
    content_hash = sha256_file(archive_path)
    staging_dir = work_dir / _STAGING_DIR
    try:
        collected = collect_archive(archive_path, staging_dir, limits)
        layout = detect_layout(collected, max_manifest_rows=limits.max_members)
        checked = check_images(layout.candidates, work_dir, max_pixels=limits.max_image_pixels)
    finally:
        shutil.rmtree(staging_dir, ignore_errors=True)

    class_names = sorted(layout.class_names)
    names = _display_names(class_names, layout, display_names or {})
    splits, split_info = _assign_splits(checked.accepted, layout, val_fraction=val_fraction, seed=seed)
    counts = _count(class_names, checked.accepted, splits)
    classes = [{"name": name, "display_name": names[name], "counts": counts[name]} for name in class_names]
    rejected = collected.rejected + layout.rejected + checked.rejected
    unknown = sorted(set(display_names or {}) - set(class_names))
    warnings = layout.warnings + find_warnings(
        collected=collected,
        ignored=collected.ignored + layout.ignored,
        checked=checked,
        counts=counts,
        unknown_display_names=unknown,
        limits=limits,
    )
    report = build_report(
        collected=collected,
        layout=layout,
        checked=checked,
        classes=classes,
        rejected=rejected,
        warnings=warnings,
        split=split_info,
        content_hash=content_hash,
    )

    problems = find_problems(layout, class_names, counts, rejected, names)
    if problems:
        logger.info("dataset.invalid sha256=%s problems=%d", content_hash, len(problems))
        raise DatasetInvalidError(problems, report)

    manifest = _manifest(class_names, names, checked.accepted, splits, content_hash, checked.flagged)
    return IngestResult(manifest=manifest, report=report, content_hash=content_hash)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _display_names(class_names: list[str], layout: Layout, given: dict[str, str]) -> dict[str, str]:
    """Resolve each class's prompt text: the caller's mapping, then the archive's, then the folder name."""
    resolved = {}
    for name in class_names:
        text = given.get(name) or layout.display_names.get(name) or ""
        resolved[name] = text.strip() or default_display_name(name)
    return resolved


def _assign_splits(
    accepted: list[AcceptedImage], layout: Layout, *, val_fraction: float, seed: int
) -> tuple[dict[str, str], SplitInfo]:
    """Return the split of each stored image path, and where the split came from.

    Splits named by the archive are used when they include validation images. Otherwise a
    seeded, stratified share of each class's training images is held out.
    """
    splits = {image.stored_path: image.candidate.split or "train" for image in accepted}
    if "val" in splits.values():
        return splits, SplitInfo(source=layout.labels_from, val_fraction=None, seed=seed)

    train = [(image.candidate.class_name, image.stored_path) for image in accepted if splits[image.stored_path] == "train"]
    for path in hold_out(group_by_class(train), val_fraction=val_fraction, seed=seed):
        splits[path] = "val"
    return splits, SplitInfo(source="held_out", val_fraction=val_fraction, seed=seed)


def _count(class_names: list[str], accepted: list[AcceptedImage], splits: dict[str, str]) -> dict[str, dict[str, int]]:
    counts = {name: {split: 0 for split in SPLITS} for name in class_names}
    for image in accepted:
        counts[image.candidate.class_name][splits[image.stored_path]] += 1
    return counts


def _manifest(
    class_names: list[str],
    names: dict[str, str],
    accepted: list[AcceptedImage],
    splits: dict[str, str],
    content_hash: str,
    flagged: list[dict[str, str]],
) -> DatasetManifest:
    label_of = {name: index for index, name in enumerate(class_names)}
    items = [
        ImageEntry(
            path=image.stored_path,
            label=label_of[image.candidate.class_name],
            split=splits[image.stored_path],
            sha256=image.sha256,
            width=image.width,
            height=image.height,
        )
        for image in accepted
    ]
    items.sort(key=lambda item: (item.label, SPLITS.index(item.split), item.path))
    stored_path_of = {image.candidate.file.member: image.stored_path for image in accepted}
    extra = {
        "content_hash": content_hash,
        "source_paths": {image.stored_path: image.candidate.file.member for image in accepted},
        "flagged": [{**item, "path": stored_path_of[item["path"]], "source_path": item["path"]} for item in flagged],
    }
    return DatasetManifest(
        classes=[ClassEntry(name=name, display_name=names[name]) for name in class_names],
        items=items,
        extra=extra,
    )
