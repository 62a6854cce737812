"""Class name normalisation, collision detection and default display names."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict

_SEPARATORS = re.compile(r"[\s_\-.]+")


def collision_key(name: str) -> str:
    """Return the form two names share when a person would read them as the same class.

    Case, Unicode form (NFKC, so "ﬁ" equals "fi" and full-width letters equal ASCII) and
    runs of spaces, underscores, hyphens and dots are ignored.
    """
    folded = unicodedata.normalize("NFKC", name).casefold()
    return _SEPARATORS.sub(" ", folded).strip()


def find_collisions(names: set[str]) -> list[list[str]]:
    """Return groups of two or more distinct names that share a collision key, sorted."""
    groups: dict[str, list[str]] = defaultdict(list)
    for name in names:
        groups[collision_key(name)].append(name)
    return sorted(sorted(group) for group in groups.values() if len(group) > 1)


def default_display_name(name: str) -> str:
    """Return the prompt text for a class without a given display name: separators become spaces."""
    spaced = re.sub(r"[_\-]+", " ", unicodedata.normalize("NFC", name))
    return re.sub(r"\s+", " ", spaced).strip() or name
