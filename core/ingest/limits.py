"""Limits that bound what one archive may cost the server, and the report's warning thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MIB = 1024**2

DEFAULT_MAX_MEMBER_BYTES = 128 * MIB
DEFAULT_MIN_CLASS_IMAGES = 10
DEFAULT_MAX_IMBALANCE_RATIO = 10.0


@dataclass(frozen=True)
class IngestLimits:
    """Safety limits for one archive, checked while it is decompressed.

    `max_members` counts every entry (files, folders, ignored system files). `max_expanded_bytes`
    counts decompressed bytes as they are produced, so sizes declared in headers do not matter.
    `max_member_bytes` caps one file, which is read into memory to be decoded; a larger file is
    rejected without decompressing the rest of it. `min_class_images` and `max_imbalance_ratio`
    only decide when the report warns.
    """

    max_members: int
    max_expanded_bytes: int
    max_image_pixels: int
    max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES
    min_class_images: int = DEFAULT_MIN_CLASS_IMAGES
    max_imbalance_ratio: float = DEFAULT_MAX_IMBALANCE_RATIO

    @classmethod
    def from_settings(cls, settings: Any) -> "IngestLimits":
        """Build limits from `core.settings.Settings`."""
        return cls(
            max_members=settings.max_archive_members,
            max_expanded_bytes=settings.max_expanded_bytes,
            max_image_pixels=settings.max_image_pixels,
            max_member_bytes=settings.max_image_bytes,
        )
