"""Counting of archive members and decompressed bytes against the limits, as they are read."""

from __future__ import annotations

from core.ingest.errors import archive_too_large, format_bytes
from core.ingest.limits import IngestLimits


class ExpansionBudget:
    """Running totals of one archive's members and decompressed bytes.

    Readers call `add_member` for every entry and `add_bytes` for every chunk they decompress,
    so a limit is enforced at the first entry or chunk that passes it, whatever the headers
    declared.
    """

    def __init__(self, limits: IngestLimits) -> None:
        self.limits = limits
        self.members = 0
        self.expanded_bytes = 0

    def check_member_count(self, count: int) -> None:
        if count > self.limits.max_members:
            raise archive_too_large(
                f"the archive contains more than {self.limits.max_members} entries, the limit for one upload; "
                "split the dataset into several uploads or remove unneeded files"
            )

    def add_member(self) -> None:
        self.members += 1
        self.check_member_count(self.members)

    def add_bytes(self, size: int) -> None:
        self.expanded_bytes += size
        if self.expanded_bytes > self.limits.max_expanded_bytes:
            raise archive_too_large(
                f"the archive expands to more than {format_bytes(self.limits.max_expanded_bytes)}, "
                "the limit for one upload; upload fewer or smaller images"
            )
