"""Warnings: facts about an accepted dataset that the user should check, but that do not block training."""

from __future__ import annotations

from typing import Any

from core.ingest.collect import CollectedArchive
from core.ingest.image_checks import ImageCheckResult
from core.ingest.layout import OUTSIDE_CLASS_FOLDER, is_document
from core.ingest.limits import IngestLimits
from core.ingest.manifest_rows import NOT_IN_MANIFEST

Warning = dict[str, Any]
_PATH_EXAMPLES = 20


def find_warnings(
    *,
    collected: CollectedArchive,
    ignored: list[tuple[str, str]],
    checked: ImageCheckResult,
    counts: dict[str, dict[str, int]],
    unknown_display_names: list[str],
    limits: IngestLimits,
) -> list[Warning]:
    warnings: list[Warning] = []
    warnings.extend(_class_size_warnings(counts, limits))
    warnings.extend(_file_warnings(collected, ignored, checked))
    if unknown_display_names:
        names = ", ".join(repr(name) for name in unknown_display_names)
        message = f"display names were given for {names}, which are not classes of this dataset; check their spelling"
        warnings.append({"code": "unknown_display_names", "message": message, "names": unknown_display_names})
    return warnings


def _class_size_warnings(counts: dict[str, dict[str, int]], limits: IngestLimits) -> list[Warning]:
    warnings: list[Warning] = []
    totals = {name: sum(split_counts.values()) for name, split_counts in counts.items()}
    for name, total in sorted(totals.items()):
        if 0 < total < limits.min_class_images:
            message = f"class {name!r} has only {total} image(s); fewer than {limits.min_class_images} per class rarely trains well"
            warnings.append({"code": "few_images", "message": message, "class": name, "count": total})
        if counts[name]["train"] > 0 and counts[name]["val"] == 0:
            message = f"class {name!r} has no validation image, so validation accuracy does not cover it"
            warnings.append({"code": "class_without_val", "message": message, "class": name})

    nonempty = {name: total for name, total in totals.items() if total > 0}
    if len(nonempty) >= 2:
        largest = max(nonempty, key=lambda name: (nonempty[name], name))
        smallest = min(nonempty, key=lambda name: (nonempty[name], name))
        ratio = nonempty[largest] / nonempty[smallest]
        if ratio > limits.max_imbalance_ratio:
            message = (
                f"class {largest!r} has {nonempty[largest]} images and {smallest!r} only {nonempty[smallest]} "
                f"({ratio:.1f} times fewer); the model may favour the large class, so add images to the small one"
            )
            warnings.append(
                {"code": "class_imbalance", "message": message, "largest": largest, "smallest": smallest, "ratio": round(ratio, 2)}
            )
    return warnings


def _file_warnings(collected: CollectedArchive, ignored: list[tuple[str, str]], checked: ImageCheckResult) -> list[Warning]:
    warnings: list[Warning] = []
    if checked.flagged:
        paths = [item["path"] for item in checked.flagged]
        message = (
            f"{len(paths)} accepted image(s) look like placeholders or blank graphics rather than photos "
            f"({', '.join(paths[:_PATH_EXAMPLES])}); see the flagged list and remove any that do not show their class"
        )
        warnings.append({"code": "suspected_placeholder", "message": message, "count": len(paths), "paths": paths[:_PATH_EXAMPLES]})

    across = [item for item in checked.duplicates if item["across_classes"]]
    if across:
        message = f"{len(across)} image(s) appear in more than one class and were left out of all of them; see the duplicates list"
        warnings.append({"code": "duplicates_across_classes", "message": message, "count": len(across)})

    if collected.skipped_archives:
        paths = collected.skipped_archives
        message = (
            f"{len(paths)} archive(s) inside the upload were skipped ({', '.join(paths[:_PATH_EXAMPLES])}); "
            "archives are not opened recursively, so extract them into their class folders and upload again"
        )
        warnings.append({"code": "nested_archives_skipped", "message": message, "count": len(paths)})

    outside = [path for path, reason in ignored if reason == OUTSIDE_CLASS_FOLDER and not is_document(path)]
    if outside:
        message = (
            f"{len(outside)} file(s) are not inside a class folder and were ignored ({', '.join(outside[:_PATH_EXAMPLES])}); "
            "move them into the folder of their class"
        )
        warnings.append({"code": "files_outside_class_folders", "message": message, "count": len(outside)})

    unlisted = [path for path, reason in ignored if reason == NOT_IN_MANIFEST]
    if unlisted:
        message = f"{len(unlisted)} file(s) are not listed in the label manifest and were ignored ({', '.join(unlisted[:_PATH_EXAMPLES])})"
        warnings.append({"code": "files_not_in_manifest", "message": message, "count": len(unlisted)})
    return warnings
