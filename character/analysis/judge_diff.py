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

The sample: the run's judge canaries when RUN is the nightly canary run ([nightly] canary_run and
canary_size, the transcripts nightly re-judges), else the whole run, or the first `limit` probes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from character.analysis import stats
from character.analysis.calibrate import agreement
from character.analysis.compare import compare_tables
from character.analysis.json_values import json_safe
from character.analysis.transcript_links import Linker, TranscriptRef, md_ref, md_text
from character.domain.config import GateConfig
from character.domain.rubrics import load_rubric
from character.errors import CharacterError
from character.store.layout import MARKERS_RUBRIC, SCORES, TRANSCRIPTS, list_run_dirs
from character.store.manifest import Manifest, read_manifest

KEY = ["probe_id", "epoch", "rubric", "dimension"]
Z95 = 1.959963984540054
REPORT_FILE = "report.json"
COMPARISON_KIND = "character.comparison"

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
CONCLUSION_SCHEMA: dict[str, Any] = {
    "report": pl.String,
    "baseline_run": pl.String,
    "candidate_run": pl.String,
    "rubric": pl.String,
    "dimension": pl.String,
    "gating": pl.Boolean,
    "class_old": pl.String,
    "class_new": pl.String,
    "diff_old": pl.Float64,
    "diff_new": pl.Float64,
    "changed": pl.Boolean,
}


@dataclass(frozen=True)
class JudgeSide:
    judge: str  # judge id
    kind: str
    run_id: str  # the run whose scores.parquet holds this side's verdicts
    how: str  # "stored scores" | "re-judged now" | "reused stored re-judge"


@dataclass(frozen=True)
class ComparisonCheck:
    """One stored comparison that used the run, with both runs judged by OLD and by NEW."""

    report: str  # the report folder
    baseline_run: str
    candidate_run: str
    verdict_old: str | None
    verdict_new: str | None
    problems_new: list[str] = field(default_factory=list)
    note: str | None = None

    @property
    def changed(self) -> bool:
        return self.verdict_old != self.verdict_new


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


def _verdicts(scores: pl.DataFrame, keys: Sequence[tuple[str, int]] | None) -> pl.DataFrame:
    rows = scores.filter(pl.col("rubric") != MARKERS_RUBRIC).with_columns(
        pl.col("epoch").cast(pl.Int32)
    )
    if keys is not None:
        rows = rows.join(_keys_frame(keys), on=["probe_id", "epoch"], how="semi")
    return rows


def _keys_frame(keys: Sequence[tuple[str, int]]) -> pl.DataFrame:
    return pl.DataFrame(list(keys), schema={"probe_id": pl.String, "epoch": pl.Int32}, orient="row")


def verdict_pairs(
    old: pl.DataFrame, new: pl.DataFrame, keys: Sequence[tuple[str, int]] | None = None
) -> pl.DataFrame:
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


def wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson score 95% interval for a proportion (sensible near 0 and 1, unlike the Wald one)."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    # at 0 or n successes the bound is exactly 0 or 1 (floating point leaves ~1e-17 otherwise)
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def dimension_table(pairs: pl.DataFrame, *, resamples: int = 2000, seed: int = 0) -> pl.DataFrame:
    """Per dimension: flips, agreement with kappa, and the paired shift in mean (DIMENSION_SCHEMA)."""
    rows: list[dict[str, Any]] = []
    for (rubric, dimension), group in pairs.group_by("rubric", "dimension", maintain_order=True):
        scale = group["scale"][0]
        scored = group.filter(pl.col("both_scored"))
        flips = int(scored["flipped"].sum())
        n = scored.height
        lo, hi = wilson(flips, n)
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
# Samples and stored re-judges
# --------------------------------------------------------------------------------------------


def first_probes(transcripts: pl.DataFrame, limit: int) -> list[tuple[str, int]]:
    """Every epoch of the first `limit` probes in the run's stored order (as `run --limit`)."""
    probes = transcripts["probe_id"].unique(maintain_order=True).head(limit)
    keys = transcripts.filter(pl.col("probe_id").is_in(probes.to_list())).select(
        "probe_id", "epoch"
    )
    return [(p, int(e)) for p, e in keys.iter_rows()]


