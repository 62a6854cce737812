"""Test datasets built from the ants and bees photos."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

CLASSES = ("ants", "bees")


def hymenoptera_dir() -> Path:
    """Locate the ants and bees photos: FLYP_TEST_IMAGES, or the shared data folder beside the checkout."""
    candidates = [os.environ.get("FLYP_TEST_IMAGES", ""), Path(__file__).resolve().parents[2] / "shared/data/hymenoptera_data", "/work/shared/data/hymenoptera_data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "train" / "ants").is_dir():
            return Path(candidate)
    pytest.fail("The ants and bees photos were not found; set FLYP_TEST_IMAGES to the hymenoptera_data folder.")


def photos(split: str, label: str, count: int | None = None) -> list[Path]:
    """Return the first `count` JPEG photos of one class in one split, sorted by name."""
    files = sorted(path for path in (hymenoptera_dir() / split / label).iterdir() if path.suffix.lower() == ".jpg")
    return files if count is None else files[:count]


def build_zip(destination: Path, *, train_per_class: int, val_per_class: int | None) -> Path:
    """Zip class folders of real photos; with `val_per_class`, under train/ and val/ at the top."""
    with zipfile.ZipFile(destination, "w") as archive:
        for label in CLASSES:
            for path in photos("train", label, train_per_class):
                prefix = "train/" if val_per_class is not None else ""
                archive.write(path, f"{prefix}{label}/{path.name}")
            if val_per_class is not None:
                for path in photos("val", label, val_per_class):
                    archive.write(path, f"val/{label}/{path.name}")
    return destination
