"""User-facing errors.

Every mistake a user can make (a bad probe file, an unknown model, a missing key, a value out of
range, a damaged stored table) is raised as a `CharacterError` naming the file, the field, the
offending value and the remedy. The CLI prints it on one line and exits with code 2; it never shows
a traceback for a user mistake. The checks themselves live in `character.boundary`.
"""

from __future__ import annotations

import errno
from pathlib import Path

EXIT_USER_ERROR = 2
_NO_VALUE = object()  # `value=None` is a value worth showing; this marks "no value given"


class CharacterError(Exception):
    """An error the user can fix: says where (file, field) and what to do (remedy)."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        field: str | None = None,
        remedy: str | None = None,
        value: object = _NO_VALUE,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.field = field
        self.remedy = remedy
        self.value = None if value is _NO_VALUE else value
        self._show_value = value is not _NO_VALUE
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """`file: field 'f': message (got value) (fix: remedy)` on one line, safe for a terminal.

        Every part may hold text from a file or the command line (a run id ending in a newline, an
        escape sequence in a model name), so control and invisible characters are shown as
        visible markers: the line can neither break nor rewrite the terminal.
        """
        where = ": ".join(part for part in (self.file, self.field and f"field '{self.field}'") if part)
        text = f"{where}: {self.message}" if where else self.message
        if self._show_value:
            text += f" (got {_shown(self.value)})"
        if self.remedy:
            text += f" (fix: {self.remedy})"
        return one_line_text(text)


def _shown(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def one_line_text(text: str) -> str:
    """`text` with every control, line-breaking and invisible character as a visible marker."""
    from character.boundary.text import terminal_safe  # boundary imports this module

    return terminal_safe(text, keep_newlines=False)


def os_error(exc: OSError, path: str | Path | None = None) -> CharacterError:
    """A disk or permission problem as a CharacterError naming the file and what to do.

    Used where character reads and writes its files, and by the CLI as a last resort, so a full
    disk or an unreadable folder is one line on stderr, never a traceback.
    """
    where = path if path is not None else (exc.filename or None)
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        return CharacterError(
            "disk full while writing; the previous version of the file (if any) is kept",
            file=where,
            remedy="free some space and run the command again",
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return CharacterError(
            f"permission denied ({reason})",
            file=where,
            remedy="check the permissions, or choose another folder (e.g. --store)",
        )
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return CharacterError(
            f"no such file or folder ({reason})",
            file=where,
            remedy="check the path (and --store / CHARACTER_STORE)",
        )
    if exc.errno == errno.EISDIR:
        return CharacterError(f"is a folder, not a file ({reason})", file=where, remedy="pass a file")
    return CharacterError(
        f"cannot read or write ({reason})", file=where, remedy="check the path and the disk, then retry"
    )
