"""The rows on screen as a CSV download, safe to open in a spreadsheet.

CSV cells that a spreadsheet would run as a formula (starting with = + - @ or a tab / carriage
return) get a leading apostrophe: the table can hold error messages and imported text, and
opening a download must not execute anything. (A comparison's reports are downloaded as the
files `character compare` writes: comparing.report_downloads.)
"""

from __future__ import annotations

import polars as pl

FORMULA_START = r"^[=+\-@\t\r]"


def rows_csv(frame: pl.DataFrame) -> bytes:
    """The frame as UTF-8 CSV: lists joined with '; ', formula-like text neutralised."""
    cells = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.List):
            column = column.cast(pl.List(pl.String)).list.join("; ")
        elif dtype != pl.String:
            cells.append(column)
            continue
        text = column.cast(pl.String)
        cells.append(
            pl.when(text.str.contains(FORMULA_START)).then(pl.lit("'") + text).otherwise(text).alias(name)
        )
    return frame.select(cells).write_csv().encode("utf-8")
