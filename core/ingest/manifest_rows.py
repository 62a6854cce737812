"""Assigning staged files to classes from the rows of a label manifest."""

from __future__ import annotations

from core.errors import InvalidRequestError
from core.ingest.collect import Rejection, StagedFile
from core.ingest.label_manifest import LabelManifest
from core.ingest.layout_model import Candidate, Entry, Layout
from core.ingest.member_paths import member_parts
from core.ingest.splits import SPLIT_ALIASES, split_alias

NOT_IN_MANIFEST = "not_in_manifest"
_SIDE_FILES = ("display_names.json",)


def assign_manifest_rows(manifest: LabelManifest, entries: list[Entry], layout: Layout) -> None:
    """Turn rows into candidates. Paths are relative to the manifest's folder or to the archive root.

    A row that cannot be used is rejected with its line number. A file given two different
    labels is rejected, and a repeated row with the same label is used once.
    """
    relative = {parts: staged for parts, staged in entries}
    absolute = {staged.parts: staged for _, staged in entries}
    assigned: dict[tuple[str, ...], tuple[str, str | None]] = {}
    conflicts: dict[tuple[str, ...], set[str]] = {}

    for line, message in manifest.row_errors:
        layout.rejected.append(Rejection(f"{manifest.name}:{line}", "invalid_row", f"line {line} of {manifest.name}: {message}"))

    for row in manifest.rows:
        where = f"line {row.line} of {manifest.name}"
        if row.label:
            layout.class_names.add(row.label)
        staged = _resolve_row(row.path, where, relative, absolute, manifest, layout)
        if staged is None:
            continue
        if not row.label:
            layout.rejected.append(Rejection(staged.member, "missing_label", f"{where} gives no label for this file"))
            continue
        split = split_alias(row.split) if row.split else None
        if row.split and split is None:
            allowed = ", ".join(sorted(SPLIT_ALIASES))
            message = f"{where} has the split {row.split!r}; use one of: {allowed}, or leave it empty"
            layout.rejected.append(Rejection(staged.member, "invalid_split", message))
            continue
        if row.display_name:
            layout.display_names.setdefault(row.label, row.display_name)

        previous = assigned.setdefault(staged.parts, (row.label, split))
        if previous[0] != row.label:
            conflicts.setdefault(staged.parts, {previous[0]}).add(row.label)

    _add_candidates(assigned, conflicts, absolute, layout)
    _ignore_unlisted(entries, assigned, manifest, layout)


def _resolve_row(
    path: str,
    where: str,
    relative: dict[tuple[str, ...], StagedFile],
    absolute: dict[tuple[str, ...], StagedFile],
    manifest: LabelManifest,
    layout: Layout,
) -> StagedFile | None:
    if not path:
        layout.rejected.append(Rejection(f"{manifest.name}:{where}", "invalid_row", f"{where} has no image path"))
        return None
    try:
        parts = member_parts(path)
    except InvalidRequestError:
        message = f"{where} names a path that is absolute or leaves the archive; use paths relative to the manifest"
        layout.rejected.append(Rejection(path, "invalid_path", message))
        return None
    staged = relative.get(parts) or absolute.get(parts)
    if staged is None:
        layout.rejected.append(Rejection(path, "missing_file", f"{where} names a file that is not in the archive"))
    return staged


def _add_candidates(
    assigned: dict[tuple[str, ...], tuple[str, str | None]],
    conflicts: dict[tuple[str, ...], set[str]],
    absolute: dict[tuple[str, ...], StagedFile],
    layout: Layout,
) -> None:
    for parts, (label, split) in assigned.items():
        staged = absolute[parts]
        if parts in conflicts:
            labels = ", ".join(sorted(conflicts[parts]))
            message = f"the manifest gives this file more than one label ({labels}); keep one row per image"
            layout.rejected.append(Rejection(staged.member, "conflicting_labels", message))
            continue
        layout.candidates.append(Candidate(staged, label, split))


def _ignore_unlisted(entries: list[Entry], assigned: dict[tuple[str, ...], tuple[str, str | None]], manifest: LabelManifest, layout: Layout) -> None:
    for parts, staged in entries:
        if staged.parts in assigned or staged.member == manifest.name:
            continue
        if len(parts) == 1 and parts[0] in _SIDE_FILES:
            continue
        layout.ignored.append((staged.member, NOT_IN_MANIFEST))
