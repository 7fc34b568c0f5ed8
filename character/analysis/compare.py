"""Compare a baseline run with a candidate run: validity, paired statistics, classes, wording.

The rules are docs/methods.md's; the maths is `stats.py`'s. This module does the bookkeeping
around them with polars:

1. Validity first (validity.py): same suites, rubrics, judge and probe set, complete runs, few
   judge failures. An invalid comparison computes nothing else and says what differs and how to
   fix it. Coverage: every probe x epoch sample either arm lacks is counted and named.
2. One value per (probe, arm, dimension): the mean of the scored epochs (each epoch's rows, e.g.
   several imported judges, averaged first), with the epoch values kept for the fixed-suite
   test. Categorical dimensions become one 0/1 dimension per label ("dimension=label"); only a
   rubric's `worse_labels` gate. Mirrored probes (`pair`) form one cluster.
3. Per dimension, the inference unit ("Two questions, two inference units"): the probe-level
   paired test ("on probes like these") or the fixed-suite test ("on these n probes"), as
   `[gate] population` says; by default the probe-level test unless it cannot reach the p the
   dimension needs at all (alpha / the number of gating dimensions for a gating one, q for an
   exploratory one). A gating dimension whose chosen test cannot reach it either is marked
   `can_fail = false`, and the gate says so before anything else (`gate.decide`).
4. Means, paired difference, 95% and 90% CIs (never of zero width from sampled epochs: both
   tests carry the within-probe variance), one-sided p in the worse direction, the MDE. Holm
   across gating dimensions. Exploratory findings (non-gating dimensions, lexical markers,
   per-category cuts) form one Benjamini-Hochberg family on their two-sided p; an exploratory
   dimension is classed against q (`exploratory_q`) instead of alpha; the ones that survive BH
   are listed at the top of every report (`Comparison.findings`).
5. Hard-constraint probes (hard_constraints.py): no statistics; every epoch must pass.
6. The gate verdict (`gate.decide`) and one sentence per dimension (wording.py). The change in
   mean response length over a dimension's probes is appended to every sentence (judges favour
   verbosity).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from character.analysis import stats
from character.analysis.gate import Verdict, decide
from character.analysis.hard_constraints import HARD_CONSTRAINT_SCHEMA, hard_constraint_table
from character.analysis.marker_sets import comparable_markers
from character.analysis.reply_findings import reply_shape_notes
from character.analysis.stats import DriftClass
from character.analysis.survival import SurvivalComparison, survival_for_runs, user_model_notes
from character.analysis.validity import (
    coverage_problems,
    sample_coverage,
    unscored_counts,
    validity_problems,
    verdict_rows,
)
from character.analysis.wording import cannot_fail_note, finding_sentence, sentence
from character.domain.config import GateConfig, check_margin
from character.domain.rubrics import Rubric, load_rubric
from character.errors import CharacterError
from character.store.layout import MARKERS_RUBRIC, SCORES, TRANSCRIPTS
from character.store.manifest import Manifest, read_manifest

KEY = ["rubric", "dimension"]
LABEL_SEPARATOR = "="
LENGTH_MARKER = "response_chars"
MOVERS_IN_SENTENCE = 3

DIMENSION_SCHEMA: dict[str, Any] = {
    "rubric": pl.String,
    "dimension": pl.String,
    "parent": pl.String,  # the rubric dimension (differs from `dimension` for categorical labels)
    "scale": pl.String,  # binary | ordinal | continuous (categorical labels are binary)
    "worse": pl.String,
    "gating": pl.Boolean,
    "margin": pl.Float64,
    "n_probes": pl.Int64,
    "n_units": pl.Int64,  # probes, or clusters when mirrored pairs were clustered
    "clustered": pl.Boolean,
    "epochs": pl.Int64,
    "population": pl.String,  # probes (probes like these) | suite (these probes)
    "p_floor": pl.Float64,  # smallest one-sided p the chosen test can give with this design
    "p_needed": pl.Float64,  # what it must reach: alpha / gating dimensions (Holm), or q
    "can_fail": pl.Boolean,  # p_floor < p_needed: the dimension can show a regression at all
    "low": pl.Float64,  # the scale's ends (0/1 for rates), for the within-probe SE
    "high": pl.Float64,
    "baseline_cells": pl.Int64,  # scored probe x epoch samples behind the paired probes
    "candidate_cells": pl.Int64,
    "baseline_expected_cells": pl.Int64,  # paired probes x the arm's epochs
    "candidate_expected_cells": pl.Int64,
    "baseline_mean": pl.Float64,
    "candidate_mean": pl.Float64,
    "diff": pl.Float64,
    "se": pl.Float64,  # the test's SE: from the d_i (probes), or se_within (suite)
    "se_within": pl.Float64,  # SE of diff from the epochs' sampling alone: the floor of CI and MDE
    "sd_diff": pl.Float64,
    "correlation": pl.Float64,
    "ci95_lo": pl.Float64,
    "ci95_hi": pl.Float64,
    "ci90_lo": pl.Float64,
    "ci90_hi": pl.Float64,
    "ci_method": pl.String,
    "test": pl.String,
    "check_test": pl.String,
    "check_p": pl.Float64,
    "p_two_sided": pl.Float64,
    "p_worse": pl.Float64,
    "p_better": pl.Float64,
    "adjustment": pl.String,  # "Holm" (gating, one-sided) | "BH" (exploratory, two-sided)
    "p_adjusted": pl.Float64,
    "p_adjusted_better": pl.Float64,
    "class": pl.String,
    "material": pl.Boolean,
    "mde": pl.Float64,
    "baseline_unscored": pl.Int64,
    "candidate_unscored": pl.Int64,
    "baseline_judge_errors": pl.Int64,
    "candidate_judge_errors": pl.Int64,
    "unpaired_probes": pl.Int64,  # probes scored in one arm only: left out of the pairing
    "length_baseline": pl.Float64,  # mean response length (chars) over the dimension's probes
    "length_candidate": pl.Float64,
    "top_movers": pl.List(pl.String),
    "note": pl.String,
    "sentence": pl.String,
}

CATEGORY_SCHEMA: dict[str, Any] = {
    "category": pl.String,
    "rubric": pl.String,
    "dimension": pl.String,
    "scale": pl.String,
    "worse": pl.String,
    "gating": pl.Boolean,
    "n_probes": pl.Int64,
    "population": pl.String,
    "baseline_mean": pl.Float64,
    "candidate_mean": pl.Float64,
    "diff": pl.Float64,
    "ci95_lo": pl.Float64,
    "ci95_hi": pl.Float64,
    "test": pl.String,
    "p_two_sided": pl.Float64,
    "p_adjusted": pl.Float64,
    "discovery": pl.Boolean,
}

MOVER_SCHEMA: dict[str, Any] = {
    "probe_id": pl.String,
    "rubric": pl.String,
    "dimension": pl.String,
    "category": pl.String,
    "baseline": pl.Float64,
    "candidate": pl.Float64,
    "d": pl.Float64,
    "worse_direction": pl.Boolean,
}

MARKER_SCHEMA: dict[str, Any] = {
    "marker": pl.String,
    "scale": pl.String,
    "n_probes": pl.Int64,
    "population": pl.String,
    "baseline_mean": pl.Float64,
    "candidate_mean": pl.Float64,
    "diff": pl.Float64,
    "ci95_lo": pl.Float64,
    "ci95_hi": pl.Float64,
    "ratio": pl.Float64,  # response_chars only: median per-probe length ratio
    "test": pl.String,
    "p_two_sided": pl.Float64,
    "p_adjusted": pl.Float64,
    "discovery": pl.Boolean,
}

@dataclass(frozen=True)
class Comparison:
    """Everything a report, the gate or the viewer needs about baseline vs candidate."""

    valid: bool
    problems: list[str]
    """Why the comparison is invalid, each with a fix; empty when valid."""
    baseline: Manifest
    candidate: Manifest
    settings: GateConfig
    dimensions: pl.DataFrame
    categories: pl.DataFrame
    movers: pl.DataFrame
    markers: pl.DataFrame
    hard_constraints: pl.DataFrame
    unscored: dict[str, dict[str, int]]
    """Per arm: verdicts, unscored, judge_error, insufficient_evidence (judge verdicts only)."""
    verdict: Verdict
    verdict_reasons: list[str]
    notes: list[str] = field(default_factory=list)
    """Non-fatal caveats: simulated runs, self-judging, differing epochs, rubric files."""
    created: str = ""
    findings: list[str] = field(default_factory=list)
    """Exploratory findings that survived Benjamini-Hochberg, one sentence each."""
    coverage: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per arm: expected and present probe x epoch samples, and the missing ones by name
    (`validity.sample_coverage`)."""
    survival: list[SurvivalComparison] = field(default_factory=list)
    """Long conversations: still holding by turn, per per-turn dimension (survival.py)."""

    @property
    def simulated(self) -> bool:
        return self.baseline.simulated or self.candidate.simulated

    @property
    def title(self) -> str:
        return f"{self.baseline.target.label} -> {self.candidate.target.label}"


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def compare_runs(
    baseline_dir: Path, candidate_dir: Path, settings: GateConfig | None = None
) -> Comparison:
    """Compare two stored runs (folders holding manifest.json and the parquet tables)."""
    settings = settings or GateConfig()
    base_manifest, cand_manifest = read_manifest(baseline_dir), read_manifest(candidate_dir)
    base_scores, cand_scores = _read_scores(baseline_dir), _read_scores(candidate_dir)
    base_lengths, cand_lengths = _read_lengths(baseline_dir), _read_lengths(candidate_dir)
    comparison = compare_tables(
        base_manifest, cand_manifest, base_scores, cand_scores, base_lengths, cand_lengths, settings
    )
    if not comparison.valid:
        return comparison
    survival = survival_for_runs(baseline_dir, candidate_dir, base_manifest)
    notes = comparison.notes + user_model_notes(base_manifest)
    return dataclasses.replace(comparison, survival=survival, notes=notes)


