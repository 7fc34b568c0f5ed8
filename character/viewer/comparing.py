"""What the Compare page shows of a `Comparison`: its own numbers and sentences, laid out.

Nothing is recomputed here: classes, intervals, p-values and the sentences come from
character.analysis.compare (the same object `character compare` prints), and the forest chart
is the HTML report's `forest_svg`. Its downloads are the report files `character compare`
writes, from the same renderers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from character.analysis.compare import Comparison
from character.analysis.reports import render
from character.analysis.reports.html import forest_svg

if TYPE_CHECKING:
    from character.analysis.change_report import ChangeSections

# label, file suffix, MIME type of each report the page offers (JUnit is for CI, not for people)
REPORT_DOWNLOADS = {
    "markdown": ("Report (Markdown)", "md", "text/markdown"),
    "html": ("Report (HTML)", "html", "text/html"),
    "json": ("Report (JSON)", "json", "application/json"),
}

DRIFT_COLUMNS = [
    "dimension",
    "gating",
    "class",
    "baseline_mean",
    "candidate_mean",
    "diff",
    "ci95_lo",
    "ci95_hi",
    "p_adjusted",
    "adjustment",
    "mde",
    "n_probes",
    "epochs",
    "baseline_unscored",
    "candidate_unscored",
    "sentence",
]


def drift_table(comparison: Comparison) -> pl.DataFrame:
    """The dimensions table in the report's order (gating first), one named column per figure."""
    return comparison.dimensions.with_columns(
        dimension=pl.concat_str("rubric", pl.lit("/"), "dimension")
    ).select(DRIFT_COLUMNS)


def forest_charts(comparison: Comparison) -> list[tuple[str, str]]:
    """(title, svg) per scale: rates in percentage points, ordinal scales in points."""
    rows = comparison.dimensions.with_columns(
        label=pl.concat_str("rubric", pl.lit("/"), "dimension")
        + pl.when(pl.col("gating")).then(pl.lit("")).otherwise(pl.lit(" (exploratory)"))
    )
    charts = []
    for title, chosen, scale, unit in (
        ("Rates", rows.filter(pl.col("scale") == "binary"), 100, "percentage points"),
        ("Scales", rows.filter(pl.col("scale") != "binary"), 1, "scale points"),
    ):
        svg = forest_svg(
            chosen.to_dicts(),
            label_key="label",
            unit_scale=scale,
            unit=unit,
            title=f"{title}: paired difference, 95% CI (thin) and 90% CI (thick); shaded: margin",
        )
        if svg:
            charts.append((title, svg))
    return charts


def probe_choices(comparison: Comparison, common: list[str]) -> list[str]:
    """Probes to read side by side: the top movers first (worst first), then every other probe."""
    movers = comparison.movers.sort(pl.col("d").abs(), descending=True)["probe_id"].unique(
        maintain_order=True
    )
    first = [probe for probe in movers.to_list() if probe in set(common)]
    return first + sorted(set(common) - set(first))


def probe_moves(comparison: Comparison, probe_id: str) -> pl.DataFrame:
    """The chosen probe's rows in the movers table (per-probe means over epochs and their d)."""
    return (
        comparison.movers.filter(pl.col("probe_id") == probe_id)
        .with_columns(dimension=pl.concat_str("rubric", pl.lit("/"), "dimension"))
        .select("dimension", "baseline", "candidate", "d", "worse_direction")
    )


def common_probes(baseline_index: pl.DataFrame, candidate_index: pl.DataFrame) -> list[str]:
    both = set(baseline_index["probe_id"].to_list()) & set(candidate_index["probe_id"].to_list())
    return sorted(both)


@dataclass(frozen=True)
class Download:
    label: str
    data: bytes
    file_name: str
    mime: str


def report_downloads(
    comparison: Comparison, stem: str, changes: ChangeSections | None = None
) -> list[Download]:
    """The comparison's Markdown, HTML and JSON reports, as `character compare` writes them
    (with `changes`: the distinctive phrases it adds)."""
    return [
        Download(label, render(kind, comparison, None, changes).encode("utf-8"), f"{stem}.{suffix}", mime)
        for kind, (label, suffix, mime) in REPORT_DOWNLOADS.items()
    ]


@dataclass(frozen=True)
class ReadLink:
    """A failing dimension's shortcut into the candidate's transcripts in that bad state."""

    dimension: str  # "rubric/dimension"
    score: str  # the bad state's score text ("1")
    count: int  # candidate transcripts with that score


def read_links(comparison: Comparison, candidate_verdicts: pl.DataFrame) -> list[ReadLink]:
    """For each gating binary dimension classed a regression (worst first): how many of the
    candidate's transcripts show the bad behaviour, to read them one after another."""
    from character.viewer.scales import bad_score

    found: list[ReadLink] = []
    regressions = comparison.dimensions.filter(pl.col("gating") & (pl.col("class") == "REGRESSION"))
    for row in regressions.iter_rows(named=True):
        score = bad_score(row["rubric"], row["dimension"], row["scale"], row["worse"])
        if score is None:
            continue
        key = f"{row['rubric']}/{row['dimension']}"
        count = candidate_verdicts.filter(
            (pl.col("dimension_key") == key)
            & (pl.col("status") == "scored")
            & (pl.col("score") == score)
        ).height
        if count:
            found.append(ReadLink(key, score, count))
    return found
