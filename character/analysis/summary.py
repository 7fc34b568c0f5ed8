"""Per-suite, per-dimension summaries of one run's scores (rates for binary, means for scales)."""

from __future__ import annotations

import polars as pl

from character.store.layout import MARKERS_RUBRIC


def dimension_summary(scores: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """One row per suite x rubric x dimension: probes, scored and unscored counts, mean value."""
    lazy = scores.lazy() if isinstance(scores, pl.DataFrame) else scores
    return (
        lazy.filter(pl.col("rubric") != MARKERS_RUBRIC)
        .group_by("suite", "rubric", "dimension", "scale", "worse", "gating")
        .agg(
            pl.col("probe_id").n_unique().alias("probes"),
            (pl.col("status") == "scored").sum().alias("scored"),
            (pl.col("status") == "unscored").sum().alias("unscored"),
            pl.col("value").filter(pl.col("status") == "scored").mean().alias("mean"),
        )
        .sort("suite", "rubric", "dimension")
        .collect()
    )


def format_value(mean: float | None, scale: str) -> str:
    if mean is None:
        return "n/a"
    return f"{mean * 100:5.1f}%" if scale == "binary" else f"{mean:5.2f} "


def summary_lines(summary: pl.DataFrame) -> list[str]:
    lines: list[str] = []
    current = None
    for row in summary.iter_rows(named=True):
        if row["suite"] != current:
            current = row["suite"]
            lines.append(f"  {current}")
        worse = "lower is worse" if row["worse"] == "lower" else "higher is worse"
        unscored = f", {row['unscored']} unscored" if row["unscored"] else ""
        lines.append(
            f"    {row['rubric'] + '/' + row['dimension']:<36} {format_value(row['mean'], row['scale'])}"
            f"  ({row['probes']} probes, {row['scored']} scored{unscored}; {worse})"
        )
    return lines