def stored_keys(run_dir: Path) -> set[tuple[str, int]]:
    frame = pl.scan_parquet(Path(run_dir) / TRANSCRIPTS).select("probe_id", "epoch").collect()
    return {(p, int(e)) for p, e in frame.iter_rows()}


def find_rejudge(
    store: Path,
    source_dir: Path,
    judge_id: str,
    prompt_hash: str,
    keys: Sequence[tuple[str, int]] | None,
) -> Path | None:
    """A complete stored re-judge of the run at `source_dir` by that judge (id and prompt hash)
    with today's rubric files, whose transcripts cover `keys` (None: all of the run's); a
    whole-run re-judge is preferred to a sample."""
    source = read_manifest(source_dir)
    base = source.source_run or source.run_id
    try:
        rubrics = {record.name: load_rubric(record.name).hash for record in source.rubrics}
    except CharacterError:
        return None
    wanted = set(keys) if keys is not None else stored_keys(source_dir)
    found: list[tuple[int, str, Path]] = []
    for folder in list_run_dirs(store):
        try:
            manifest = read_manifest(folder)
        except CharacterError:
            continue
        if (
            manifest.kind != "rejudge"
            or manifest.source_run != base
            or manifest.status != "complete"
            or manifest.judge.id != judge_id
            or manifest.judge.prompt_hash != prompt_hash
            or {r.name: r.hash for r in manifest.rubrics} != rubrics
            or not (folder / SCORES).is_file()
            or not wanted <= stored_keys(folder)
        ):
            continue
        sampled = any(w.startswith("re-judged sample") for w in manifest.warnings)
        found.append((int(sampled), folder.name, folder))
    return min(found)[2] if found else None


# --------------------------------------------------------------------------------------------
# Stored comparisons
# --------------------------------------------------------------------------------------------


def stored_comparisons(reports_root: Path, run_id: str) -> list[tuple[Path, dict[str, Any]]]:
    """(folder, report) for every comparison report under `reports_root` with `run_id` as one
    of its arms (unreadable or foreign JSON files are skipped)."""
    found = []
    root = Path(reports_root)
    if not root.is_dir():
        return []
    for path in sorted(root.rglob(REPORT_FILE)):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if (
            not isinstance(report, dict)
            or report.get("kind") != COMPARISON_KIND
            or not report.get("valid")
        ):
            continue
        arms = {(report.get(arm) or {}).get("run_id") for arm in ("baseline", "candidate")}
        if run_id in arms:
            found.append((path.parent, report))
    return found


def _lengths(run_dir: Path, probes: set[str] | None) -> pl.DataFrame:
    frame = (
        pl.scan_parquet(Path(run_dir) / TRANSCRIPTS)
        .select("probe_id", "epoch", "response_chars")
        .collect()
    )
    return frame if probes is None else frame.filter(pl.col("probe_id").is_in(sorted(probes)))


def _restrict(
    scores: pl.DataFrame, probes: set[str] | None, keys: Sequence[tuple[str, int]] | None = None
) -> pl.DataFrame:
    if keys is not None:
        return scores.with_columns(pl.col("epoch").cast(pl.Int32)).join(
            _keys_frame(keys), on=["probe_id", "epoch"], how="semi"
        )
    return scores if probes is None else scores.filter(pl.col("probe_id").is_in(sorted(probes)))


def conclusion_rows(report: str, old: Any, new: Any) -> list[dict[str, Any]]:
    """Per dimension of two Comparisons (judged by OLD, by NEW): class and difference."""
    before = {(r["rubric"], r["dimension"]): r for r in old.dimensions.iter_rows(named=True)}
    after = {(r["rubric"], r["dimension"]): r for r in new.dimensions.iter_rows(named=True)}
    rows = []
    for key in list(dict.fromkeys([*before, *after])):
        b, a = before.get(key, {}), after.get(key, {})
        rows.append(
            {
                "report": report,
                "baseline_run": old.baseline.run_id,
                "candidate_run": old.candidate.run_id,
                "rubric": key[0],
                "dimension": key[1],
                "gating": bool(b.get("gating", a.get("gating"))),
                "class_old": b.get("class"),
                "class_new": a.get("class"),
                "diff_old": b.get("diff"),
                "diff_new": a.get("diff"),
                "changed": b.get("class") != a.get("class"),
            }
        )
    return rows


