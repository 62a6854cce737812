"""Builders of small dataset directories from the bundled ants and bees photos."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from PIL import Image

from core.manifest import ClassEntry, DatasetManifest, ImageEntry

HYMENOPTERA = Path("/work/shared/data/hymenoptera_data")
CLASSES = ("ants", "bees")


def photo_paths(split: str, class_name: str) -> list[Path]:
    """Return the bundled photos of one split and class in name order, skipping the placeholder GIF."""
    paths = sorted((HYMENOPTERA / split / class_name).iterdir())
    return [path for path in paths if path.read_bytes()[:3] == b"\xff\xd8\xff"]


def build_dataset(root: Path, *, train_per_class: int, val_per_class: int, test_per_class: int = 0, classes: tuple[str, ...] = CLASSES) -> Path:
    """Copy photos into `root/images/<split>/<class>/` and write the manifest; return `root`.

    Train images come from the bundled train split; val and test images from its val split.
    """
    items: list[ImageEntry] = []
    for label, class_name in enumerate(classes):
        val_photos = photo_paths("val", class_name)
        chosen = {
            "train": photo_paths("train", class_name)[:train_per_class],
            "val": val_photos[:val_per_class],
            "test": val_photos[val_per_class : val_per_class + test_per_class],
        }
        for split, sources in chosen.items():
            for source in sources:
                items.append(_copy(root, source, split=split, class_name=class_name, label=label))
    manifest = DatasetManifest(classes=[ClassEntry(name=name, display_name=name) for name in classes], items=items)
    manifest.save(root)
    return root


def _copy(root: Path, source: Path, *, split: str, class_name: str, label: int) -> ImageEntry:
    relative = Path("images") / split / class_name / source.name
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    data = target.read_bytes()
    with Image.open(target) as image:
        width, height = image.size
    return ImageEntry(path=relative.as_posix(), label=label, split=split, sha256=hashlib.sha256(data).hexdigest(), width=width, height=height)
