"""Reading an ingested dataset directory for training: classes, their text, and the splits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import TrainingError
from core.manifest import DatasetManifest
from core.models.templates import natural_class_text


@dataclass(frozen=True)
class ImageSet:
    """The images of one split: absolute paths, integer labels and content hashes."""

    paths: tuple[Path, ...]
    labels: np.ndarray
    sha256s: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def content_key(self) -> str:
        """A hash of the images in order, which names this set's decoded-image caches."""
        digest = hashlib.sha256()
        for sha256 in self.sha256s:
            digest.update(sha256.encode("ascii"))
        return digest.hexdigest()


@dataclass(frozen=True)
class TrainingDataset:
    """A dataset as training sees it. `display_names` fill the templates and label predictions."""

    class_names: list[str]
    display_names: list[str]
    train: ImageSet
    val: ImageSet
    test: ImageSet
    dataset_hash: str

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def load_dataset(dataset_dir: Path, *, display_overrides: dict[str, str] | None = None) -> TrainingDataset:
    """Read `manifest.json` of `dataset_dir` and resolve each class's display name.

    A display name is the job's override if given, else the manifest's display name when it
    differs from the folder name, else the folder name as natural text ("golden_retriever"
    becomes "golden retriever").
    """
    try:
        manifest = DatasetManifest.load(dataset_dir)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise TrainingError("invalid_dataset", f"cannot read the dataset manifest in {dataset_dir}: {error}") from error

    class_names = [entry.name for entry in manifest.classes]
    display_names = _display_names(manifest, display_overrides or {})
    return TrainingDataset(
        class_names=class_names,
        display_names=display_names,
        train=_image_set(manifest, dataset_dir, "train"),
        val=_image_set(manifest, dataset_dir, "val"),
        test=_image_set(manifest, dataset_dir, "test"),
        dataset_hash=_dataset_hash(manifest),
    )


def _display_names(manifest: DatasetManifest, overrides: dict[str, str]) -> list[str]:
    known = {entry.name for entry in manifest.classes}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TrainingError(
            "unknown_class_names", f"class_names gives display names for classes the dataset does not have: {unknown}; its classes are {sorted(known)}"
        )
    names = []
    for entry in manifest.classes:
        if entry.name in overrides:
            names.append(overrides[entry.name].strip() or entry.name)
        elif entry.display_name and entry.display_name != entry.name:
            names.append(entry.display_name)
        else:
            names.append(natural_class_text(entry.name))
    return names


def _image_set(manifest: DatasetManifest, dataset_dir: Path, split: str) -> ImageSet:
    items = manifest.split(split)
    return ImageSet(
        paths=tuple(dataset_dir / item.path for item in items),
        labels=np.asarray([item.label for item in items], dtype=np.int64),
        sha256s=tuple(item.sha256 for item in items),
    )


def _dataset_hash(manifest: DatasetManifest) -> str:
    """A hash of the classes and of every item's path, label, split and content."""
    digest = hashlib.sha256()
    for entry in manifest.classes:
        digest.update(f"class\0{entry.name}\0".encode())
    for item in manifest.items:
        digest.update(f"item\0{item.path}\0{item.label}\0{item.split}\0{item.sha256}\0".encode())
    return digest.hexdigest()
