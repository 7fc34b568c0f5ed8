"""JSON held in a stored table's cells (a transcript's messages, a verdict's evidence and per-turn
series), parsed with the damage named.

`layout.check_tables` checks a table's columns from its footer, cheaply; it cannot see inside a
cell. A cell edited by hand, or written by a tool other than character, reached `json.loads` and
`message["role"]` in the middle of `character show` and the viewer: an internal error. Here a
cell that is not the JSON its column holds is a CharacterError naming the table, the column and
the probe, with the fix every other damaged table gets: `character rebuild RUN`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from character.errors import CharacterError
from character.store.layout import REBUILD_FIX

if TYPE_CHECKING:
    import polars as pl


def _damaged(file: Path, column: str, where: str, what: str) -> CharacterError:
    return CharacterError(
        f"stored table is damaged: {where}: {what}",
        file=file,
        field=column,
        remedy=REBUILD_FIX.format(run=file.parent.name),
    )


def _parse(text: str | None, file: Path, column: str, where: str) -> Any:
    try:
        return json.loads(text or "[]")
    except (json.JSONDecodeError, RecursionError):
        raise _damaged(file, column, where, "the cell is not valid JSON") from None


def stored_messages(text: str | None, *, file: Path, where: str) -> list[dict]:
    """A transcript's `messages` cell: a list of {role, content, ...} objects."""
    messages = _parse(text, file, "messages", where)
    if not isinstance(messages, list) or not all(
        isinstance(m, dict)
        and m.get("role") in ("system", "user", "assistant")
        and isinstance(m.get("content"), str | None)
        for m in messages
    ):
        raise _damaged(file, "messages", where, "not a list of {role, content} messages")
    return messages


def stored_evidence(text: str | None, *, file: Path, where: str) -> list[dict]:
    """A verdict's `evidence` cell: a list of {turn, role, quote, verified} objects."""
    evidence = _parse(text, file, "evidence", where)
    if not isinstance(evidence, list) or not all(
        isinstance(e, dict) and isinstance(e.get("quote"), str) for e in evidence
    ):
        raise _damaged(file, "evidence", where, "not a list of {turn, quote} objects")
    return evidence


def stored_series(text: str | None, *, file: Path, where: str) -> list[tuple[int, float | None]]:
    """A verdict's `by_turn` cell: a list of [turn, value] pairs (value null where unrated)."""
    series = _parse(text, file, "by_turn", where)
    if not isinstance(series, list) or not all(
        isinstance(p, list)
        and len(p) == 2
        and isinstance(p[0], int)
        and not isinstance(p[0], bool)
        and (p[1] is None or (isinstance(p[1], int | float) and not isinstance(p[1], bool)))
        for p in series
    ):
        raise _damaged(file, "by_turn", where, "not a list of [turn, value] pairs")
    return [(turn, value) for turn, value in series]


_READERS = {"messages": stored_messages, "evidence": stored_evidence, "by_turn": stored_series}


def where_of(row: dict[str, Any]) -> str:
    """How a damaged cell's row is named: `probe P epoch E`."""
    return f"probe {row.get('probe_id')} epoch {row.get('epoch')}"


def check_cells(
    frame: pl.DataFrame, *, file: Path, columns: Iterable[str] = tuple(_READERS)
) -> pl.DataFrame:
    """`frame` (rows of the table `file`) unchanged, once every JSON cell of `columns` it holds
    parses as its column's shape; else the first damaged cell as a CharacterError.

    For readers that take a frame from a loader and parse its cells later, away from the file's
    name (the viewer's panels and exports, the survival analysis): the loader calls this, so a
    damaged cell is named with its table, probe and epoch and the `rebuild` fix where it is read.
    Costs one JSON parse per cell; call it on the rows about to be shown or analysed.
    """
    present = [column for column in columns if column in frame.columns]
    if not present:
        return frame
    keys = [key for key in ("probe_id", "epoch") if key in frame.columns]
    for row in frame.select(*keys, *present).iter_rows(named=True):
        for column in present:
            if row[column] is not None:
                _READERS[column](row[column], file=file, where=where_of(row))
    return frame