Judged = Callable[[Path, Any, Sequence[tuple[str, int]] | None], Path]
"""(run folder, JudgeSpec or None, keys or None) -> the folder holding that run's verdicts by
that judge: the run itself when None or its own judge, else a stored or new re-judge."""


@dataclass(frozen=True)
class _Arm:
    """One run of a stored comparison: judged by OLD and by NEW, and the sample to keep."""

    run_id: str
    folder: Path
    old_folder: Path
    new_folder: Path
    keys: Sequence[tuple[str, int]] | None  # (probe, epoch) to keep; None: everything


def _compare_arms(
    baseline: _Arm, candidate: _Arm, *, new: bool, probes: set[str] | None, settings: GateConfig
) -> Any:
    parts = []
    for arm in (baseline, candidate):
        folder = arm.new_folder if new else arm.old_folder
        manifest: Manifest = read_manifest(folder).model_copy(update={"run_id": arm.run_id})
        scores = _restrict(pl.read_parquet(folder / SCORES), probes, arm.keys)
        parts.append((manifest, scores, _lengths(arm.folder, probes)))
    (bm, bs, bl), (cm, cs, cl) = parts
    return compare_tables(bm, cm, bs, cs, bl, cl, settings)


def check_comparisons(
    run_dir: Path,
    old_dir: Path,
    new_dir: Path,
    keys: Sequence[tuple[str, int]] | None,
    *,
    old: Any | None,
    new: Any,
    store: Path,
    reports_root: Path,
    judged: Judged,
) -> tuple[list[ComparisonCheck], pl.DataFrame, list[str]]:
    """Re-run every stored comparison that used `run_dir` with both runs judged by OLD (None:
    their stored scores) and by NEW.

    With a sample, both sides are compared on the sampled probes only (the run on its sampled
    transcripts, the other run on every epoch of those probes).
    """
    run_id = Path(run_dir).name
    probes = {p for p, _ in keys} if keys is not None else None
    checks: list[ComparisonCheck] = []
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for folder, report in stored_comparisons(reports_root, run_id):
        base_id, cand_id = report["baseline"]["run_id"], report["candidate"]["run_id"]
        other_id = cand_id if base_id == run_id else base_id
        name = str(folder)
        other_dir = Path(store) / other_id
        if other_id == run_id or not (other_dir / SCORES).is_file():
            checks.append(
                ComparisonCheck(
                    name,
                    base_id,
                    cand_id,
                    None,
                    None,
                    note=f"skipped: run {other_id} is not in the store {store}",
                )
            )
            continue
        try:
            settings = GateConfig.model_validate(report.get("settings") or {})
        except ValueError:
            settings = GateConfig()
            notes.append(f"{name}: its stored settings no longer load; compared with the defaults")
        other_keys = (
            None if probes is None else sorted(k for k in stored_keys(other_dir) if k[0] in probes)
        )
        arms = {
            run_id: _Arm(run_id, Path(run_dir), Path(old_dir), Path(new_dir), keys),
            other_id: _Arm(
                other_id,
                other_dir,
                judged(other_dir, old, other_keys),
                judged(other_dir, new, other_keys),
                other_keys,
            ),
        }
        before = _compare_arms(
            arms[base_id], arms[cand_id], new=False, probes=probes, settings=settings
        )
        after = _compare_arms(
            arms[base_id], arms[cand_id], new=True, probes=probes, settings=settings
        )
        note = None
        if keys is None and old is None and before.verdict != report.get("verdict"):
            note = (
                f"the stored report says {report.get('verdict')}, a fresh comparison of the stored "
                f"scores says {before.verdict} (code or settings changed since)"
            )
        checks.append(
            ComparisonCheck(
                name,
                base_id,
                cand_id,
                before.verdict if before.valid else "invalid",
                after.verdict if after.valid else "invalid",
                problems_new=after.problems,
                note=note,
            )
        )
        if before.valid and after.valid:
            rows += conclusion_rows(name, before, after)
    return checks, pl.DataFrame(rows, schema=CONCLUSION_SCHEMA), notes


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
    keys: Sequence[tuple[str, int]] | None = None,
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

    def judged(
        folder: Path, spec: Any, chosen: Sequence[tuple[str, int]] | None
    ) -> tuple[Path, str]:
        if spec is None or own_judge(folder, spec):
            return folder, "stored scores"
        found = find_rejudge(store, folder, spec.id, spec.prompt_hash, chosen)
        if found is not None:
            progress(f"{folder.name}: reusing stored re-judge {found.name} ({spec.id})")
            return found, "reused stored re-judge"
        count = len(chosen) if chosen is not None else len(stored_keys(folder))
        progress(f"{folder.name}: judging {count} transcripts with {spec.id}")
        result = rejudge(folder, spec, store=store, max_connections=max_connections, keys=chosen)
        if result.status != "complete":
            raise CharacterError(
                f"re-judging {folder.name} with {spec.id} did not complete",
                file=Path(store) / result.run_id,
                remedy="run the same command again: it resumes",
            )
        return Path(store) / result.run_id, "re-judged now"

    if old is not None and own_judge(run_dir, old):
        old = None  # OLD made the stored scores: use them
    old_dir, old_how = judged(run_dir, old, keys)
    if old is None and own_judge(run_dir, new):
        # NEW made the stored scores and there is nothing else to compare with: judge again
        notes.append(f"{new.id} made the stored scores: the flips measure how repeatable it is")
        found = find_rejudge(store, run_dir, new.id, new.prompt_hash, keys)
        if found is None:
            progress(f"{run_dir.name}: judging again with {new.id}")
            result = rejudge(run_dir, new, store=store, max_connections=max_connections, keys=keys)
            found = Path(store) / result.run_id
        new_dir, new_how = found, "judged again"
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


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x * 100:.1f}%"


