"""Where things live in the store, and which run ids are acceptable."""

from __future__ import annotations

import os
from pathlib import Path

from character.boundary.ids import RUN_ID
from character.boundary.paths import inside
from character.errors import CharacterError

STORE_ENV = "CHARACTER_STORE"

MANIFEST = "manifest.json"
SCORES = "scores.parquet"
TRANSCRIPTS = "transcripts.parquet"
LABELS = "labels.jsonl"
# the rubric name the lexical markers are stored under in scores.parquet (no judge scores them)
MARKERS_RUBRIC = "markers"
LOGS = "logs"
LOCK = ".lock"
INTERNAL_LOGS = "_logs"  # details of internal errors (never a run: no manifest)
REBUILD_FIX = "run `character rebuild {run}`: it rebuilds the tables from the stored logs (runs) or the stored source (imports)"


def default_store() -> Path:
    return Path(os.environ.get(STORE_ENV) or "transcripts")


def check_run_id(run_id: str, *, field: str = "RUN") -> str:
    """Refuse ids that could escape the store (`../../etc`), or that no run could have.

    Matched whole: an id ending in a newline is refused, not made into a folder.
    """
    if not RUN_ID.matches(run_id):
        raise CharacterError(
            f"invalid run id '{run_id}'",
            field=field,
            remedy="use an id listed by `character runs` (letters, digits, . _ + -)",
        )
    return run_id


def run_dir(store: Path, run_id: str) -> Path:
    """The folder of run `run_id` in the store; refused if it is a symlink leading out of it."""
    folder = Path(store) / check_run_id(run_id)
    if (folder.exists() or folder.is_symlink()) and not inside(store, folder):
        raise CharacterError(
            f"run folder '{run_id}' points outside the store {store}",
            file=folder,
            remedy="remove the symlink from the store (character never reads or writes through it)",
        )
    return folder


def list_run_dirs(store: Path) -> list[Path]:
    """Run folders in the store, by folder name: the folder is the run's identity.

    A symlink leading out of the store is not a run of it. A folder whose name no run id could
    have (a copy named "run (copy)") is listed, so that `character runs` can say what is wrong
    with it (reading its manifest says).
    """
    store = Path(store)
    try:
        if not store.is_dir():
            return []
        entries = list(store.iterdir())
    except OSError:
        return []
    return sorted(p for p in entries if _is_run_folder(p) and inside(store, p))


def _is_run_folder(path: Path) -> bool:
    try:
        return (path / MANIFEST).is_file()
    except OSError:
        return False


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
        raise CharacterError(
            f"no run at '{ref}'", remedy="pass a run folder that holds manifest.json"
        )
    check_run_id(ref)
    exact = store / ref
    if (exact / MANIFEST).is_file():
        if not inside(store, exact):
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
    """Refuse a run whose parquet tables are missing, unreadable or of another schema.

    Checked from the tables' footers, cheaply: a missing column or one of another type (a table
    written by an older version, or edited by hand) is named with its file, instead of a polars
    traceback in the middle of a comparison. Extra columns are allowed (a newer version's). Then
    the numbers analysis uses (epoch, value, spread, turn, counts) are checked for range in one
    pass over those columns (`table_schema.VALUE_RULES`; a few ms for a 10k-transcript run).
    """
    import polars as pl  # here, not at the top: layout is imported by light modules too

    from character.store.table_schema import SCORE_SCHEMA, TRANSCRIPT_SCHEMA, VALUE_RULES

    for name, expected in ((SCORES, SCORE_SCHEMA), (TRANSCRIPTS, TRANSCRIPT_SCHEMA)):
        path = Path(folder) / name
        if not path.is_file():
            raise CharacterError(
                f"the run has no {name} yet (it is still running, or was interrupted)",
                file=path,
                remedy="re-run the command that made the run: it resumes and writes the tables",
            )
        if path.is_symlink():
            raise CharacterError(
                "stored table is a symbolic link; character does not read through links in the store",
                file=path,
                remedy=REBUILD_FIX.format(run=Path(folder).name),
            )
        try:
            found = pl.read_parquet_schema(path)
        except Exception as exc:  # polars/pyarrow raise several types for a damaged file
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
            raise CharacterError(
                f"stored table is damaged or unreadable ({first})",
                file=path,
                remedy=REBUILD_FIX.format(run=Path(folder).name),
            ) from None
        missing = [column for column in expected if column not in found]
        if missing:
            raise CharacterError(
                f"stored table lacks column(s) {', '.join(missing)} (written by an older version "
                "of character, or edited)",
                file=path,
                field=missing[0],
                remedy=REBUILD_FIX.format(run=Path(folder).name),
            )
        for column, dtype in expected.items():
            if found[column] != dtype:
                raise CharacterError(
                    f"stored column has type {found[column]}, not {dtype} (written by an older "
                    "version of character, or edited)",
                    file=path,
                    field=column,
                    remedy=REBUILD_FIX.format(run=Path(folder).name),
                )
        _check_values(path, VALUE_RULES[name.split(".")[0]], run=Path(folder).name)


def _check_values(path: Path, rules: list, *, run: str) -> None:
    """Refuse a table whose numbers analysis would compute with are impossible (NaN, 1e300, a
    level off every scale, epoch -5): edited by hand or written by another tool. Otherwise
    `show` prints `nan%` and `compare` reports NaN statistics instead of naming the table."""
    import polars as pl

    from character.store.table_schema import first_bad_value

    try:
        bad = first_bad_value(pl.scan_parquet(path), rules)
    except (pl.exceptions.PolarsError, OSError) as exc:  # a footer that reads, data that does not
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        raise CharacterError(
            f"stored table is damaged or unreadable ({first})",
            file=path,
            remedy=REBUILD_FIX.format(run=run),
        ) from None
    if bad is not None:
        raise CharacterError(
            f"stored table is damaged: probe {bad['probe_id']} epoch {bad['epoch']}: "
            f"{bad['column']} should be {bad['expected']}",
            file=path,
            field=bad["column"],
            value=bad["value"],
            remedy=REBUILD_FIX.format(run=run),
        )
