"""Parsing of a label manifest inside the archive: a CSV or JSONL file with a path and a label per row.

A manifest is for datasets whose folders are not classes. Column names are matched
case-insensitively against the aliases below; a CSV may be separated by commas,
semicolons or tabs.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

PATH_COLUMNS = ("path", "file", "filename", "file_name", "filepath", "file_path", "image", "image_path", "image_name", "img")
LABEL_COLUMNS = ("label", "class", "class_name", "classname", "category", "target")
SPLIT_COLUMNS = ("split", "subset", "set")
DISPLAY_NAME_COLUMNS = ("display_name", "class_display_name", "prompt_name")

MANIFEST_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson")
_CSV_DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True)
class ManifestRow:
    """One row; `line` is the 1-based line number in the file, for messages."""

    line: int
    path: str
    label: str
    split: str
    display_name: str


@dataclass
class LabelManifest:
    name: str
    rows: list[ManifestRow] = field(default_factory=list)
    row_errors: list[tuple[int, str]] = field(default_factory=list)  # (line, message)


class ManifestError(Exception):
    """A file that is a label manifest but cannot be used, with a message saying what to fix."""


def is_manifest_name(name: str) -> bool:
    return name.casefold().endswith(MANIFEST_SUFFIXES)


def read_label_manifest(path: Path, name: str, *, max_rows: int) -> LabelManifest | None:
    """Parse the manifest file at `path` (named `name` in the archive).

    Returns None when the file lacks a path or a label column, so that it is not a manifest.
    Raises ManifestError when it cannot be decoded as UTF-8, or when it has more lines than
    `max_rows` plus a header (a row per image cannot outnumber the archive's entry limit).
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ManifestError(f"the label manifest {name!r} is not UTF-8 text; save it as UTF-8") from None
    lines = text.count("\n") + 1
    if lines > max_rows + 1:
        raise ManifestError(
            f"the label manifest {name!r} has {lines} lines, more than the limit of {max_rows} rows "
            "(the maximum number of archive entries); split the dataset into several uploads"
        )
    if name.casefold().endswith((".jsonl", ".ndjson")):
        return _read_jsonl(text, name)
    return _read_csv(text, name)


def _match_column(columns: list[str], aliases: tuple[str, ...]) -> str | None:
    lowered = {column.strip().casefold(): column for column in columns}
    for alias in aliases:
        if alias in lowered:
            return lowered[alias]
    return None


def _read_csv(text: str, name: str) -> LabelManifest | None:
    for delimiter in _CSV_DELIMITERS:
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
        columns = reader.fieldnames or []
        path_column = _match_column(columns, PATH_COLUMNS)
        label_column = _match_column(columns, LABEL_COLUMNS)
        if path_column is None or label_column is None:
            continue

        split_column = _match_column(columns, SPLIT_COLUMNS)
        display_column = _match_column(columns, DISPLAY_NAME_COLUMNS)
        manifest = LabelManifest(name=name)
        for record in reader:
            manifest.rows.append(
                ManifestRow(
                    line=reader.line_num,
                    path=(record.get(path_column) or "").strip(),
                    label=(record.get(label_column) or "").strip(),
                    split=(record.get(split_column) or "").strip() if split_column else "",
                    display_name=(record.get(display_column) or "").strip() if display_column else "",
                )
            )
        return manifest
    return None


def _read_jsonl(text: str, name: str) -> LabelManifest | None:
    manifest = LabelManifest(name=name)
    recognised = False
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            manifest.row_errors.append((line_number, f"the line is not valid JSON: {error}"))
            continue
        if not isinstance(record, dict):
            manifest.row_errors.append((line_number, "the line is not a JSON object"))
            continue

        keys = list(record)
        path_key = _match_column(keys, PATH_COLUMNS)
        label_key = _match_column(keys, LABEL_COLUMNS)
        if path_key is None or label_key is None:
            manifest.row_errors.append((line_number, f"the object lacks a path key ({PATH_COLUMNS[0]}) or a label key ({LABEL_COLUMNS[0]})"))
            continue
        recognised = True
        split_key = _match_column(keys, SPLIT_COLUMNS)
        display_key = _match_column(keys, DISPLAY_NAME_COLUMNS)
        manifest.rows.append(
            ManifestRow(
                line=line_number,
                path=_text(record.get(path_key)),
                label=_text(record.get(label_key)),
                split=_text(record.get(split_key)) if split_key else "",
                display_name=_text(record.get(display_key)) if display_key else "",
            )
        )
    return manifest if recognised else None


def _text(value: object) -> str:
    """Return a JSON value as label text: numbers become their decimal form, null becomes ''."""
    if value is None:
        return ""
    return str(value).strip()
