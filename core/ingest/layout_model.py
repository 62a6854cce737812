"""The result of layout detection: staged files assigned to classes and splits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.ingest.collect import Rejection, StagedFile

Entry = tuple[tuple[str, ...], StagedFile]  # (path below the wrapper folders, staged file)


@dataclass(frozen=True)
class Candidate:
    """A staged file assigned to a class, and to a split when the archive names one."""

    file: StagedFile
    class_name: str
    split: str | None


@dataclass
class Layout:
    """Classes, candidates and what the layout step ignored, rejected or could not accept.

    `labels_from` is "folders" or "manifest"; `wrappers` lists the folders that were
    unwrapped, outermost first; `display_names` come from the archive itself.
    """

    labels_from: str = "folders"
    candidates: list[Candidate] = field(default_factory=list)
    class_names: set[str] = field(default_factory=set)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    wrappers: list[str] = field(default_factory=list)
    manifest: str | None = None
    display_names: dict[str, str] = field(default_factory=dict)

    @property
    def splits_given(self) -> bool:
        return any(candidate.split is not None for candidate in self.candidates)
