"""The nightly history as the Trends page shows it: one series at a time, model apart from canaries.

The history file is the one `character nightly` writes into the store (<store>/_nightly/
history.parquet); its CUSUM sums and alarms were computed by character.analysis.nightly and are
only drawn here. Alarm wording is nightly's own (`alarm_messages`).
"""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import polars as pl

from character.analysis.nightly import (
    KIND_CANARY,
    KIND_MODEL,
    alarm_messages,
    history_file,
)

__all__ = [
    "KIND_CANARY",
    "KIND_MODEL",
    "Series",
    "alarm_table",
    "cusum_chart",
    "history_file",
    "latest_alarms",
    "means_chart",
    "series",
    "series_keys",
]


@dataclass(frozen=True)
class Series:
    target: str
    rubric: str
    dimension: str

    @property
    def label(self) -> str:
        return f"{self.target} · {self.rubric}/{self.dimension}"


def series_keys(history: pl.DataFrame, kind: str) -> list[Series]:
    """Every (target, rubric, dimension) with observations of this kind, gating dimensions first."""
    rows = (
        history.filter((pl.col("kind") == kind) & (pl.col("dimension") != ""))
        .group_by("target", "rubric", "dimension")
        .agg(pl.col("gating").any())
        .sort(pl.col("gating").not_(), "target", "rubric", "dimension")
    )
    return [Series(t, r, d) for t, r, d, _ in rows.iter_rows()]


def series(history: pl.DataFrame, kind: str, chosen: Series) -> pl.DataFrame:
    return history.filter(
        (pl.col("kind") == kind)
        & (pl.col("target") == chosen.target)
        & (pl.col("rubric") == chosen.rubric)
        & (pl.col("dimension") == chosen.dimension)
    ).sort("night", "recorded")


def _nightly_lines(
    frame: pl.DataFrame, columns: list[str], *, legend: str, y_title: str, fmt: str
) -> alt.Chart:
    """One line per column over the nights, split by reference run (a new reference, new lines)."""
    long = frame.select("night", "reference_run_id", *columns).unpivot(
        columns, index=["night", "reference_run_id"], variable_name=legend, value_name="value"
    )
    return (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("night:T", title="night"),
            y=alt.Y("value:Q", title=y_title),
            color=alt.Color(f"{legend}:N", title=None),
            detail="reference_run_id:N",
            tooltip=[
                "night:T",
                f"{legend}:N",
                alt.Tooltip("value:Q", format=fmt),
                "reference_run_id:N",
            ],
        )
    )


def cusum_chart(frame: pl.DataFrame, h: float) -> alt.LayerChart:
    """S+ and S- per night against the threshold h; alarming nights marked in red."""
    lines = _nightly_lines(
        frame, ["s_plus", "s_minus"], legend="sum", y_title="CUSUM (in SEs)", fmt=".2f"
    )
    threshold = (
        alt.Chart(pl.DataFrame({"h": [h]}))
        .mark_rule(color="red", strokeDash=[4, 4])
        .encode(y="h:Q")
    )
    alarms = frame.filter(pl.col("alarm")).with_columns(
        value=pl.max_horizontal("s_plus", "s_minus")
    )
    marks = (
        alt.Chart(alarms)
        .mark_point(color="red", size=140, shape="triangle-up", filled=True)
        .encode(
            x="night:T",
            y="value:Q",
            tooltip=["night:T", "direction:N", alt.Tooltip("z:Q", format="+.2f")],
        )
    )
    return alt.layer(lines, threshold, marks)


def means_chart(frame: pl.DataFrame) -> alt.Chart:
    """Each night's mean beside the frozen reference's mean."""
    return _nightly_lines(
        frame, ["mean", "reference_mean"], legend="series", y_title="mean score", fmt=".3f"
    )


ALARM_COLUMNS = [
    "night",
    "target",
    "rubric",
    "dimension",
    "gating",
    "reference_mean",
    "mean",
    "delta",
    "z",
    "s_plus",
    "s_minus",
    "direction",
    "reference_run_id",
    "run_id",
]


def alarm_table(history: pl.DataFrame, kind: str) -> pl.DataFrame:
    """Every alarming night of this kind, newest first."""
    return (
        history.filter((pl.col("kind") == kind) & pl.col("alarm"))
        .sort("night", descending=True)
        .select(ALARM_COLUMNS)
    )


def latest_alarms(history: pl.DataFrame) -> tuple[str | None, list[str], bool]:
    """The latest night, nightly's alarm messages for it, and whether the judge moved."""
    if history.height == 0:
        return None, [], False
    night = history["night"].max()
    messages, judge_moved = alarm_messages(history.filter(pl.col("night") == night))
    return str(night), messages, judge_moved