def compare_tables(
    baseline: Manifest,
    candidate: Manifest,
    baseline_scores: pl.DataFrame,
    candidate_scores: pl.DataFrame,
    baseline_lengths: pl.DataFrame,
    candidate_lengths: pl.DataFrame,
    settings: GateConfig,
) -> Comparison:
    """`compare_runs` on tables already in memory (scores: SCORE_SCHEMA; lengths: probe_id,
    epoch, response_chars)."""
    unscored = {
        "baseline": unscored_counts(baseline_scores),
        "candidate": unscored_counts(candidate_scores),
    }
    problems = validity_problems(baseline, candidate, baseline_scores, candidate_scores, settings)
    coverage = sample_coverage(baseline, candidate, baseline_scores, candidate_scores)
    notes = _notes(baseline, candidate)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    if problems:
        decision = decide(_empty(DIMENSION_SCHEMA), _empty(HARD_CONSTRAINT_SCHEMA), problems)
        return Comparison(
            valid=False, problems=problems, baseline=baseline, candidate=candidate,
            settings=settings, dimensions=_empty(DIMENSION_SCHEMA),
            categories=_empty(CATEGORY_SCHEMA), movers=_empty(MOVER_SCHEMA),
            markers=_empty(MARKER_SCHEMA), hard_constraints=_empty(HARD_CONSTRAINT_SCHEMA),
            unscored=unscored, verdict=decision.verdict, verdict_reasons=decision.reasons,
            notes=notes, created=created, coverage=coverage,
        )

    rubrics, rubric_notes = _installed_rubrics(baseline)
    notes += rubric_notes
    base_rows = expand_categorical(verdict_rows(baseline_scores), rubrics)
    cand_rows = expand_categorical(verdict_rows(candidate_scores), rubrics)
    resolved = resolve_dimensions(base_rows, cand_rows, rubrics, settings, baseline.rubrics)
    base_rows, cand_rows = _apply(base_rows, resolved), _apply(cand_rows, resolved)

    paired = pair_probes(per_probe(base_rows), per_probe(cand_rows))
    lengths = _paired_lengths(baseline_lengths, candidate_lengths)
    movers = top_movers(paired, settings.top_movers)
    epochs = (coverage["baseline"]["epochs"], coverage["candidate"]["epochs"])
    dimensions = dimension_table(paired, resolved, settings, epochs=epochs)
    categories = category_table(paired, settings, _populations(dimensions))
    base_markers, cand_markers, marker_notes = comparable_markers(baseline_scores, candidate_scores)
    notes += marker_notes
    markers = marker_table(base_markers, cand_markers, settings)
    dimensions, categories, markers = _exploratory_family(dimensions, categories, markers, settings)
    notes += reply_shape_notes(markers)  # replies cut / blocked / empty: rates per version
    dimensions = _finish_dimensions(
        dimensions, base_rows, cand_rows, paired, movers, lengths
    )
    hard = hard_constraint_table(base_rows, cand_rows, candidate.epochs, settings)
    findings = exploratory_findings(dimensions, categories, markers)
    decision = decide(dimensions, hard, [], findings=findings, coverage=coverage_problems(coverage),
                      exploratory_q=settings.exploratory_q)
    return Comparison(
        valid=True, problems=[], baseline=baseline, candidate=candidate, settings=settings,
        dimensions=dimensions, categories=categories, movers=movers, markers=markers,
        hard_constraints=hard, unscored=unscored, verdict=decision.verdict,
        verdict_reasons=decision.reasons, notes=notes, created=created, findings=findings,
        coverage=coverage,
    )


