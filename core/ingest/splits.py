"""Split names, and the seeded, stratified hold-out of validation images."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Hashable, TypeVar

SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}

Item = TypeVar("Item", bound=Hashable)


def split_alias(name: str) -> str | None:
    """Return "train", "val" or "test" for a folder or column value that names a split."""
    return SPLIT_ALIASES.get(name.strip().casefold())


def validation_count(class_size: int, val_fraction: float) -> int:
    """Return how many of a class's images to hold out.

    At least one image when the class has two or more, and never the whole class, so
    training keeps at least one image of each class.
    """
    if class_size < 2:
        return 0
    count = max(1, round(class_size * val_fraction))
    return min(count, class_size - 1)


def hold_out(items_by_class: dict[str, list[Item]], *, val_fraction: float, seed: int) -> set[Item]:
    """Choose the validation items of each class; everything else stays in train.

    The choice depends only on the seed, the class name and the items' sorted order, so the
    same archive gives the same split no matter which tool wrote the archive's entries.
    """
    chosen: set[Item] = set()
    for class_name, items in sorted(items_by_class.items()):
        ordered = sorted(items)  # type: ignore[type-var]
        generator = random.Random(f"{seed}/{class_name}")
        generator.shuffle(ordered)
        chosen.update(ordered[: validation_count(len(ordered), val_fraction)])
    return chosen


def group_by_class(pairs: list[tuple[str, Item]]) -> dict[str, list[Item]]:
    grouped: dict[str, list[Item]] = defaultdict(list)
    for class_name, item in pairs:
        grouped[class_name].append(item)
    return dict(grouped)
