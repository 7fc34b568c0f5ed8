"""Where things live in the store, and which run ids are acceptable."""

from __future__ import annotations

import os
import re
from pathlib import Path

from character.errors import CharacterError

STORE_ENV = "CHARACTER_STORE"
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+\-]{0,159}$")

MANIFEST = "manifest.json"
SCORES = "scores.parquet"
TRANSCRIPTS = "transcripts.parquet"
LABELS = "labels.jsonl"
# the rubric name the lexical markers are stored under in scores.parquet (no judge scores them)
MARKERS_RUBRIC = "markers"
LOGS = "logs"
LOCK = ".lock"


def default_store() -> Path:
    return Path(os.environ.get(STORE_ENV) or "transcripts")


def check_run_id(run_id: str, *, field: str = "RUN") -> str:
    """Refuse ids that could escape the store (`../../etc`), or that no run could have."""
    if not RUN_ID.match(run_id) or ".." in run_id:
        raise CharacterError(
            f"invalid run id '{run_id}'",
            field=field,
            remedy="use an id listed by `character runs` (letters, digits, . _ + -)",
        )
    return run_id


def run_dir(store: Path, run_id: str) -> Path:
    return Path(store) / check_run_id(run_id)


def list_run_dirs(store: Path) -> list[Path]:
    """Run folders in the store; a symlink leading out of the store is not a run of it."""
    store = Path(store)
    if not store.is_dir():
        return []
    return sorted(p for p in store.iterdir() if (p / MANIFEST).is_file() and _inside(store, p))


def _inside(store: Path, folder: Path) -> bool:
    return folder.resolve().is_relative_to(store.resolve())


def resolve_run(store: Path, ref: str, *, tables: bool = True) -> Path:
    """A run id in the store, a unique id prefix, or a path to a run folder.

    With `tables`, the run's score and transcript tables must be there and readable (checked from
    their footers, cheaply), so a damaged store is one clear error, not a parquet traceback later.
    """
    folder = _find_run(Path(store), ref)
    if tables:
        check_tables(folder)
    return folder


def _find_run(store: Path, ref: str) -> Path:
    as_path = Path(ref)
    if (as_path / MANIFEST).is_file():
        return as_path
    if "/" in ref or os.sep in ref:
        raise CharacterError(f"no run at '{ref}'", remedy="pass a run folder that holds manifest.json")
    check_run_id(ref)
    exact = store / ref
    if (exact / MANIFEST).is_file():
        if not _inside(store, exact):
            raise CharacterError(
                f"run '{ref}' points outside the store {store}",
                field="RUN",
                remedy="pass the run's real folder as a path if you trust it",
            )
        return exact
    matches = [p for p in list_run_dirs(store) if p.name.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise CharacterError(
            f"run id prefix '{ref}' matches {len(matches)} runs",
            remedy="give more of the id: " + ", ".join(p.name for p in matches[:5]),
        )
    raise CharacterError(
        f"no run '{ref}' in store {store}",
        remedy="list runs with `character runs`, or point --store at the right folder",
    )


def check_tables(folder: Path) -> None:
    """Refuse a run whose parquet tables are missing or unreadable, saying how to rebuild them."""
    import polars as pl  # here, not at the top: layout is imported by light modules too

    for name in (SCORES, TRANSCRIPTS):
        path = Path(folder) / name
        if not path.is_file():
            raise CharacterError(
                f"the run has no {name} yet (it is still running, or was interrupted)",
                file=path,
                remedy="re-run the command that made the run: it resumes and writes the tables",
            )
        try:
            pl.read_parquet_schema(path)
        except Exception as exc:  # polars/pyarrow raise several types for a damaged file
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
            raise CharacterError(
                f"stored table is damaged or unreadable ({first})",
                file=path,
                remedy="re-run the command that made the run: it rebuilds the tables from its logs",
            ) from None
