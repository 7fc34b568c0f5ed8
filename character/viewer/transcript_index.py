"""The list of a run's transcripts, its filters, and one transcript's body and verdicts.

The list is read from the parquet index without the `messages` and `text` columns, so a run of
10,000 transcripts lists in well under a second; a body is read only when it is opened, and
full-text search scans only the `text` column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from character.store.cells import check_cells, stored_messages
from character.store.layout import MARKERS_RUBRIC, SCORES, TRANSCRIPTS

INDEX_COLUMNS = [
    "suite",
    "probe_id",
    "epoch",
    "kind",
    "category",
    "tags",
    "n_turns",
    "response_chars",
    "error",
]
VERDICT_COLUMNS = [
    "probe_id",
    "epoch",
    "rubric",
    "dimension",
    "scale",
    "worse",
    "status",
    "value",
    "label",
    "turn",
    "gating",
]
UnscoredFilter = Literal["all", "unscored", "scored"]
UNSCORED_CHOICES: dict[str, str] = {
    "all": "all transcripts",
    "unscored": "with an unscored verdict",
    "scored": "fully scored",
}


def dimension_key() -> pl.Expr:
    return pl.concat_str("rubric", pl.lit("/"), "dimension").alias("dimension_key")


def score_text() -> pl.Expr:
    """A verdict as the short text shown in tables and the score filter: "1", "4", a label."""
    number = pl.col("value").round(2).cast(pl.String).str.replace(r"\.0$", "")
    return (
        pl.when(pl.col("status") != "scored")
        .then(pl.lit("unscored"))
        .when(pl.col("label").is_not_null())
        .then(pl.col("label"))
        .otherwise(number)
        .alias("score")
    )


def load_verdicts(run_dir: Path) -> pl.DataFrame:
    """Judge verdicts without evidence or reasoning (markers left out): what filters need."""
    return (
        pl.scan_parquet(Path(run_dir) / SCORES)
        .filter(pl.col("rubric") != MARKERS_RUBRIC)
        .select(*VERDICT_COLUMNS)
        .with_columns(dimension_key(), score_text())
        .collect()
    )


def load_index(run_dir: Path, verdicts: pl.DataFrame) -> pl.DataFrame:
    """One row per probe x epoch with the number of unscored verdicts."""
    unscored = verdicts.group_by("probe_id", "epoch").agg(
        (pl.col("status") != "scored").sum().cast(pl.Int64).alias("unscored")
    )
    return (
        pl.scan_parquet(Path(run_dir) / TRANSCRIPTS)
        .select(*INDEX_COLUMNS)
        .collect()
        .join(unscored, on=["probe_id", "epoch"], how="left")
        .with_columns(pl.col("unscored").fill_null(0))
        .sort("suite", "probe_id", "epoch")
    )


def search(run_dir: Path, query: str) -> pl.DataFrame:
    """(probe_id, epoch) of transcripts whose text contains `query`, case-insensitively."""
    return (
        pl.scan_parquet(Path(run_dir) / TRANSCRIPTS)
        .filter(pl.col("text").str.contains(query.strip().lower(), literal=True))
        .select("probe_id", "epoch")
        .collect()
    )


@dataclass(frozen=True)
class TranscriptFilters:
    suites: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    dimension: str | None = None  # "rubric/dimension"
    scores: list[str] = field(default_factory=list)  # score texts of that dimension
    unscored: UnscoredFilter = "all"
    query: str = ""


@dataclass(frozen=True)
class FilterOptions:
    suites: list[str]
    categories: list[str]
    tags: list[str]
    dimensions: list[str]


def filter_options(index: pl.DataFrame, verdicts: pl.DataFrame) -> FilterOptions:
    tags = index.select(pl.col("tags").str.split(",").explode().str.strip_chars()).to_series()
    return FilterOptions(
        suites=sorted(index["suite"].unique().to_list()),
        categories=sorted(index["category"].unique().to_list()),
        tags=sorted(tag for tag in tags.unique().to_list() if tag),
        dimensions=sorted(verdicts["dimension_key"].unique().to_list()),
    )


def score_options(verdicts: pl.DataFrame, dimension: str | None) -> list[str]:
    if dimension is None:
        return []
    scores = verdicts.filter(
        (pl.col("dimension_key") == dimension) & (pl.col("status") == "scored")
    )["score"]
    return sorted(scores.unique().to_list())


def apply_filters(
    index: pl.DataFrame,
    verdicts: pl.DataFrame,
    filters: TranscriptFilters,
    matches: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The index rows that pass every filter; with a dimension chosen, its score is a column.

    `matches` is the result of `search` for `filters.query` (None when there is no query).
    """
    rows = index
    if filters.suites:
        rows = rows.filter(pl.col("suite").is_in(filters.suites))
    if filters.categories:
        rows = rows.filter(pl.col("category").is_in(filters.categories))
    if filters.tags:
        tag_list = pl.col("tags").str.split(",").list.eval(pl.element().str.strip_chars())
        rows = rows.filter(tag_list.list.set_intersection(filters.tags).list.len() > 0)
    if matches is not None:
        rows = rows.join(matches, on=["probe_id", "epoch"], how="semi")
    if filters.dimension is not None:
        chosen = verdicts.filter(pl.col("dimension_key") == filters.dimension)
        if filters.scores:
            chosen = chosen.filter(
                (pl.col("status") == "scored") & pl.col("score").is_in(filters.scores)
            )
        if filters.unscored != "all":
            wanted = "scored" if filters.unscored == "scored" else "unscored"
            chosen = chosen.filter(pl.col("status") == wanted)
        rows = rows.join(
            chosen.select("probe_id", "epoch", pl.col("score").alias(filters.dimension)),
            on=["probe_id", "epoch"],
            how="inner",
        )
    elif filters.unscored == "unscored":
        rows = rows.filter(pl.col("unscored") > 0)
    elif filters.unscored == "scored":
        rows = rows.filter(pl.col("unscored") == 0)
    return rows


