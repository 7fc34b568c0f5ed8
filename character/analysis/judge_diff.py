"""A judge upgrade, measured on stored transcripts: which verdicts flip, and which conclusions.

`character judge-diff RUN --judge NEW [--judge OLD]` scores the same stored transcripts with two
judges (OLD defaults to the judge that made RUN's stored scores; NEW is re-judged now, or a stored
re-judge with the same judge, rubrics and sample is reused) and reports, per dimension:

* the flip rate: the share of transcripts scored by both judges whose verdict differs (Wilson
  95% CI), and verdicts one judge could score and the other left unscored (counted apart: an
  unscored verdict is never a value);
* agreement: raw agreement and Cohen's kappa (quadratic-weighted for ordinal scales) with a
  bootstrap 95% CI over transcripts (character.analysis.calibrate.agreement);
* the shift in mean, new minus old, paired by probe (the mean over the probe's epochs, as
  comparisons use), with its 95% CI (stats.paired_difference);
* the flipped verdicts, each pointing to its transcript (run, probe, epoch, turn);
* for every stored comparison report (report.json under the reports folder) that used RUN: the
  classes and verdict with both runs judged by OLD (the stored scores when OLD made them) against
  the same comparison with both runs judged by NEW (the other run is judged too, on the same probes;
  with a sample, both sides are computed on the sampled probes only).

Which transcripts (the run's judge canaries by default) is `judge_samples`; the stored
comparisons are `judge_diff_conclusions`; the report is `judge_diff_report`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from character.analysis import stats
from character.analysis.calibrate import agreement
from character.analysis.judge_diff_conclusions import ComparisonCheck, check_comparisons
from character.analysis.judge_samples import Keys, find_rejudge, keys_frame, stored_keys
from character.errors import CharacterError
from character.store.layout import MARKERS_RUBRIC, SCORES, check_tables
from character.store.manifest import read_manifest

KEY = ["probe_id", "epoch", "rubric", "dimension"]

DIMENSION_SCHEMA: dict[str, Any] = {
    "rubric": pl.String,
    "dimension": pl.String,
    "scale": pl.String,
    "gating": pl.Boolean,
    "transcripts": pl.Int64,  # scored by both judges
    "flips": pl.Int64,
    "flip_rate": pl.Float64,
    "flip_ci_lo": pl.Float64,
    "flip_ci_hi": pl.Float64,
    "newly_unscored": pl.Int64,  # scored by the old judge, unscored by the new
    "newly_scored": pl.Int64,  # unscored by the old judge, scored by the new
    "agreement": pl.Float64,
    "kappa": pl.Float64,
    "kappa_kind": pl.String,
    "kappa_ci_lo": pl.Float64,
    "kappa_ci_hi": pl.Float64,
    "old_mean": pl.Float64,
    "new_mean": pl.Float64,
    "probes": pl.Int64,
    "shift": pl.Float64,  # new - old, paired by probe
    "shift_ci_lo": pl.Float64,
    "shift_ci_hi": pl.Float64,
    "shift_p": pl.Float64,  # two-sided
    "shift_test": pl.String,
    "note": pl.String,
}
FLIP_SCHEMA: dict[str, Any] = {
    "probe_id": pl.String,
    "epoch": pl.Int32,
    "rubric": pl.String,
    "dimension": pl.String,
    "old_status": pl.String,
    "new_status": pl.String,
    "old": pl.String,  # the verdict as text: a value, a label, or "unscored (reason)"
    "new": pl.String,
    "turn": pl.Int32,  # the turn a per-turn verdict names (new judge first), else null
    "new_reasoning": pl.String,
    "old_reasoning": pl.String,
}


@dataclass(frozen=True)
class JudgeSide:
    judge: str  # judge id
    kind: str
    run_id: str  # the run whose scores.parquet holds this side's verdicts
    how: str  # "stored scores" | "re-judged now" | "reused stored re-judge"


@dataclass
class JudgeDiff:
    run_id: str
    old: JudgeSide
    new: JudgeSide
    sample: str  # how the transcripts were chosen
    transcripts: int
    dimensions: pl.DataFrame
    flips: pl.DataFrame
    conclusions: pl.DataFrame
    comparisons: list[ComparisonCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Verdicts side by side
# --------------------------------------------------------------------------------------------


def _verdicts(scores: pl.DataFrame, keys: Keys | None) -> pl.DataFrame:
    rows = scores.filter(pl.col("rubric") != MARKERS_RUBRIC).with_columns(
        pl.col("epoch").cast(pl.Int32)
    )
    if keys is not None:
        rows = rows.join(keys_frame(keys), on=["probe_id", "epoch"], how="semi")
    return rows


def verdict_pairs(old: pl.DataFrame, new: pl.DataFrame, keys: Keys | None = None) -> pl.DataFrame:
    """Old and new verdicts on the same transcript and dimension (inner join on probe, epoch,
    rubric, dimension), with `flipped` set when both scored and the value or label differs."""
    columns = ["status", "value", "label", "turn", "reason", "reasoning"]
    left = (
        _verdicts(old, keys)
        .select(*KEY, "scale", "gating", *columns)
        .rename({c: f"old_{c}" for c in columns})
    )
    right = _verdicts(new, keys).select(*KEY, *columns).rename({c: f"new_{c}" for c in columns})
    both_scored = (pl.col("old_status") == "scored") & (pl.col("new_status") == "scored")
    differs = pl.col("old_value").ne_missing(pl.col("new_value")) | pl.col("old_label").ne_missing(
        pl.col("new_label")
    )
    return (
        left.join(right, on=KEY)
        .with_columns(both_scored=both_scored, flipped=both_scored & differs)
        .sort(*KEY)
    )


def dimension_table(pairs: pl.DataFrame, *, resamples: int = 2000, seed: int = 0) -> pl.DataFrame:
    """Per dimension: flips, agreement with kappa, and the paired shift in mean (DIMENSION_SCHEMA)."""
    rows: list[dict[str, Any]] = []
    for (rubric, dimension), group in pairs.group_by("rubric", "dimension", maintain_order=True):
        scale = group["scale"][0]
        scored = group.filter(pl.col("both_scored"))
        flips = int(scored["flipped"].sum())
        n = scored.height
        lo, hi = stats.wilson_interval(flips, n)
        row: dict[str, Any] = {
            "rubric": rubric,
            "dimension": dimension,
            "scale": scale,
            "gating": bool(group["gating"][0]),
            "transcripts": n,
            "flips": flips,
            "flip_rate": flips / n if n else math.nan,
            "flip_ci_lo": lo,
            "flip_ci_hi": hi,
            "newly_unscored": group.filter(
                (pl.col("old_status") == "scored") & (pl.col("new_status") != "scored")
            ).height,
            "newly_scored": group.filter(
                (pl.col("old_status") != "scored") & (pl.col("new_status") == "scored")
            ).height,
            "note": None,
        }
        if n >= 2:
            column = "label" if scale == "categorical" else "value"
            agree = agreement(
                scored[f"old_{column}"].to_numpy(),
                scored[f"new_{column}"].to_numpy(),
                scale=scale,
                resamples=resamples,
                seed=seed,
            )
            row.update(
                agreement=agree["accuracy"],
                kappa=agree["kappa"],
                kappa_kind=agree["kappa_kind"],
                kappa_ci_lo=agree["kappa_ci"].low,
                kappa_ci_hi=agree["kappa_ci"].high,
            )
        if scale != "categorical" and n:
            row.update(
                old_mean=float(scored["old_value"].mean()),
                new_mean=float(scored["new_value"].mean()),
            )
            row.update(_shift(scored, scale, resamples=resamples, seed=seed))
        rows.append(row)
    frame = pl.DataFrame(
        [{k: r.get(k) for k in DIMENSION_SCHEMA} for r in rows], schema=DIMENSION_SCHEMA
    )
    return frame.sort(pl.col("gating").not_(), "rubric", "dimension")


def _shift(scored: pl.DataFrame, scale: str, *, resamples: int, seed: int) -> dict[str, Any]:
    """New minus old, paired by probe (means over epochs): the unit comparisons use."""
    per_probe = (
        scored.group_by("probe_id")
        .agg(
            pl.col("old_value").mean().alias("old"),
            pl.col("new_value").mean().alias("new"),
            pl.len().alias("k"),
        )
        .sort("probe_id")
    )
    # K = 1 (McNemar) only when every probe has one 0/1 verdict per judge, as compare decides
    epochs = int(per_probe["k"].max() or 1)
    try:
        result = stats.paired_difference(
            per_probe["old"].to_numpy(),
            per_probe["new"].to_numpy(),
            scale="binary"
            if scale == "binary"
            else ("ordinal" if scale == "ordinal" else "continuous"),
            epochs=epochs,
            worse="higher",
            seed=seed,
            n_resamples=max(resamples, 99),
        )
    except ValueError as exc:
        return {"probes": per_probe.height, "note": f"shift not tested: {exc}"}
    return {
        "probes": result.n_probes,
        "shift": result.diff,
        "shift_ci_lo": result.ci95[0],
        "shift_ci_hi": result.ci95[1],
        "shift_p": result.p_two_sided,
        "shift_test": result.test_name,
    }


def _verdict_text(status: str, value: float | None, label: str | None, reason: str | None) -> str:
    if status != "scored":
        return f"unscored ({reason})" if reason else "unscored"
    if label is not None:
        return label
    return "n/a" if value is None else f"{value:g}"


def flip_table(pairs: pl.DataFrame) -> pl.DataFrame:
    """Every verdict that differs: both scored with another value, or scored by one judge only."""
    changed = pairs.filter(pl.col("flipped") | (pl.col("old_status") != pl.col("new_status")))
    rows = [
        {
            "probe_id": r["probe_id"],
            "epoch": r["epoch"],
            "rubric": r["rubric"],
            "dimension": r["dimension"],
            "old_status": r["old_status"],
            "new_status": r["new_status"],
            "old": _verdict_text(r["old_status"], r["old_value"], r["old_label"], r["old_reason"]),
            "new": _verdict_text(r["new_status"], r["new_value"], r["new_label"], r["new_reason"]),
            "turn": r["new_turn"] if r["new_turn"] is not None else r["old_turn"],
            "new_reasoning": r["new_reasoning"],
            "old_reasoning": r["old_reasoning"],
        }
        for r in changed.iter_rows(named=True)
    ]
    return pl.DataFrame(rows, schema=FLIP_SCHEMA)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def judge_diff(
    run_dir: Path,
    new: Any,
    old: Any | None = None,
    *,
    store: Path,
    reports_root: Path,
    keys: Keys | None = None,
    sample: str = "whole run",
    max_connections: int = 16,
    resamples: int = 2000,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> JudgeDiff:
    """Judge the transcripts of `run_dir` (all, or the (probe, epoch) `keys`) with `new`, and
    compare with `old` (a JudgeSpec; None: the run's stored scores). `new`/`old` are
    character.run.judges.JudgeSpec; re-judged runs are stored in `store` and reused next time."""
    from character.run.rejudge import rejudge  # L2, and inspect-ai: only when judging

    run_dir = Path(run_dir)
    notes: list[str] = []

    def own_judge(folder: Path, spec: Any) -> bool:
        record = read_manifest(folder).judge
        return (spec.id, spec.prompt_hash) == (record.id, record.prompt_hash)

    def rejudged(folder: Path, spec: Any, chosen: Keys | None, what: str) -> Path:
        count = len(chosen) if chosen is not None else len(stored_keys(folder))
        progress(f"{folder.name}: {what} {count} transcripts with {spec.id}")
        result = rejudge(folder, spec, store=store, max_connections=max_connections, keys=chosen)
        out = Path(store) / result.run_id
        if result.status != "complete":
            raise CharacterError(
                f"re-judging {folder.name} with {spec.id} did not complete",
                file=out,
                remedy="run the same command again: it resumes",
            )
        check_tables(out)
        return out

    def judged(folder: Path, spec: Any, chosen: Keys | None) -> tuple[Path, str]:
        if spec is None or own_judge(folder, spec):
            return folder, "stored scores"
        found = find_rejudge(store, folder, spec.id, spec.prompt_hash, chosen)
        if found is not None:
            progress(f"{folder.name}: reusing stored re-judge {found.name} ({spec.id})")
            return found, "reused stored re-judge"
        return rejudged(folder, spec, chosen, "judging"), "re-judged now"

    if old is not None and own_judge(run_dir, old):
        old = None  # OLD made the stored scores: use them
    if old is not None and (old.id, old.prompt_hash) == (new.id, new.prompt_hash):
        # both sides would be one stored re-judge: a report of one set of verdicts against itself
        raise CharacterError(
            f"--judge NEW and --judge OLD are the same judge ({new.id}), which did not make "
            f"{run_dir.name}'s stored scores: both sides would be the same verdicts",
            field="--judge",
            remedy="give two different judges; to measure how repeatable a judge is, give it "
            "as the only --judge on a run it judged",
        )
    old_dir, old_how = judged(run_dir, old, keys)
    if old is None and own_judge(run_dir, new):
        # NEW made the stored scores and there is nothing else to compare with: judge again
        notes.append(f"{new.id} made the stored scores: the flips measure how repeatable it is")
        found = find_rejudge(store, run_dir, new.id, new.prompt_hash, keys)
        new_dir = found or rejudged(run_dir, new, keys, "judging again")
        new_how = "judged again"
    else:
        new_dir, new_how = judged(run_dir, new, keys)
    old_record = read_manifest(old_dir).judge
    old_side = JudgeSide(old_record.id, old_record.kind, old_dir.name, old_how)
    new_side = JudgeSide(new.id, new.kind, new_dir.name, new_how)
    rubrics = {r.name: r.hash for r in read_manifest(old_dir).rubrics}
    if {r.name: r.hash for r in read_manifest(new_dir).rubrics} != rubrics:
        notes.append(
            "the rubric files differ between the two sides (edited since the run was judged): "
            "flips mix the judge change with the rubric change"
        )

    pairs = verdict_pairs(
        pl.read_parquet(old_dir / SCORES), pl.read_parquet(new_dir / SCORES), keys
    )
    transcripts = pairs.select("probe_id", "epoch").unique().height
    checks, conclusions, more_notes = check_comparisons(
        run_dir,
        old_dir,
        new_dir,
        keys,
        old=old,
        new=new,
        store=store,
        reports_root=reports_root,
        judged=lambda folder, spec, chosen: judged(folder, spec, chosen)[0],
    )
    return JudgeDiff(
        run_id=run_dir.name,
        old=old_side,
        new=new_side,
        sample=sample,
        transcripts=transcripts,
        dimensions=dimension_table(pairs, resamples=resamples, seed=seed),
        flips=flip_table(pairs),
        conclusions=conclusions,
        comparisons=checks,
        notes=notes + more_notes,
    )