def _num(x: float | None, signed: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def _mean(x: float | None, scale: str) -> str:
    return _pct(x) if scale == "binary" else _num(x)


def _shift_text(row: dict[str, Any]) -> str:
    if row["shift"] is None:
        return row["note"] or "n/a"
    unit = 100 if row["scale"] == "binary" else 1
    suffix = " pp" if row["scale"] == "binary" else ""
    return (
        f"{row['shift'] * unit:+.1f}{suffix} ({row['shift_ci_lo'] * unit:+.1f} to "
        f"{row['shift_ci_hi'] * unit:+.1f}; p = {row['shift_p']:.3f})"
    )


def _kappa_text(row: dict[str, Any]) -> str:
    if row["kappa"] is None or not math.isfinite(row["kappa"]):
        return "n/a (one judge gave a single value)" if row["transcripts"] else "n/a"
    lo, hi = row["kappa_ci_lo"], row["kappa_ci_hi"]
    if lo is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{_num(row['kappa'])} (CI n/a: undefined in resamples)"
    return f"{_num(row['kappa'])} ({_num(lo)} to {_num(hi)})"


def _ref(diff: JudgeDiff, row: dict[str, Any]) -> TranscriptRef:
    return TranscriptRef(diff.run_id, row["probe_id"], row["epoch"], row["turn"])


def headline(diff: JudgeDiff) -> str:
    return (
        f"## character judge-diff: {md_text(diff.run_id)} · {md_text(diff.old.judge)} -> "
        f"{md_text(diff.new.judge)}"
    )


def render_markdown(diff: JudgeDiff, *, link: Linker | None = None, max_flips: int = 100) -> str:
    lines = [headline(diff), ""]
    lines.append(f"- Sample: {md_text(diff.sample)} ({diff.transcripts} transcripts).")
    for side, name in ((diff.old, "Old"), (diff.new, "New")):
        lines.append(
            f"- {name} judge: {md_text(side.judge)} ({side.kind}; {md_text(side.how)}: {md_text(side.run_id)})."
        )
    lines += [f"- {md_text(note)}" for note in diff.notes]
    lines += [
        "",
        "### Per dimension",
        "",
        "| dimension | transcripts | flips | flip rate (95% CI) | agreement | kappa (95% CI) | "
        "mean old -> new | shift new - old (95% CI, paired by probe) | newly unscored |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in diff.dimensions.iter_rows(named=True):
        kappa = _kappa_text(row)
        lines.append(
            f"| {md_text(row['rubric'] + '/' + row['dimension'])}{' (gating)' if row['gating'] else ''} | "
            f"{row['transcripts']} | {row['flips']} | {_pct(row['flip_rate'])} ({_pct(row['flip_ci_lo'])} to "
            f"{_pct(row['flip_ci_hi'])}) | {_pct(row['agreement'])} | {kappa} | "
            f"{_mean(row['old_mean'], row['scale'])} -> {_mean(row['new_mean'], row['scale'])} | "
            f"{md_text(_shift_text(row))} | {row['newly_unscored']} |"
        )
    lines += [
        "",
        "### Conclusions of stored comparisons that used this run",
        "",
        f"Both runs of each comparison judged by {md_text(diff.old.judge)} -> both judged by "
        f"{md_text(diff.new.judge)}:",
        "",
    ]
    if not diff.comparisons:
        lines.append("No stored comparison report used this run.")
    for check in diff.comparisons:
        if check.verdict_new is None:
            lines.append(f"- {md_text(check.report)}: {md_text(check.note)}")
            continue
        changed = diff.conclusions.filter((pl.col("report") == check.report) & pl.col("changed"))
        verdict = f"verdict {check.verdict_old} -> {check.verdict_new}" + (
            " (WOULD CHANGE)" if check.changed else " (unchanged)"
        )
        moves = (
            "; ".join(
                f"{md_text(r['rubric'] + '/' + r['dimension'])} {md_text(r['class_old'])} -> {md_text(r['class_new'])}"
                for r in changed.iter_rows(named=True)
            )
            or "no dimension changes class"
        )
        lines.append(f"- {md_text(check.report)}: {verdict}; {moves}")
        if check.problems_new:
            lines.append(
                f"  - re-judged comparison invalid: {md_text('; '.join(check.problems_new))}"
            )
        if check.note:
            lines.append(f"  - {md_text(check.note)}")
    flips = diff.flips
    lines += ["", f"<details><summary>Verdicts that flip ({flips.height})</summary>", ""]
    if flips.height:
        lines += [
            "| transcript | dimension | old | new | new judge's reasoning |",
            "|---|---|---|---|---|",
        ]
        for row in flips.head(max_flips).iter_rows(named=True):
            lines.append(
                f"| {md_ref(_ref(diff, row), link)} | {md_text(row['rubric'] + '/' + row['dimension'])} | "
                f"{md_text(row['old'], limit=80)} | {md_text(row['new'], limit=80)} | "
                f"{md_text(row['new_reasoning'], limit=200)} |"
            )
        if flips.height > max_flips:
            lines.append(f"\n{flips.height - max_flips} more in judge_diff.json.")
    else:
        lines.append("No verdict flipped.")
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def as_dict(diff: JudgeDiff, *, link: Linker | None = None) -> dict[str, Any]:
    flips = []
    for row in diff.flips.iter_rows(named=True):
        flips.append({**row, "transcript": _ref(diff, row).as_dict(link)})
    return json_safe(
        {
            "kind": "character.judge_diff",
            "schema_version": 1,
            "run_id": diff.run_id,
            "old": diff.old.__dict__,
            "new": diff.new.__dict__,
            "sample": diff.sample,
            "transcripts": diff.transcripts,
            "dimensions": diff.dimensions.to_dicts(),
            "comparisons": [
                {
                    **c.__dict__,
                    "changed": c.changed,
                    "dimensions": diff.conclusions.filter(pl.col("report") == c.report)
                    .drop("report")
                    .to_dicts(),
                }
                for c in diff.comparisons
            ],
            "flips": flips,
            "notes": diff.notes,
        }
    )


def render_json(diff: JudgeDiff, *, link: Linker | None = None) -> str:
    return (
        json.dumps(as_dict(diff, link=link), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    )


def report_slug(diff: JudgeDiff) -> str:
    safe = lambda text: "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in text)  # noqa: E731
    return f"{diff.run_id}__{safe(diff.old.judge)}__to__{safe(diff.new.judge)}"[:200]
