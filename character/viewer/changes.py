"""Verdicts that changed between two runs: the Compare page's reading queue, worst first.

A verdict is one probe x epoch x dimension. It changed when its score (value or categorical
label) differs between the baseline and the candidate run, or when it is scored in one run and
unscored in the other. Epochs are paired by number: both runs replay the same scripted turns, so
epoch k of one is the natural neighbour of epoch k of the other (the statistics pair per-probe
means instead; this queue is for reading, not for testing).

Order ("worst first"): moves in the worse direction, largest first (as a share of the scale's
range, so a 1 -> 5 drop on a five-point scale ranks with a 0 -> 1 flip on a binary one); then
categorical changes, whose direction the rubric does not give; then verdicts unscored in one run;
then moves in the better direction, largest first. Gating dimensions come before exploratory
ones on ties, then probe, epoch and dimension.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import polars as pl

Change = Literal["worse", "better", "changed", "unscored"]
ChangeFilter = Literal["any", "worse", "better"]
CHANGE_ORDER: dict[str, int] = {"worse": 0, "changed": 1, "unscored": 2, "better": 3}
CHANGE_CHOICES: dict[str, str] = {
    "any": "every change",
    "worse": "worse in the candidate",
    "better": "better in the candidate",
}
KEYS = ["probe_id", "epoch", "rubric", "dimension"]
QUEUE_COLUMNS = ["probe_id", "epoch", "dimension_key", "baseline", "candidate", "change"]


def _side(verdicts: pl.DataFrame, suffix: str) -> pl.DataFrame:
    return verdicts.select(
        *KEYS,
        "dimension_key",
        "scale",
        "worse",
        pl.col("gating") if "gating" in verdicts.columns else pl.lit(True).alias("gating"),
        pl.col("status").alias(f"status_{suffix}"),
        pl.col("value").alias(f"value_{suffix}"),
        pl.col("label").alias(f"label_{suffix}"),
        pl.col("score").alias(suffix),
        pl.col("turn").alias(f"turn_{suffix}"),
    )


def changed_verdicts(
    baseline: pl.DataFrame, candidate: pl.DataFrame, ranges: Mapping[str, float] | None = None
) -> pl.DataFrame:
    """Every verdict whose score moved, worst first.

    `baseline` and `candidate` are verdict tables (transcript_index.load_verdicts: one row per
    probe x epoch x rubric x dimension, with `score` text). `ranges` gives the width of each
    ordinal scale ("rubric/dimension" -> max level - min level); a missing one is taken from the
    values seen in either run. Returns QUEUE_COLUMNS plus `harm` (the move toward worse as a share
    of the range; negative when better, 0 when unknown), `gating` and both runs' `turn`s.
    """
    joined = _side(baseline, "baseline").join(
        _side(candidate, "candidate").drop("dimension_key", "scale", "worse", "gating"),
        on=KEYS,
        how="inner",
    )
    both_scored = (pl.col("status_baseline") == "scored") & (pl.col("status_candidate") == "scored")
    moved = (
        (pl.col("status_baseline") != pl.col("status_candidate"))
        | (both_scored & pl.col("value_baseline").ne_missing(pl.col("value_candidate")))
        | (both_scored & pl.col("label_baseline").ne_missing(pl.col("label_candidate")))
    )
    changed = joined.filter(moved)
    observed = changed.group_by("dimension_key").agg(
        (
            pl.max_horizontal(pl.col("value_baseline").max(), pl.col("value_candidate").max())
            - pl.min_horizontal(pl.col("value_baseline").min(), pl.col("value_candidate").min())
        ).alias("observed_range")
    )
    given = pl.DataFrame(
        {
            "dimension_key": list((ranges or {}).keys()),
            "given_range": list((ranges or {}).values()),
        },
        schema={"dimension_key": pl.String, "given_range": pl.Float64},
    )
    step = pl.col("value_candidate") - pl.col("value_baseline")
    signed = pl.when(pl.col("worse") == "lower").then(-step).otherwise(step)
    span = (
        pl.when(pl.col("scale") == "binary")
        .then(pl.lit(1.0))
        .otherwise(pl.coalesce("given_range", "observed_range"))
        .clip(lower_bound=1.0)
    )
    numeric = (
        both_scored
        & pl.col("value_baseline").is_not_null()
        & pl.col("value_candidate").is_not_null()
    )
    return (
        changed.join(observed, on="dimension_key", how="left")
        .join(given, on="dimension_key", how="left")
        .with_columns(harm=pl.when(numeric).then(signed / span).otherwise(pl.lit(0.0)))
        .with_columns(
            change=pl.when(~both_scored)
            .then(pl.lit("unscored"))
            .when(pl.col("harm") > 0)
            .then(pl.lit("worse"))
            .when(pl.col("harm") < 0)
            .then(pl.lit("better"))
            .otherwise(pl.lit("changed"))
        )
        .with_columns(order=pl.col("change").replace_strict(CHANGE_ORDER, return_dtype=pl.Int8))
        .sort(
            ["order", pl.col("harm").abs(), "gating", "probe_id", "epoch", "dimension_key"],
            descending=[False, True, True, False, False, False],
        )
        .select(*QUEUE_COLUMNS, "harm", "gating", "turn_baseline", "turn_candidate")
    )


def filter_queue(
    queue: pl.DataFrame, dimension: str | None = None, change: ChangeFilter = "any"
) -> pl.DataFrame:
    """The queue on one dimension ("rubric/dimension"; None: all) and one direction."""
    rows = queue
    if dimension is not None:
        rows = rows.filter(pl.col("dimension_key") == dimension)
    if change != "any":
        rows = rows.filter(pl.col("change") == change)
    return rows


def dimension_counts(queue: pl.DataFrame) -> dict[str, dict[str, int]]:
    """ "rubric/dimension" -> {change kind -> number of changed verdicts}."""
    counts: dict[str, dict[str, int]] = {}
    for key, change, n in queue.group_by("dimension_key", "change").len().iter_rows():
        counts.setdefault(key, {})[change] = n
    return dict(sorted(counts.items()))


def first_changed_epoch(queue: pl.DataFrame, probe_id: str, dimension: str | None) -> int | None:
    """The epoch of the worst change on this probe (on `dimension` when given), or None."""
    rows = queue.filter(pl.col("probe_id") == probe_id)
    if dimension is not None:
        rows = rows.filter(pl.col("dimension_key") == dimension)
    return int(rows["epoch"][0]) if rows.height else None


def probe_epochs_table(
    baseline: pl.DataFrame, candidate: pl.DataFrame, probe_id: str
) -> pl.DataFrame:
    """One probe's scores in both runs: one row per dimension, one column per epoch.

    A cell is "b → c" (baseline → candidate) when the verdict changed, one score when both runs
    agree, "–" where a run has no verdict.
    """

    def side(verdicts: pl.DataFrame, name: str) -> pl.DataFrame:
        return verdicts.filter(pl.col("probe_id") == probe_id).select(
            "dimension_key", "epoch", pl.col("score").alias(name)
        )

    joined = side(baseline, "b").join(
        side(candidate, "c"), on=["dimension_key", "epoch"], how="full", coalesce=True
    )
    if joined.height == 0:
        return pl.DataFrame({"dimension": []}, schema={"dimension": pl.String})
    cell = (
        pl.when(pl.col("b").eq_missing(pl.col("c")))
        .then(pl.col("b"))
        .otherwise(pl.col("b").fill_null("–") + pl.lit(" → ") + pl.col("c").fill_null("–"))
    )
    long = joined.with_columns(
        cell=cell, column=pl.lit("epoch ") + pl.col("epoch").cast(pl.String)
    ).sort("epoch")
    changed = long.group_by("dimension_key").agg(
        (~pl.col("b").eq_missing(pl.col("c"))).sum().cast(pl.Int64).alias("changed")
    )
    wide = long.pivot("column", index="dimension_key", values="cell", sort_columns=False)
    return (
        wide.join(changed, on="dimension_key")
        .sort("dimension_key")
        .rename({"dimension_key": "dimension"})
    )