def _read_scores(run_dir: Path) -> pl.DataFrame:
    path = Path(run_dir) / SCORES
    if not path.is_file():
        raise CharacterError(
            "run has no scores table", file=path,
            remedy="re-run the command that made this run (it resumes and writes the tables)",
        )
    return pl.read_parquet(path)


def _read_lengths(run_dir: Path) -> pl.DataFrame:
    path = Path(run_dir) / TRANSCRIPTS
    if not path.is_file():
        return pl.DataFrame(schema={"probe_id": pl.String, "epoch": pl.Int32, "response_chars": pl.Float64})
    return pl.scan_parquet(path).select("probe_id", "epoch", "response_chars").collect()


def _empty(schema: Mapping[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(schema=dict(schema))


# --------------------------------------------------------------------------------------------
# Notes and rubrics
# --------------------------------------------------------------------------------------------


def _notes(baseline: Manifest, candidate: Manifest) -> list[str]:
    notes: list[str] = []
    if baseline.simulated or candidate.simulated:
        notes.append("SIMULATED: sim/* targets are simulated personas, not real model output.")
    if baseline.epochs != candidate.epochs:
        notes.append(
            f"the runs used different epochs (baseline {baseline.epochs}, candidate "
            f"{candidate.epochs}); both are averaged per probe before pairing"
        )
    if baseline.judge.repeats != candidate.judge.repeats:
        notes.append("the judge repeats differ between the runs; the judge noise differs too")
    for warning in dict.fromkeys(baseline.warnings + candidate.warnings):
        notes.append(warning)
    return notes


def _installed_rubrics(manifest: Manifest) -> tuple[dict[str, Rubric], list[str]]:
    """The rubric files the runs used, when the installed copy has the same hash.

    Margins, labels and worse labels live in the rubric, not in the scores table. An edited or
    missing rubric file falls back to the defaults (0.05 for rates, 0.5 for ordinal scales).
    """
    found: dict[str, Rubric] = {}
    notes: list[str] = []
    for record in manifest.rubrics:
        try:
            rubric = load_rubric(record.name)
        except CharacterError:
            rubric = None
        if rubric is not None and rubric.hash == record.hash:
            found[record.name] = rubric
        else:
            notes.append(
                f"rubric '{record.name}' as used by the runs is not installed here; its margins "
                "default to 5 pp (rates) and 0.5 (scales) unless set in [gate.margins]"
            )
    return found, notes


# --------------------------------------------------------------------------------------------
# Per-probe values
# --------------------------------------------------------------------------------------------


def expand_categorical(rows: pl.DataFrame, rubrics: Mapping[str, Rubric]) -> pl.DataFrame:
    """Numeric dimensions as they are; each categorical one as a 0/1 dimension per label.

    A label's binary gates only when it is one of the rubric's `worse_labels` (worse = higher);
    other labels are exploratory, read as "the share of an acceptable label fell" (worse =
    lower). Labels come from the rubric file, or from the observed labels if it is not installed.
    """
    rows = rows.with_columns(pl.col("dimension").alias("parent"))
    categorical = rows.filter(pl.col("scale") == "categorical")
    if categorical.height == 0:
        return rows
    options = _label_options(categorical, rubrics)
    expanded = (
        categorical.join(options, left_on=["rubric", "parent"], right_on=["rubric", "dimension"])
        .with_columns(
            dimension=pl.concat_str(
                [pl.col("parent"), pl.lit(LABEL_SEPARATOR), pl.col("option")]
            ),
            value=pl.when(pl.col("status") == "scored")
            .then((pl.col("label") == pl.col("option")).cast(pl.Float64))
            .otherwise(None),
            scale=pl.lit("binary"),
            worse=pl.when(pl.col("is_worse")).then(pl.lit("higher")).otherwise(pl.lit("lower")),
            gating=pl.col("gating") & pl.col("is_worse"),
        )
        .drop("option", "is_worse")
    )
    return pl.concat([rows.filter(pl.col("scale") != "categorical"), expanded.select(rows.columns)])


def _label_options(categorical: pl.DataFrame, rubrics: Mapping[str, Rubric]) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    for rubric_name, dimension in categorical.select("rubric", "parent").unique().iter_rows():
        rubric = rubrics.get(rubric_name)
        if rubric is not None and dimension in {d.name for d in rubric.dimensions}:
            dim = rubric.dimension(dimension)
            labels, worse = list(dim.scale.labels or []), set(dim.worse_labels)
        else:
            observed = categorical.filter(
                (pl.col("rubric") == rubric_name) & (pl.col("parent") == dimension)
            )["label"].drop_nulls().unique().sort()
            labels, worse = observed.to_list(), set()
        rows += [
            {"rubric": rubric_name, "dimension": dimension, "option": label, "is_worse": label in worse}
            for label in labels
        ]
    return pl.DataFrame(
        rows, schema={"rubric": pl.String, "dimension": pl.String, "option": pl.String, "is_worse": pl.Boolean}
    )


def _clusters(rows: pl.DataFrame) -> pl.DataFrame:
    """probe_id -> cluster id: a mirrored pair shares one id (whichever side names the other)."""
    edges = rows.select("probe_id", "pair").unique().filter(pl.col("pair").is_not_null())
    both_ways = pl.concat([edges, edges.select(probe_id="pair", pair="probe_id")])
    partner = both_ways.group_by("probe_id").agg(pl.col("pair").min().alias("partner"))
    return (
        rows.select("probe_id").unique()
        .join(partner, on="probe_id", how="left")
        .with_columns(
            cluster=pl.when(pl.col("partner").is_null() | (pl.col("probe_id") < pl.col("partner")))
            .then(pl.col("probe_id"))
            .otherwise(pl.col("partner"))
        )
        .select("probe_id", "cluster")
    )


def per_probe(rows: pl.DataFrame) -> pl.DataFrame:
    """One value per probe and dimension: the mean over scored epochs ("Unit of analysis").

    Rows of one epoch (several imported judges, say) are averaged first, so an epoch counts once;
    `values` keeps the epoch values in epoch order for the fixed-suite test, `epochs` counts them.
    """
    same = [pl.col(name).first() for name in ("parent", "scale", "worse", "gating", "category")]
    epoch_values = (
        rows.filter(pl.col("status") == "scored")
        .group_by(*KEY, "probe_id", "epoch")
        .agg(*same, pl.col("value").mean())
    )
    return (
        epoch_values.join(_clusters(rows), on="probe_id", how="left")
        .sort("epoch")
        .group_by(*KEY, "probe_id")
        .agg(
            *same,
            pl.col("cluster").first(),
            pl.col("value").mean().alias("value"),
            pl.col("value").alias("values"),
            pl.len().alias("epochs"),
        )
    )


def pair_probes(baseline: pl.DataFrame, candidate: pl.DataFrame) -> pl.DataFrame:
    """Baseline and candidate values side by side, paired by probe; d = candidate - baseline."""
    return (
        candidate.rename({"value": "candidate", "epochs": "epochs_candidate",
                          "values": "values_candidate"})
        .join(
            baseline.select(*KEY, "probe_id", pl.col("value").alias("baseline"),
                            pl.col("epochs").alias("epochs_baseline"),
                            pl.col("values").alias("values_baseline")),
            on=[*KEY, "probe_id"],
            how="inner",
        )
        .with_columns(d=pl.col("candidate") - pl.col("baseline"))
        .sort(*KEY, "probe_id")
    )


def _paired_lengths(baseline: pl.DataFrame, candidate: pl.DataFrame) -> pl.DataFrame:
    def per(frame: pl.DataFrame, name: str) -> pl.DataFrame:
        return frame.group_by("probe_id").agg(pl.col("response_chars").mean().alias(name))

    return per(baseline, "length_baseline").join(per(candidate, "length_candidate"), on="probe_id")


# --------------------------------------------------------------------------------------------
# Which dimensions gate, and their margins
# --------------------------------------------------------------------------------------------


def resolve_dimensions(
    baseline_rows: pl.DataFrame,
    candidate_rows: pl.DataFrame,
    rubrics: Mapping[str, Rubric],
    settings: GateConfig,
    rubric_records: Sequence[Any],
) -> pl.DataFrame:
    """One row per dimension with its gating flag and margin after [gate] settings.

    `gate.gating`, when set, replaces the rubrics' own flags; `gate.margins` overrides the
    rubric margin. A key naming a rubric these runs used but a dimension they did not score is a
    typo, and an error; keys for rubrics the runs did not use are ignored (shared configs).
    """
    dims = (
        pl.concat([baseline_rows, candidate_rows])
        .group_by(*KEY)
        .agg(pl.col("parent").first(), pl.col("scale").first(), pl.col("worse").first(),
             pl.col("gating").first(), pl.col("value").min().alias("observed_low"),
             pl.col("value").max().alias("observed_high"))
        .sort(*KEY)
    )
    keys = {f"{r}/{d}" for r, d in dims.select(KEY).iter_rows()}
    parents = {f"{r}/{p}" for r, p in dims.select("rubric", "parent").iter_rows()}
    used = {record.name for record in rubric_records}
    for option, names in (("gating", settings.gating or []), ("margins", list(settings.margins))):
        for name in names:
            rubric_name = name.split("/", 1)[0]
            if rubric_name in used and name not in keys | parents:
                raise CharacterError(
                    f"'{name}' is not a dimension these runs scored",
                    file=settings.file,
                    field=f"gate.{option}",
                    remedy="use rubric/dimension, one of: " + ", ".join(sorted(keys)),
                )

    rows = []
    for row in dims.iter_rows(named=True):
        key, parent = f"{row['rubric']}/{row['dimension']}", f"{row['rubric']}/{row['parent']}"
        gating = row["gating"]
        if settings.gating is not None:
            is_label = key != parent
            gating = key in settings.gating or (parent in settings.gating and (not is_label or row["worse"] == "higher"))
        low, high = _scale_ends(row, rubrics)
        observed = {name: row.pop(name) for name in ("observed_low", "observed_high")}
        if low is None and row["scale"] == "ordinal":  # the rubric is not installed here
            low, high = observed["observed_low"], observed["observed_high"]
        rows.append({**row, "gating": bool(gating), "margin": _margin(key, parent, row, rubrics, settings),
                     "low": low, "high": high})
    schema = {c: dims.schema[c] for c in dims.columns if not c.startswith("observed_")}
    return pl.DataFrame(rows, schema={**schema, "margin": pl.Float64, "low": pl.Float64, "high": pl.Float64})


def _scale_ends(row: Mapping[str, Any], rubrics: Mapping[str, Rubric]) -> tuple[float | None, float | None]:
    """0/1 for rates (and categorical labels), the rubric's lowest and highest level for scales."""
    if row["scale"] == "binary":
        return 0.0, 1.0
    rubric = rubrics.get(row["rubric"])
    if rubric is not None and row["parent"] in {d.name for d in rubric.dimensions}:
        scale = rubric.dimension(row["parent"]).scale
        return float(scale.low), float(scale.high)
    return None, None


def _margin(key: str, parent: str, row: Mapping[str, Any], rubrics: Mapping[str, Rubric],
            settings: GateConfig) -> float:
    """The equivalence margin in score units: a fraction for rates (0.05 = 5 pp), points for scales.

    A [gate.margins] value is checked against the scale these runs recorded with the same
    `check_margin` that `load_config` applies to installed rubrics: a rate margin of 1 or more
    (5 meaning 5 pp would be read as +-500 pp and pass anything), or one spanning the whole
    installed ordinal scale, is an error naming the file and the key.
    """
    for name in (key, parent):
        if name in settings.margins:
            margin = float(settings.margins[name])
            low, high = _scale_ends(row, rubrics)
            check_margin(name, margin, rate=row["scale"] == "binary", low=low, high=high, file=settings.file)
            return margin
    rubric = rubrics.get(row["rubric"])
    if rubric is not None and row["parent"] in {d.name for d in rubric.dimensions}:
        return rubric.dimension(row["parent"]).default_margin
    return 0.5 if row["scale"] == "ordinal" else 0.05  # the rubric is not installed: its defaults


def _apply(rows: pl.DataFrame, resolved: pl.DataFrame) -> pl.DataFrame:
    return rows.drop("gating").join(resolved.select(*KEY, "gating"), on=KEY, how="left")


# --------------------------------------------------------------------------------------------
# Statistics per dimension
# --------------------------------------------------------------------------------------------


def _epochs(group: pl.DataFrame) -> int:
    return int(max(group["epochs_baseline"].max() or 1, group["epochs_candidate"].max() or 1))


def _epochs_for_test(group: pl.DataFrame, scale: str) -> int:
    """K as the test choice needs it: 1 only when every probe has one 0/1 value per arm."""
    k = _epochs(group)
    if k == 1 and scale == "binary":
        values = pl.concat([group["baseline"], group["candidate"]])
        if not values.is_in([0.0, 1.0]).all():
            return 2  # aggregated judge repeats can give 0.5: McNemar no longer applies
    return k


@dataclass(frozen=True)
class Design:
    """Which test a dimension gets, and whether that test can reach the p it needs at all."""

    population: stats.Population
    p_floor: float
    """Smallest one-sided p of the chosen test with these probes and epochs."""
    p_needed: float
    can_fail: bool


def design(group: pl.DataFrame, population: str, p_needed: float) -> Design:
    """The inference unit for one dimension ("Two questions, two inference units").

    `population` is `[gate] population`: "probes" or "suite" as asked, or "auto": the
    probe-level test when its floor (2^-units) is below `p_needed`, else the fixed-suite test.
    """
    clusters = group["cluster"].n_unique() if group.height else 0
    units = clusters if 0 < clusters < group.height else group.height
    probes_floor = stats.probe_level_floor(units) if group.height >= 2 else 1.0
    suite_floor = stats.fixed_suite_floor(group["epochs_baseline"].to_list(),
                                          group["epochs_candidate"].to_list())
    if population == "probes" or (population == "auto" and probes_floor < p_needed):
        chosen: stats.Population = "probes"
    else:
        chosen = "suite"
    floor = probes_floor if chosen == "probes" else suite_floor
    return Design(chosen, floor, p_needed, floor < p_needed)


def _stat_scale(scale: str) -> stats.Scale:
    return "binary" if scale == "binary" else ("ordinal" if scale == "ordinal" else "continuous")


def _ends(row: Mapping[str, Any]) -> tuple[float | None, float | None]:
    low, high = row.get("low"), row.get("high")
    if row["scale"] == "binary":
        return 0.0, 1.0
    if low is None or high is None or not high > low:
        return None, None
    return float(low), float(high)


def _test(group: pl.DataFrame, dim: Mapping[str, Any], population: stats.Population,
          settings: GateConfig, *, resamples: int | None = None) -> stats.PairedResult:
    """Run the chosen test on one dimension's paired probes (`dim`: scale, worse, low, high)."""
    with warnings.catch_warnings():
        # scipy warns about precision loss on near-identical arms (common in A/A runs); the
        # degenerate cases are handled in stats, the warning is only noise.
        warnings.simplefilter("ignore", RuntimeWarning)
        return _paired(group, dim, population, settings, resamples or settings.resamples)


def _paired(group: pl.DataFrame, dim: Mapping[str, Any], population: stats.Population,
            settings: GateConfig, resamples: int) -> stats.PairedResult:
    scale, worse = _stat_scale(dim["scale"]), ("lower" if dim["worse"] == "lower" else "higher")
    low, high = _ends(dim)
    base_epochs = [np.asarray(v, dtype=float) for v in group["values_baseline"].to_list()]
    cand_epochs = [np.asarray(v, dtype=float) for v in group["values_candidate"].to_list()]
    if population == "suite":
        return stats.fixed_suite_difference(base_epochs, cand_epochs, scale=scale, worse=worse,
                                            low=low, high=high, seed=settings.seed,
                                            n_resamples=resamples)
    clusters = group["cluster"].to_numpy() if group["cluster"].n_unique() < group.height else None
    within = stats.within_probe_se(base_epochs, cand_epochs, low=low, high=high) if group.height else None
    result = stats.paired_difference(
        group["baseline"].to_numpy(),
        group["candidate"].to_numpy(),
        scale=scale,
        epochs=_epochs_for_test(group, dim["scale"]),
        worse=worse,
        clusters=clusters,
        seed=settings.seed,
        n_resamples=resamples,
        within_se=within,
        span=high - low if low is not None and high is not None else None,
    )
    # the test may have been chosen as for K = 2 (_epochs_for_test); reports state the real K
    return dataclasses.replace(result, epochs=_epochs(group))


def _result_columns(result: stats.PairedResult) -> dict[str, Any]:
    return {
        "n_probes": result.n_probes,
        "n_units": result.n,
        "clustered": result.clustered,
        "epochs": result.epochs,
        "population": result.population,
        "baseline_mean": result.mean_baseline,
        "candidate_mean": result.mean_candidate,
        "diff": result.diff,
        "se": result.se,
        "se_within": result.se_within,
        "sd_diff": result.sd_diff,
        "correlation": result.correlation,
        "ci95_lo": result.ci95[0],
        "ci95_hi": result.ci95[1],
        "ci90_lo": result.ci90[0],
        "ci90_hi": result.ci90[1],
        "ci_method": result.ci_method,
        "test": result.test_name,
        "check_test": result.check_test_name,
        "check_p": result.check_p,
        "p_two_sided": result.p_two_sided,
        "p_worse": result.p_worse_one_sided,
        "p_better": result.p_better_one_sided,
    }


def _cells(group: pl.DataFrame, epochs: tuple[int, int]) -> dict[str, int]:
    return {
        "baseline_cells": int(group["epochs_baseline"].sum()) if group.height else 0,
        "candidate_cells": int(group["epochs_candidate"].sum()) if group.height else 0,
        "baseline_expected_cells": group.height * epochs[0],
        "candidate_expected_cells": group.height * epochs[1],
    }


def dimension_table(paired: pl.DataFrame, resolved: pl.DataFrame, settings: GateConfig,
                    *, epochs: tuple[int, int] = (1, 1)) -> pl.DataFrame:
    """Per dimension: the chosen test, Holm across gating dimensions, and the gating classes.

    `epochs` are the arms' epoch counts (for the expected probe x epoch samples). A gating
    dimension needs p < alpha / m to fail the gate on its own (Holm's first step, m = gating
    dimensions with paired probes); an exploratory one needs p < q. Exploratory dimensions get
    their adjusted p and class later, in the BH family (`_exploratory_family`). A dimension whose
    test cannot run (no paired probe, or too few for any test) is INCONCLUSIVE with a note, takes
    no part in Holm, and cannot fail.
    """
    rows: list[dict[str, Any]] = []
    results: dict[tuple[str, str], stats.PairedResult] = {}
    groups = paired.partition_by(KEY, as_dict=True)
    gating_tested = sum(
        1 for dim in resolved.iter_rows(named=True)
        if dim["gating"] and groups.get((dim["rubric"], dim["dimension"])) is not None
    )
    for dim in resolved.iter_rows(named=True):
        group = groups.get((dim["rubric"], dim["dimension"]), paired.clear())
        p_needed = settings.alpha / max(1, gating_tested) if dim["gating"] else settings.exploratory_q
        row: dict[str, Any] = {**dim, "n_probes": group.height, "note": None, "p_needed": p_needed,
                               "can_fail": False, **_cells(group, epochs)}
        if group.height == 0:
            row.update(n_units=0, class_=DriftClass.INCONCLUSIVE.value,
                       note="no probe was scored in both runs")
            rows.append(row)
            continue
        chosen = design(group, settings.population, p_needed)
        try:
            result = _test(group, dim, chosen.population, settings)
        except ValueError as exc:  # too few probes, or values the test cannot take: say which
            row.update(n_units=group.height, class_=DriftClass.INCONCLUSIVE.value,
                       population=chosen.population, note=f"{group.height} paired probe(s): {exc}")
            rows.append(row)
            continue
        results[(dim["rubric"], dim["dimension"])] = result
        row.update(_result_columns(result), p_floor=chosen.p_floor, can_fail=chosen.can_fail)
        if not chosen.can_fail:
            row["note"] = cannot_fail_note(row, alpha=settings.alpha, q=settings.exploratory_q,
                                           gating_dimensions=gating_tested, setting=settings.population)
        rows.append(row)

    gating_keys = [(r["rubric"], r["dimension"]) for r in rows if r["gating"] and (r["rubric"], r["dimension"]) in results]
    holm_worse = dict(zip(gating_keys, stats.holm([results[k].p_worse_one_sided for k in gating_keys]), strict=True))
    holm_better = dict(zip(gating_keys, stats.holm([results[k].p_better_one_sided for k in gating_keys]), strict=True))
    for row in rows:
        key = (row["rubric"], row["dimension"])
        result = results.get(key)
        if result is not None:
            row["mde"] = stats.result_mde(result, alpha=settings.alpha)
        if result is None or not row["gating"]:
            continue
        classification = stats.classify(
            result,
            p_adjusted_worse=float(holm_worse[key]),
            p_adjusted_better=float(holm_better[key]),
            margin=row["margin"],
            alpha=settings.alpha,
        )
        row.update(
            adjustment="Holm",
            p_adjusted=classification.p_adjusted_worse,
            p_adjusted_better=classification.p_adjusted_better,
            class_=classification.drift.value,
            material=classification.material,
        )
        if classification.drift is DriftClass.REGRESSION:
            # Holm's later steps can reject a dimension that could not fail on its own (alpha/m):
            # it did fail, so it is no longer "cannot fail" (one line, one class).
            row.update(can_fail=True, note=None)
    for row in rows:
        row["class"] = row.pop("class_", None)
    return _frame(rows, DIMENSION_SCHEMA)


def _frame(rows: list[dict[str, Any]], schema: Mapping[str, Any]) -> pl.DataFrame:
    return pl.DataFrame([{name: row.get(name) for name in schema} for row in rows], schema=dict(schema))


def _populations(dimensions: pl.DataFrame) -> dict[tuple[str, str], dict[str, Any]]:
    """Per dimension: the population it was tested on and its scale's ends."""
    return {
        (row["rubric"], row["dimension"]): row
        for row in dimensions.select(*KEY, "population", "low", "high").iter_rows(named=True)
    }


def category_table(paired: pl.DataFrame, settings: GateConfig,
                   dimensions: Mapping[tuple[str, str], Mapping[str, Any]] | None = None) -> pl.DataFrame:
    """Per category and dimension with at least 2 paired probes: the paired difference.

    Exploratory by definition ("per-category cuts"); p_adjusted comes from the BH family. A cut
    asks its dimension's question (`dimensions`, from `_populations`: a dimension tested on these
    probes is cut on these probes too). Fewer resamples than the main tests: these are
    screening figures, not gate decisions.
    """
    rows: list[dict[str, Any]] = []
    resamples = min(settings.resamples, 1999)
    dimensions = dimensions or {}
    several = paired.group_by(*KEY).agg(pl.col("category").n_unique().alias("n")).filter(pl.col("n") > 1)
    cuts = paired.join(several.select(KEY), on=KEY, how="semi")  # one category: the cut is the dimension
    for (category, rubric, dimension), group in cuts.group_by("category", *KEY, maintain_order=True):
        if group.height < 2:
            continue
        first = group.row(0, named=True)
        info = dimensions.get((rubric, dimension), {})
        population = info.get("population") or "probes"
        dim = {"scale": first["scale"], "worse": first["worse"], "low": info.get("low"),
               "high": info.get("high")}
        try:
            result = _test(group, dim, population, settings, resamples=resamples)
        except ValueError:
            continue
        rows.append({
            "category": category, "rubric": rubric, "dimension": dimension,
            "scale": first["scale"], "worse": first["worse"], "gating": first["gating"],
            **_result_columns(result), "n_probes": result.n_probes,
        })
    return _frame(rows, CATEGORY_SCHEMA).sort("rubric", "dimension", "category")


def marker_table(baseline_scores: pl.DataFrame, candidate_scores: pl.DataFrame,
                 settings: GateConfig) -> pl.DataFrame:
    """Lexical markers ("Beyond judge scores"): presence by McNemar / sign-flip, length by
    Wilcoxon on the log ratio; BH is applied with the other exploratory findings.

    Markers are never clustered, and each asks the question its probes can answer at q ("auto"
    as for dimensions): on a two-probe suite a marker is tested on these two probes.
    """
    def markers(scores: pl.DataFrame) -> pl.DataFrame:
        return per_probe(
            scores.filter(pl.col("rubric") == MARKERS_RUBRIC)
            .with_columns(parent=pl.col("dimension"), gating=pl.lit(False), pair=pl.lit(None, pl.String))
        )

    paired = pair_probes(markers(baseline_scores), markers(candidate_scores))
    rows: list[dict[str, Any]] = []
    for (marker,), group in paired.group_by("dimension", maintain_order=True):
        scale = group["scale"][0]
        chosen = design(group, settings.population, settings.exploratory_q)
        dim = {"scale": scale, "worse": "higher", "low": None, "high": None}
        try:
            result = _test(group, dim, chosen.population, settings)
        except ValueError:
            continue
        row = {"marker": marker, "scale": scale, **_result_columns(result), "n_probes": result.n_probes}
        if marker == LENGTH_MARKER and chosen.population == "probes":
            length = stats.length_ratio_test(group["baseline"].to_numpy(), group["candidate"].to_numpy())
            row.update(ratio=length.median_ratio, test=length.test_name + " on log length ratio",
                       p_two_sided=length.p_two_sided)
        rows.append(row)
    return _frame(rows, MARKER_SCHEMA).sort("marker")


def _exploratory_family(
    dimensions: pl.DataFrame, categories: pl.DataFrame, markers: pl.DataFrame, settings: GateConfig
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """One Benjamini-Hochberg family over every exploratory finding's two-sided p.

    Exploratory dimensions are then classed with `stats.classify` against q: the adjusted p
    counts in the direction the difference went, the other direction gets 1.
    """
    explore = dimensions.filter(~pl.col("gating") & pl.col("p_two_sided").is_not_null())
    p = np.concatenate([
        explore["p_two_sided"].to_numpy(),
        categories["p_two_sided"].to_numpy(),
        markers["p_two_sided"].to_numpy(),
    ]).astype(float)
    adjusted = stats.benjamini_hochberg(p) if p.size else p
    n_dim, n_cat = explore.height, categories.height
    dim_adj = {
        (r, d): float(a)
        for (r, d), a in zip(explore.select(KEY).iter_rows(), adjusted[:n_dim], strict=True)
    }
    q = settings.exploratory_q
    categories = categories.with_columns(
        p_adjusted=pl.Series(adjusted[n_dim:n_dim + n_cat], dtype=pl.Float64)
    ).with_columns(discovery=pl.col("p_adjusted") <= q)
    markers = markers.with_columns(
        p_adjusted=pl.Series(adjusted[n_dim + n_cat:], dtype=pl.Float64)
    ).with_columns(discovery=pl.col("p_adjusted") <= q)

    rows = dimensions.to_dicts()
    for row in rows:
        key = (row["rubric"], row["dimension"])
        if row["gating"] or key not in dim_adj:
            continue
        p_adj = dim_adj[key]
        moved_worse = (row["diff"] > 0) == (row["worse"] == "higher") and row["diff"] != 0
        result = _as_result(row)
        classification = stats.classify(
            result,
            p_adjusted_worse=p_adj if moved_worse else 1.0,
            p_adjusted_better=1.0 if moved_worse else p_adj,
            margin=row["margin"],
            alpha=q,
        )
        row.update(adjustment="BH", p_adjusted=p_adj, class_=classification.drift.value,
                   material=classification.material)
        row["class"] = row.pop("class_")
    return _frame(rows, DIMENSION_SCHEMA), categories, markers


def _as_result(row: Mapping[str, Any]) -> stats.PairedResult:
    """Rebuild the PairedResult `classify` reads from a dimension row."""
    return stats.PairedResult(
        scale=row["scale"] if row["scale"] in ("binary", "ordinal") else "continuous",
        epochs=row["epochs"], worse=row["worse"], n=row["n_units"], n_probes=row["n_probes"],
        clustered=row["clustered"], mean_baseline=row["baseline_mean"],
        mean_candidate=row["candidate_mean"], diff=row["diff"], se=row["se"],
        sd_diff=row["sd_diff"], ci95=(row["ci95_lo"], row["ci95_hi"]),
        ci90=(row["ci90_lo"], row["ci90_hi"]), ci_method=row["ci_method"],
        p_two_sided=row["p_two_sided"], p_worse_one_sided=row["p_worse"],
        p_better_one_sided=row["p_better"], test_name=row["test"],
        check_test_name=row["check_test"], check_p=row["check_p"],
        correlation=row["correlation"], n01=None, n10=None,
        population=row["population"] or "probes", se_within=row["se_within"], p_floor=row["p_floor"],
    )


def exploratory_findings(dimensions: pl.DataFrame, categories: pl.DataFrame,
                         markers: pl.DataFrame) -> list[str]:
    """Sentences for the exploratory findings that survived BH: dimensions, cuts, markers.

    Listed at the top of every report (and as skipped JUnit cases) so that a significant change
    no dimension gates is never buried under a PASS or a NOT GATED.
    """
    found = [
        row["sentence"]
        for row in dimensions.filter(
            ~pl.col("gating") & pl.col("class").is_in([DriftClass.REGRESSION.value, DriftClass.IMPROVEMENT.value])
        ).iter_rows(named=True)
    ]
    found += [finding_sentence("category", row) for row in categories.filter(pl.col("discovery")).iter_rows(named=True)]
    found += [finding_sentence("marker", row) for row in markers.filter(pl.col("discovery")).iter_rows(named=True)]
    return found


# --------------------------------------------------------------------------------------------
# Movers, unscored counts, lengths, sentences
# --------------------------------------------------------------------------------------------


def top_movers(paired: pl.DataFrame, per_dimension: int) -> pl.DataFrame:
    """The probes that moved most per dimension ("rank by |d_i|"), ties broken by probe id."""
    return (
        paired.filter(pl.col("d") != 0)
        .with_columns(
            worse_direction=pl.when(pl.col("worse") == "higher").then(pl.col("d") > 0).otherwise(pl.col("d") < 0),
            abs_d=pl.col("d").abs(),
        )
        .sort(["rubric", "dimension", "abs_d", "probe_id"], descending=[False, False, True, False])
        .group_by(*KEY, maintain_order=True)
        .head(per_dimension)
        .select(list(MOVER_SCHEMA))
        .cast(MOVER_SCHEMA)
    )


def _unscored_by_dimension(rows: pl.DataFrame, prefix: str) -> pl.DataFrame:
    return rows.group_by(*KEY).agg(
        (pl.col("status") == "unscored").sum().cast(pl.Int64).alias(f"{prefix}_unscored"),
        ((pl.col("status") == "unscored") & (pl.col("cause") == "judge_error")).sum()
        .cast(pl.Int64).alias(f"{prefix}_judge_errors"),
    )


def _finish_dimensions(
    dimensions: pl.DataFrame,
    base_rows: pl.DataFrame,
    cand_rows: pl.DataFrame,
    paired: pl.DataFrame,
    movers: pl.DataFrame,
    lengths: pl.DataFrame,
) -> pl.DataFrame:
    """Add unscored counts, unpaired probes, response lengths, movers and the sentence."""
    probes = lambda rows: rows.filter(pl.col("status") == "scored").select(*KEY, "probe_id").unique()  # noqa: E731
    either = pl.concat([probes(base_rows), probes(cand_rows)]).unique()
    unpaired = either.join(paired.select(*KEY, "probe_id"), on=[*KEY, "probe_id"], how="anti") \
        .group_by(*KEY).agg(pl.len().cast(pl.Int64).alias("unpaired_new"))
    dim_lengths = (
        paired.select(*KEY, "probe_id").join(lengths, on="probe_id")
        .group_by(*KEY)
        .agg(pl.col("length_baseline").mean().alias("lb"), pl.col("length_candidate").mean().alias("lc"))
    )
    worse_movers = (
        movers.filter(pl.col("worse_direction"))
        .group_by(*KEY, maintain_order=True)
        .agg(pl.col("probe_id").head(MOVERS_IN_SENTENCE).alias("movers_new"))
    )
    table = (
        dimensions.drop("baseline_unscored", "baseline_judge_errors", "candidate_unscored",
                        "candidate_judge_errors")
        .join(_unscored_by_dimension(base_rows, "baseline"), on=KEY, how="left")
        .join(_unscored_by_dimension(cand_rows, "candidate"), on=KEY, how="left")
        .join(unpaired, on=KEY, how="left")
        .join(dim_lengths, on=KEY, how="left")
        .join(worse_movers, on=KEY, how="left")
        .with_columns(
            pl.col("baseline_unscored", "candidate_unscored", "baseline_judge_errors",
                   "candidate_judge_errors").fill_null(0),
            unpaired_probes=pl.col("unpaired_new").fill_null(0),
            length_baseline=pl.col("lb"),
            length_candidate=pl.col("lc"),
            top_movers=pl.col("movers_new").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        )
        .select(list(DIMENSION_SCHEMA))
    )
    sentences = [sentence(row) for row in table.iter_rows(named=True)]
    order = pl.col("gating").not_()
    return table.with_columns(sentence=pl.Series(sentences, dtype=pl.String)).sort(order, *KEY)
