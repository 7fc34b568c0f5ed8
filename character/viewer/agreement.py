"""Judge vs people on one run, laid out for the Labels page.

Every figure comes from character.analysis.calibrate, the code behind `character calibrate`:
it pairs the latest labels with the judge's verdicts, picks the reference (the one labeller, or
the labellers' consensus), counts labels on unscored verdicts without pairing them, and computes
agreement, kappa (Cohen's for binary and categorical scales, quadratic-weighted for ordinal ones,
METHODS.md "The judge") and the confusion matrix. The page and the CLI cannot disagree.
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl

from character.analysis.calibrate import Agreement, CalibrationReport, Interval, calibrate

# A bootstrap CI for each kappa is about a second per dimension: only when the reader asks.
INTERVAL_RESAMPLES = 1000


def agreement_report(run_dir: Path, *, intervals: bool = False) -> CalibrationReport:
    return calibrate(run_dir, resamples=INTERVAL_RESAMPLES if intervals else 0)


def summary_table(report: CalibrationReport) -> pl.DataFrame:
    """One row per dimension and judge: pairs, agreement, kappa (with its CI when computed)."""
    return pl.DataFrame(
        [
            {
                "dimension": a.dimension,
                "judge": a.scorer,
                "people": a.reference,
                "pairs": a.n,
                "judge unscored": a.unscored,
                "agreement": a.accuracy,
                "kappa": _number(a.kappa),
                "kappa kind": a.kappa_kind,
                "kappa 95% CI": _interval_text(a.kappa_ci, report.resamples),
                "judge mean": _number(a.scorer_mean),
                "people mean": _number(a.reference_mean),
            }
            for a in report.agreements
        ],
        schema={
            "dimension": pl.String,
            "judge": pl.String,
            "people": pl.String,
            "pairs": pl.Int64,
            "judge unscored": pl.Int64,
            "agreement": pl.Float64,
            "kappa": pl.Float64,
            "kappa kind": pl.String,
            "kappa 95% CI": pl.String,
            "judge mean": pl.Float64,
            "people mean": pl.Float64,
        },
    )


def labeller_table(report: CalibrationReport) -> pl.DataFrame:
    """People against each other (Krippendorff's alpha), when a dimension has several labellers."""
    rows = [
        {
            "dimension": r.dimension,
            "labellers": ", ".join(r.raters),
            "transcripts": r.units,
            "alpha": _number(r.alpha),
            "alpha 95% CI": _interval_text(r.alpha_ci, report.resamples),
        }
        for r in report.reliability
        if r.kind == "humans"
    ]
    schema = {
        "dimension": pl.String,
        "labellers": pl.String,
        "transcripts": pl.Int64,
        "alpha": pl.Float64,
        "alpha 95% CI": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def confusion_table(result: Agreement) -> pl.DataFrame:
    """The confusion matrix with named rows (people) and columns (judge), as calibrate counts it."""
    names = [_category(c) for c in result.categories]
    columns = {
        f"judge {name}": [row[i] for row in result.confusion] for i, name in enumerate(names)
    }
    return pl.DataFrame({"people": [f"people {name}" for name in names], **columns})


def _category(value: object) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else value


def _interval_text(interval: Interval, resamples: int) -> str | None:
    """None when no bootstrap was run; "n/a" when it ran but kappa has no spread (e.g. one class)."""
    if resamples <= 0:
        return None
    if math.isnan(interval.low) or math.isnan(interval.high):
        return "n/a"
    return f"{interval.low:.2f} to {interval.high:.2f}"
