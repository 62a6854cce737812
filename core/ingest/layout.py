"""Deciding which staged files belong to which class and split.

Two layouts are recognised. Class folders: each top-level folder is a class, optionally
inside `train/`, `val/` and `test/` folders, and optionally inside wrapper folders that
contain nothing but one folder (and documents such as a README). Label manifest: a CSV or
JSONL file at the top level names each image's path and label, and folders mean nothing.
"""

from __future__ import annotations

import json

from core.ingest.collect import CollectedArchive, StagedFile
from core.ingest.label_manifest import LabelManifest, ManifestError, is_manifest_name, read_label_manifest
from core.ingest.layout_model import Candidate, Entry, Layout
from core.ingest.manifest_rows import assign_manifest_rows
from core.ingest.splits import split_alias

DISPLAY_NAMES_FILE = "display_names.json"
OUTSIDE_CLASS_FOLDER = "outside_class_folder"

# Files that may sit beside the class folders, or inside a wrapper, without making it a class.
_DOCUMENT_SUFFIXES = (".txt", ".md", ".rst", ".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".yaml", ".yml", ".pdf", ".html", ".htm", ".xml", ".log")
_DOCUMENT_NAMES = ("readme", "license", "licence", "notice", "copying", "authors", "citation")

def detect_layout(collected: CollectedArchive, *, max_manifest_rows: int) -> Layout:
    """Assign each staged file to a class and split, or record why it is ignored."""
    entries: list[Entry] = [(staged.parts, staged) for staged in collected.files]
    directories = set(collected.directories)
    layout = Layout()
    entries, directories = _unwrap(entries, directories, layout)

    root_files = [(parts, staged) for parts, staged in entries if len(parts) == 1]
    nested = [(parts, staged) for parts, staged in entries if len(parts) > 1]
    _read_display_names_file(root_files, layout)

    manifest = _find_label_manifest(root_files, layout, max_manifest_rows)
    if manifest is not None:
        assign_manifest_rows(manifest, entries, layout)
        return layout

    for parts, staged in root_files:
        if parts[0] != DISPLAY_NAMES_FILE:
            layout.ignored.append((staged.member, OUTSIDE_CLASS_FOLDER))
    _assign_class_folders(nested, directories, layout)
    return layout


def is_document(path: str) -> bool:
    """Tell whether a file is a document (README, licence, table) rather than a possible image."""
    folded = path.rsplit("/", 1)[-1].casefold()
    return folded.endswith(_DOCUMENT_SUFFIXES) or folded.split(".")[0] in _DOCUMENT_NAMES


def _unwrap(entries: list[Entry], directories: set[tuple[str, ...]], layout: Layout) -> tuple[list[Entry], set[tuple[str, ...]]]:
    """Strip wrapper folders: a single top-level folder whose own files are only documents."""
    while True:
        roots = {parts[0] for parts, _ in entries} | {parts[0] for parts in directories}
        if len(roots) != 1:
            return entries, directories
        root = next(iter(roots))
        if split_alias(root) is not None or any(len(parts) == 1 for parts, _ in entries):
            return entries, directories
        if any(len(parts) == 2 and not is_document(parts[1]) for parts, _ in entries):
            return entries, directories  # images directly inside: the folder is a class
        deeper = any(len(parts) > 2 for parts, _ in entries) or any(len(parts) > 1 for parts in directories)
        if not deeper:
            return entries, directories

        layout.wrappers.append(root)
        entries = [(parts[1:], staged) for parts, staged in entries]
        directories = {parts[1:] for parts in directories if len(parts) > 1}


def _assign_class_folders(entries: list[Entry], directories: set[tuple[str, ...]], layout: Layout) -> None:
    top_folders = {parts[0] for parts, _ in entries} | {parts[0] for parts in directories}
    split_folders = {name for name in top_folders if split_alias(name) is not None}
    if not split_folders:
        layout.class_names.update(top_folders)
        layout.candidates.extend(Candidate(staged, parts[0], None) for parts, staged in entries)
        return

    other_folders = sorted(top_folders - split_folders)
    if other_folders:
        layout.problems.append(
            {
                "code": "mixed_layout",
                "message": (
                    f"the archive mixes split folders ({', '.join(sorted(split_folders))}) with other top-level "
                    f"folders ({', '.join(other_folders)}); put every class folder inside the split folders, "
                    "or remove the split folders"
                ),
            }
        )
    for parts, staged in entries:
        split = split_alias(parts[0])
        if split is None:
            continue
        if len(parts) < 3:
            layout.ignored.append((staged.member, OUTSIDE_CLASS_FOLDER))
            continue
        layout.class_names.add(parts[1])
        layout.candidates.append(Candidate(staged, parts[1], split))
    layout.class_names.update(parts[1] for parts in directories if len(parts) > 1 and split_alias(parts[0]) is not None)

    given = {split_alias(name) for name in split_folders}
    if "train" not in given:
        layout.problems.append(
            {
                "code": "missing_train_split",
                "message": (
                    f"the archive has {', '.join(sorted(split_folders))} folders but no train folder; "
                    "add a train/ folder with one subfolder per class"
                ),
            }
        )


def _read_display_names_file(root_files: list[Entry], layout: Layout) -> None:
    for parts, staged in root_files:
        if parts[0] != DISPLAY_NAMES_FILE:
            continue
        try:
            mapping = json.loads(staged.path.read_bytes().decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            mapping = None
            reason = f"it is not valid UTF-8 JSON ({error})"
        else:
            reason = "it must be a JSON object that maps class names to display names"
        if isinstance(mapping, dict) and all(isinstance(value, str) for value in mapping.values()):
            layout.display_names.update({str(key): value for key, value in mapping.items()})
            continue
        layout.warnings.append(
            {"code": "display_names_file_invalid", "message": f"{staged.member} was not used because {reason}", "path": staged.member}
        )


def _find_label_manifest(root_files: list[Entry], layout: Layout, max_rows: int) -> LabelManifest | None:
    found: list[tuple[LabelManifest, StagedFile]] = []
    for parts, staged in root_files:
        if not is_manifest_name(parts[0]):
            continue
        try:
            manifest = read_label_manifest(staged.path, staged.member, max_rows=max_rows)
        except ManifestError as error:
            layout.problems.append({"code": "manifest_invalid", "message": str(error)})
            continue
        if manifest is not None:
            found.append((manifest, staged))

    if len(found) > 1:
        names = ", ".join(manifest.name for manifest, _ in found)
        layout.problems.append(
            {"code": "multiple_manifests", "message": f"the archive has several label manifests ({names}); keep exactly one"}
        )
        return None
    if not found:
        return None
    manifest, staged = found[0]
    layout.labels_from = "manifest"
    layout.manifest = staged.member
    return manifest


