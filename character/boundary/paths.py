"""Paths built from untrusted names stay under their root.

A run id read from a file, a folder name in the store, a symlink planted in a run folder: none may
lead a read or a write outside the folder it belongs to. `inside` resolves symlinks and `..` and
checks the result; `child` builds a path from a checked name; `no_symlink` refuses a final
component that is a symlink (a write through it would land wherever it points).
"""

from __future__ import annotations

import os
from pathlib import Path

from character.errors import CharacterError


def inside(root: Path, path: Path) -> bool:
    """Whether `path`, with every symlink and `..` resolved, is `root` or under it."""
    try:
        return Path(path).resolve().is_relative_to(Path(root).resolve())
    except (OSError, RuntimeError):  # a symlink loop
        return False


def check_inside(root: Path, path: Path, *, what: str = "file", remedy: str | None = None) -> Path:
    """`path` if it stays under `root` once resolved; else a CharacterError naming both."""
    if not inside(root, path):
        raise CharacterError(
            f"{what} leads outside {root} (through a symlink or '..'); refused",
            file=path,
            remedy=remedy
            or f"keep {what}s inside {root}; replace the symlink with a real file or folder",
        )
    return Path(path)


def no_symlink(path: Path, *, what: str = "file") -> Path:
    """`path` unless it is a symbolic link (followed, a write or read could go anywhere)."""
    if os.path.islink(path):
        raise CharacterError(
            f"{what} is a symbolic link; character does not read or write through links in the store",
            file=path,
            remedy=f"replace the link with a real {what}",
        )
    return Path(path)