@dataclass(frozen=True)
class TranscriptBody:
    probe_id: str
    epoch: int
    suite: str
    kind: str
    category: str
    tags: str
    error: str | None
    messages: list[dict]


def load_transcript(run_dir: Path, probe_id: str, epoch: int) -> TranscriptBody | None:
    found = (
        pl.scan_parquet(Path(run_dir) / TRANSCRIPTS)
        .filter((pl.col("probe_id") == probe_id) & (pl.col("epoch") == epoch))
        .select("probe_id", "epoch", "suite", "kind", "category", "tags", "error", "messages")
        .collect()
    )
    if found.height == 0:
        return None
    row = found.row(0, named=True)
    messages = stored_messages(
        row["messages"], file=Path(run_dir) / TRANSCRIPTS, where=f"probe {probe_id} epoch {epoch}"
    )
    return TranscriptBody(**{**row, "messages": messages})


def load_transcript_verdicts(run_dir: Path, probe_id: str, epoch: int) -> pl.DataFrame:
    """Every score row of one transcript (markers included), with evidence and reasoning.

    Its `evidence` and `by_turn` cells are checked here (`cells.check_cells`): the panels that
    parse them later name a damaged one with its table and the `rebuild` fix, not a traceback.
    """
    found = (
        pl.scan_parquet(Path(run_dir) / SCORES)
        .filter((pl.col("probe_id") == probe_id) & (pl.col("epoch") == epoch))
        .with_columns(dimension_key(), score_text())
        .sort("rubric", "dimension")
        .collect()
    )
    return check_cells(found, file=Path(run_dir) / SCORES)


def load_bodies(run_dir: Path, keys: pl.DataFrame) -> pl.DataFrame:
    """Transcript rows (with messages) for the (probe_id, epoch) `keys`, in the keys' order."""
    wanted = keys.select("probe_id", pl.col("epoch").cast(pl.Int32)).with_row_index("_order")
    found = (
        pl.scan_parquet(Path(run_dir) / TRANSCRIPTS)
        .select("probe_id", "epoch", "suite", "kind", "category", "tags", "error", "messages")
        .join(wanted.lazy(), on=["probe_id", "epoch"], how="inner")
        .sort("_order")
        .drop("_order")
        .collect()
    )
    return check_cells(found, file=Path(run_dir) / TRANSCRIPTS)


def load_verdict_details(run_dir: Path, keys: pl.DataFrame) -> pl.DataFrame:
    """Every score row (evidence and reasoning included) of the (probe_id, epoch) `keys`."""
    wanted = keys.select("probe_id", pl.col("epoch").cast(pl.Int32))
    found = (
        pl.scan_parquet(Path(run_dir) / SCORES)
        .join(wanted.lazy(), on=["probe_id", "epoch"], how="semi")
        .collect()
    )
    return check_cells(found, file=Path(run_dir) / SCORES)
