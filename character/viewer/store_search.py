"""Search every run in the store: words in the conversations, a probe id, or a tag.

Each run's transcript index (transcripts.parquet) is scanned for the `text` column only when
words are searched (it is the lower-cased conversation, written for this), so a search over many
runs reads no message bodies. Matches come back grouped by run, newest run first.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import polars as pl

from character.store.layout import TRANSCRIPTS

SearchField = Literal["text", "probe", "tag"]
FIELDS: dict[str, str] = {
    "text": "words in the conversation",
    "probe": "probe id",
    "tag": "tag",
}
RESULT_SCHEMA = {
    "run_id": pl.String,
    "probe_id": pl.String,
    "epoch": pl.Int32,
    "suite": pl.String,
    "category": pl.String,
    "tags": pl.String,
    "snippet": pl.String,
}
SNIPPET_BEFORE, SNIPPET_AFTER = 30, 110  # characters shown around the first match


def _matches(path: Path, query: str, field: SearchField) -> pl.LazyFrame:
    frame = pl.scan_parquet(path)
    if field == "text":
        around = f"(?s)(.{{0,{SNIPPET_BEFORE}}}{re.escape(query)}.{{0,{SNIPPET_AFTER}}})"
        snippet = (
            pl.lit("…")
            + pl.col("text").str.extract(around, 1).str.replace_all(r"\s+", " ")
            + pl.lit("…")
        )
        hit = pl.col("text").str.contains(query, literal=True)
        return frame.filter(hit).with_columns(snippet=snippet)
    if field == "probe":
        hit = pl.col("probe_id").str.to_lowercase().str.contains(query, literal=True)
    else:
        tags = pl.col("tags").fill_null("").str.to_lowercase().str.split(",")
        hit = tags.list.eval(pl.element().str.strip_chars()).list.contains(query)
    return frame.filter(hit).with_columns(snippet=pl.lit(None, pl.String))


def search_runs(run_dirs: dict[str, Path], query: str, field: SearchField) -> pl.DataFrame:
    """Transcripts of the given runs (run id -> folder, in the order to show) that match.

    Words are found case-insensitively as a phrase; a probe id matches on any part; a tag matches
    exactly (ignoring case). Runs whose index cannot be read are left out.
    """
    needle = query.strip().lower()
    if not needle:
        return pl.DataFrame(schema=RESULT_SCHEMA)
    parts = []
    for order, (run_id, folder) in enumerate(run_dirs.items()):
        path = Path(folder) / TRANSCRIPTS
        if not path.is_file():
            continue
        try:
            found = (
                _matches(path, needle, field)
                .select(
                    pl.lit(run_id).alias("run_id"),
                    "probe_id",
                    pl.col("epoch").cast(pl.Int32),
                    "suite",
                    "category",
                    "tags",
                    "snippet",
                    pl.lit(order).alias("_order"),
                )
                .collect()
            )
        except (OSError, pl.exceptions.PolarsError):
            continue  # a damaged or half-written index: the Runs page names the run's problem
        parts.append(found)
    if not parts:
        return pl.DataFrame(schema=RESULT_SCHEMA)
    return (
        pl.concat(parts).sort("_order", "probe_id", "epoch").drop("_order").cast(RESULT_SCHEMA)  # type: ignore[arg-type]
    )
