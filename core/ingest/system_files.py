"""Recognition of files that operating systems and desktop tools add to archives.

These are ignored and counted, never decoded or reported as broken images.
"""

from __future__ import annotations

# Compared case-insensitively.
_SYSTEM_FILE_NAMES = frozenset(
    name.casefold()
    for name in (".DS_Store", "Thumbs.db", "ehthumbs.db", "ehthumbs_vista.db", "desktop.ini", ".directory", "Icon\r", ".localized")
)
_SYSTEM_FOLDER_NAMES = frozenset(
    name.casefold()
    for name in (
        "__MACOSX",
        ".Spotlight-V100",
        ".Trashes",
        ".fseventsd",
        ".TemporaryItems",
        "$RECYCLE.BIN",
        "System Volume Information",
        "@eaDir",
        ".git",
        ".svn",
        ".ipynb_checkpoints",
        "__pycache__",
    )
)

SYSTEM_FILE = "system_file"
HIDDEN_FILE = "hidden_file"


def system_file_reason(parts: tuple[str, ...]) -> str | None:
    """Return why a member is ignored as operating-system clutter, or None for a real file."""
    folders, name = parts[:-1], parts[-1]
    if any(folder.casefold() in _SYSTEM_FOLDER_NAMES for folder in folders):
        return SYSTEM_FILE
    if name.casefold() in _SYSTEM_FILE_NAMES or name.startswith("._"):
        # "._name" files are AppleDouble resource forks that macOS writes beside real files.
        return SYSTEM_FILE
    if any(part.startswith(".") for part in parts):
        return HIDDEN_FILE
    return None


def is_system_folder(parts: tuple[str, ...]) -> bool:
    """Tell whether a folder entry is clutter that should not count as a class or wrapper."""
    return any(part.casefold() in _SYSTEM_FOLDER_NAMES or part.startswith(".") for part in parts)
