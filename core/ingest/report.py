"""The ingest report: what was accepted, rejected, ignored and flagged, in a stable JSON shape.

Shape (every key is always present; lists marked "capped" hold at most REPORT_LIST_LIMIT
entries, with the full count beside them):

    accepted: int                   images stored
    classes: [{name, display_name, counts: {train, val, test}}]   sorted by name; the index is the label
    rejected: [{path, code, message}]                               capped; codes below
    rejected_total: int
    rejected_counts: {code: int}
    ignored: {count, examples: [path], reasons: {reason: int}}      system_file, hidden_file,
                                                                    outside_class_folder, not_in_manifest
    duplicates: [{sha256, paths, classes, kept, across_classes}]    capped; kept is null across classes
    duplicates_total: int
    flagged: [{path, code, message}]                                capped; accepted images to check
    warnings: [{code, message, ...}]
    skipped_archives: [path]                                        capped; archives inside the archive
    split: {source: "folders" | "manifest" | "held_out", val_fraction: float | null, seed: int}
    layout: {format: "zip" | "tar", labels_from: "folders" | "manifest", wrappers: [str], manifest: str | null}
    archive: {sha256, members, expanded_bytes}

Rejection codes: empty, not_an_image, unsupported_format, truncated, unreadable, too_large
(pixels or bytes), duplicate, duplicate_path, encrypted, and for manifest rows invalid_row,
invalid_path, missing_file, missing_label, invalid_split, conflicting_labels.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from core.ingest.collect import CollectedArchive, Rejection
from core.ingest.image_checks import ImageCheckResult
from core.ingest.layout_model import Layout

REPORT_LIST_LIMIT = 1000
IGNORED_EXAMPLES = 20


@dataclass(frozen=True)
class SplitInfo:
    source: str
    val_fraction: float | None
    seed: int


def build_report(
    *,
    collected: CollectedArchive,
    layout: Layout,
    checked: ImageCheckResult,
    classes: list[dict[str, Any]],
    rejected: list[Rejection],
    warnings: list[dict[str, Any]],
    split: SplitInfo,
    content_hash: str,
) -> dict[str, Any]:
    ignored = collected.ignored + layout.ignored
    return {
        "accepted": len(checked.accepted),
        "classes": classes,
        "rejected": [_rejection(item) for item in rejected[:REPORT_LIST_LIMIT]],
        "rejected_total": len(rejected),
        "rejected_counts": dict(sorted(Counter(item.code for item in rejected).items())),
        "ignored": {
            "count": len(ignored),
            "examples": [path for path, _ in ignored[:IGNORED_EXAMPLES]],
            "reasons": dict(sorted(Counter(reason for _, reason in ignored).items())),
        },
        "duplicates": checked.duplicates[:REPORT_LIST_LIMIT],
        "duplicates_total": len(checked.duplicates),
        "flagged": checked.flagged[:REPORT_LIST_LIMIT],
        "warnings": warnings,
        "skipped_archives": collected.skipped_archives[:REPORT_LIST_LIMIT],
        "split": {"source": split.source, "val_fraction": split.val_fraction, "seed": split.seed},
        "layout": {
            "format": collected.format,
            "labels_from": layout.labels_from,
            "wrappers": layout.wrappers,
            "manifest": layout.manifest,
        },
        "archive": {"sha256": content_hash, "members": collected.members, "expanded_bytes": collected.expanded_bytes},
    }


def _rejection(item: Rejection) -> dict[str, str]:
    return {"path": item.path, "code": item.code, "message": item.message}
