"""Reading the public datasets' CSV files: a header peek, and rows with the file line they start on.

The reading itself is the boundary's (`character.boundary.reading`): a size cap, UTF-8 with the
byte offset and the fix on a decode error (a file saved by a spreadsheet in Windows-1252), and the
delimiter sniffed from the header (a spreadsheet in many locales saves ';' between fields).
Quoted answers span several lines, so a record's position is the file line where it starts; that
is the number a problem report gives.
"""

from __future__ import annotations

from pathlib import Path

from character.boundary.reading import csv_header as header_of
from character.boundary.reading import csv_rows, csv_text
from character.errors import CharacterError


def csv_header(path: Path) -> list[str]:
    """The first row, or [] when the file is missing or not CSV (used to recognise formats)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(64 * 1024)
        text = head.decode("utf-8-sig", errors="replace")
    except OSError:
        return []
    return header_of(text)


def read_rows(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(first file line of the record, row) for every record; refuses a file missing a column."""
    if not Path(path).is_file():
        raise CharacterError("file not found", file=path, remedy="check the path")
    _header, rows = csv_rows(csv_text(path), path, columns)
    return rows
