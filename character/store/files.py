"""Safe file writing: temporary name, fsync, rename — a crash never leaves half a file in place.

Every file character writes goes through `atomic_write`. Given the `root` it belongs under (the
store, a report folder), the path is resolved (symlinks, '..') and refused if it leads outside:
a name built from stored or user text can never place a file elsewhere. Disk-full and permission
errors become CharacterErrors naming the file; the previous good file, if any, is untouched.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from character.boundary.paths import check_inside
from character.errors import CharacterError, os_error


def atomic_write(path: Path, write: Callable[[Path], None], *, root: Path | None = None) -> None:
    """Call `write(tmp_path)` then rename the temporary file over `path`.

    `root`: the folder `path` must stay inside once resolved (checked before anything is written).
    The rename replaces a symlink at `path` itself, never the file it points to.
    """
    path = Path(path)
    if root is not None:
        check_inside(root, path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise _write_error(path, exc) from None
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _write_error(path, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, *, root: Path | None = None) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), root=root)


def _write_error(path: Path, exc: OSError) -> CharacterError:
    return os_error(exc, path)


def ensure_dir(path: Path) -> Path:
    """Create a folder (and its parents); a failure names the folder and the remedy."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise os_error(exc, path) from None
    return path


@contextlib.contextmanager
def exclusive_lock(lock_path: Path, *, what: str) -> Iterator[None]:
    """Hold an exclusive advisory lock; a second process doing the same work is refused."""
    ensure_dir(lock_path.parent)
    try:
        handle = open(lock_path, "a+")  # noqa: SIM115 - held for the duration of the context
    except OSError as exc:
        raise os_error(exc, lock_path) from None
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CharacterError(
                f"{what} is in use by another process",
                file=lock_path.parent,
                remedy="wait for the other run to finish (re-running afterwards resumes it)",
            ) from None
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()
