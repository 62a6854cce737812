"""Problems that make a dataset impossible to train on; any of them rejects the upload."""

from __future__ import annotations

from collections import Counter
from typing import Any

from core.ingest.class_names import collision_key, find_collisions
from core.ingest.collect import Rejection
from core.ingest.layout_model import Layout

Problem = dict[str, Any]


def find_problems(
    layout: Layout,
    class_names: list[str],
    counts: dict[str, dict[str, int]],
    rejected: list[Rejection],
    display_names: dict[str, str],
) -> list[Problem]:
    """Return every problem, in a stable order: class count, names, then per class."""
    problems: list[Problem] = []
    if len(class_names) < 2:
        problems.append(_too_few_classes(class_names, layout))
    problems.extend(layout.problems)
    problems.extend(_name_collisions(class_names))
    problems.extend(_display_name_collisions(class_names, display_names))
    problems.extend(_classes_without_images(layout, class_names, counts, rejected))
    return problems


def _too_few_classes(class_names: list[str], layout: Layout) -> Problem:
    found = ", ".join(class_names) if class_names else "none"
    if layout.labels_from == "manifest":
        fix = f"give the rows of {layout.manifest} at least two different labels"
    else:
        fix = "put the images of each class in its own top-level folder (for example cats/ and dogs/)"
    return {
        "code": "too_few_classes",
        "message": f"the archive contains {len(class_names)} class(es) ({found}) but training needs at least two; {fix}",
    }


def _name_collisions(class_names: list[str]) -> list[Problem]:
    problems = []
    for group in find_collisions(set(class_names)):
        names = ", ".join(repr(name) for name in group)
        message = (
            f"the class names {names} differ only in case, spaces, separators or Unicode form, "
            "so they would read as one class; merge or rename them"
        )
        problems.append({"code": "class_names_collide", "message": message, "classes": group})
    return problems


def _display_name_collisions(class_names: list[str], display_names: dict[str, str]) -> list[Problem]:
    by_key: dict[str, list[str]] = {}
    for name in class_names:
        by_key.setdefault(collision_key(display_names[name]), []).append(name)
    problems = []
    for group in sorted(sorted(names) for names in by_key.values() if len(names) > 1):
        shown = ", ".join(f"{name!r} -> {display_names[name]!r}" for name in group)
        if len(set(map(collision_key, group))) < len(group):
            continue  # already reported as colliding class names
        message = f"the classes {shown} have the same display name, so prompts cannot tell them apart; give each a distinct display name"
        problems.append({"code": "display_names_collide", "message": message, "classes": group})
    return problems


def _classes_without_images(
    layout: Layout,
    class_names: list[str],
    counts: dict[str, dict[str, int]],
    rejected: list[Rejection],
) -> list[Problem]:
    class_of_path = {candidate.file.member: candidate.class_name for candidate in layout.candidates}
    reasons: dict[str, Counter[str]] = {name: Counter() for name in class_names}
    for rejection in rejected:
        class_name = class_of_path.get(rejection.path)
        if class_name in reasons:
            reasons[class_name][rejection.code] += 1

    problems = []
    for name in class_names:
        total = sum(counts[name].values())
        if total == 0:
            problems.append(_no_valid_image(name, reasons[name]))
        elif counts[name]["train"] == 0:
            message = f"class {name!r} has no training image, only validation or test images; add images to train/{name}/"
            problems.append({"code": "class_without_train_images", "message": message, "class": name})
    return problems


def _no_valid_image(name: str, reasons: Counter[str]) -> Problem:
    if reasons:
        listed = ", ".join(f"{count} {code}" for code, count in sorted(reasons.items()))
        detail = f"all {sum(reasons.values())} of its files were rejected ({listed}); see the rejected list"
    else:
        detail = "its folder contains no image files"
    message = f"class {name!r} has no valid image: {detail}. Add valid images or remove the class"
    return {"code": "class_without_valid_images", "message": message, "class": name}
