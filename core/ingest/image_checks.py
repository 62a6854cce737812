"""Decoding each candidate once, removing exact duplicates and storing the accepted files."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.images import ImageDecodeError, decode_image_details
from core.ingest.collect import Rejection
from core.ingest.layout_model import Candidate
from core.ingest.placeholders import placeholder_message

IMAGES_DIR = "images"
_SPLIT_ORDER = {"train": 0, None: 0, "val": 1, "test": 2}


@dataclass(frozen=True)
class AcceptedImage:
    """A decoded, stored image; `stored_path` is relative to the dataset directory."""

    candidate: Candidate
    sha256: str
    stored_path: str
    width: int
    height: int


@dataclass
class ImageCheckResult:
    accepted: list[AcceptedImage] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    flagged: list[dict[str, str]] = field(default_factory=list)


def check_images(candidates: list[Candidate], dataset_dir: Path, *, max_pixels: int) -> ImageCheckResult:
    """Decode each distinct content once and move accepted files to `dataset_dir/images/`.

    Copies of one content within a class keep the first copy (train before val before test,
    then by path) and reject the rest as duplicates. Copies in different classes are all
    rejected, because one picture with two labels teaches the model nothing but noise.
    """
    images_dir = dataset_dir / IMAGES_DIR
    images_dir.mkdir(parents=True, exist_ok=True)
    ordered = sorted(candidates, key=lambda item: (item.class_name, _SPLIT_ORDER[item.split], item.file.member))
    groups: dict[str, list[Candidate]] = {}
    for candidate in ordered:
        groups.setdefault(candidate.file.sha256, []).append(candidate)

    result = ImageCheckResult()
    for sha256, copies in groups.items():
        _check_group(sha256, copies, images_dir, max_pixels, result)
    return result


def _check_group(sha256: str, copies: list[Candidate], images_dir: Path, max_pixels: int, result: ImageCheckResult) -> None:
    first = copies[0]
    try:
        decoded = decode_image_details(first.file.path, max_pixels=max_pixels)
    except ImageDecodeError as error:
        result.rejected.extend(Rejection(copy.file.member, error.code, error.message) for copy in copies)
        return

    if len(copies) > 1:
        _record_duplicates(sha256, copies, result)
    classes = {copy.class_name for copy in copies}
    if len(classes) > 1:
        return

    target = images_dir / f"{sha256}.{decoded.extension}"
    os.replace(first.file.path, target)
    stored_path = f"{IMAGES_DIR}/{target.name}"
    width, height = decoded.image.size
    result.accepted.append(AcceptedImage(first, sha256, stored_path, width, height))

    message = placeholder_message(decoded.image)
    if message is not None:
        result.flagged.append({"path": first.file.member, "code": "suspected_placeholder", "message": message})


def _record_duplicates(sha256: str, copies: list[Candidate], result: ImageCheckResult) -> None:
    paths = [copy.file.member for copy in copies]
    classes = sorted({copy.class_name for copy in copies})
    across_classes = len(classes) > 1
    kept = None if across_classes else paths[0]
    result.duplicates.append({"sha256": sha256, "paths": paths, "classes": classes, "kept": kept, "across_classes": across_classes})

    if across_classes:
        message = (
            f"the same image is in classes {', '.join(classes)} ({', '.join(paths)}); an image with two labels "
            "is left out of every class, so keep it in the one class it shows"
        )
        result.rejected.extend(Rejection(path, "duplicate", message) for path in paths)
        return
    for copy in copies[1:]:
        message = f"the same content as {kept}, which is used instead"
        if copy.split != copies[0].split:
            message += "; one image in two splits would let validation measure images seen in training"
        result.rejected.append(Rejection(copy.file.member, "duplicate", message))
