"""The stored form of an ingested dataset: `manifest.json` beside an `images/` folder.

Ingest writes it once; training, evaluation and reports read it. Paths are relative to the
dataset directory, so a dataset directory can be moved as a whole.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ClassEntry:
    """One class: its folder or label name and the text used for it in prompts."""

    name: str
    display_name: str


@dataclass(frozen=True)
class ImageEntry:
    """One accepted image. `label` indexes `DatasetManifest.classes`."""

    path: str
    label: int
    split: str
    sha256: str
    width: int
    height: int


@dataclass
class DatasetManifest:
    classes: list[ClassEntry]
    items: list[ImageEntry]
    version: int = MANIFEST_VERSION
    extra: dict = field(default_factory=dict)

    def split(self, name: str) -> list[ImageEntry]:
        return [item for item in self.items if item.split == name]

    def counts(self) -> dict[str, dict[str, int]]:
        """Return image counts per class name and split, with zeros for empty splits."""
        counts = {entry.name: {split: 0 for split in SPLITS} for entry in self.classes}
        for item in self.items:
            counts[self.classes[item.label].name][item.split] += 1
        return counts

    def save(self, directory: Path) -> Path:
        """Write the manifest atomically: to a temporary name, then renamed into place."""
        payload = {
            "version": self.version,
            "classes": [asdict(entry) for entry in self.classes],
            "items": [asdict(item) for item in self.items],
            "extra": self.extra,
        }
        target = directory / MANIFEST_NAME
        write_json_atomic(target, payload)
        return target

    @classmethod
    def load(cls, directory: Path) -> "DatasetManifest":
        payload = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
        if payload.get("version") != MANIFEST_VERSION:
            raise ValueError(f"unsupported manifest version {payload.get('version')!r} in {directory}")
        return cls(
            classes=[ClassEntry(**entry) for entry in payload["classes"]],
            items=[ImageEntry(**item) for item in payload["items"]],
            version=payload["version"],
            extra=payload.get("extra", {}),
        )


def write_json_atomic(path: Path, payload: object) -> None:
    """Write `payload` as JSON to a temporary file beside `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=1, sort_keys=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
