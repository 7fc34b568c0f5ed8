"""Would the stored comparisons that used a run conclude otherwise under a new judge?

For every comparison report (report.json, kind `character.comparison`) under the reports folder
with the run as one of its arms, the comparison is made twice from the stored tables: with both
runs judged by OLD (the stored scores when OLD made them) and with both judged by NEW (the other
run is judged too, on the same probes). With a sample, both are computed on the sampled probes
only, so the two sides differ by the judge alone.

The reports are read as untrusted files: a report that is unreadable, too large or too deep, that
names a run id no run could have, or whose other run is not in the store or has damaged tables,
is passed over with a note saying why, never a traceback; nothing outside the store is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import ValidationError

from character.analysis.compare import Comparison, compare_tables
from character.analysis.judge_samples import Keys, keys_frame, stored_keys
from character.analysis.reports import REPORT_FILES
from character.analysis.reports.json_report import KIND as COMPARISON_KIND
from character.boundary.ids import RUN_ID
from character.boundary.paths import inside
from character.boundary.reading import read_json
from character.domain.config import GateConfig
from character.errors import CharacterError
from character.store.layout import MANIFEST, SCORES, TRANSCRIPTS, check_tables, run_dir
from character.store.manifest import read_manifest

REPORT_FILE = REPORT_FILES["json"]

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

Judged = Callable[[Path, Any, Keys | None], Path]
"""(run folder, JudgeSpec or None, keys or None) -> the folder holding that run's verdicts by
that judge: the run itself when None or its own judge, else a stored or new re-judge."""


INVALID = "invalid"  # the verdict of a comparison whose tables fail its validity checks


@dataclass(frozen=True)
class ComparisonCheck:
    """One stored comparison that used the run, with both runs judged by OLD and by NEW."""

    report: str  # the report folder
    baseline_run: str
    candidate_run: str
    verdict_old: str | None  # None: not re-checked (see note)
    verdict_new: str | None
    problems_new: list[str] = field(default_factory=list)
    note: str | None = None

    @property
    def changed(self) -> bool | None:
        """Whether the verdict would change; None when either side's comparison is invalid (a
        judge that could not score the runs says nothing about the verdict)."""
        if INVALID in (self.verdict_old, self.verdict_new):
            return None
        return self.verdict_old != self.verdict_new


@dataclass(frozen=True)
class StoredComparison:
    folder: Path
    baseline_run: str
    candidate_run: str
    verdict: Any
    settings: Any


def stored_comparisons(reports_root: Path, run_id: str) -> tuple[list[StoredComparison], list[str]]:
    """The comparison reports under `reports_root` with `run_id` as an arm, and a note for each
    report.json that could not be read as one (reports of other kinds are skipped silently)."""
    root = Path(reports_root)
    found: list[StoredComparison] = []
    notes: list[str] = []
    if not root.is_dir():
        return found, notes
    for path in sorted(root.rglob(REPORT_FILE)):
        if not inside(root, path):
            notes.append(f"{path}: passed over (a link leading outside {root})")
            continue
        try:
            report = read_json(path, what="comparison report")
        except CharacterError as exc:
            notes.append(f"{path}: passed over ({exc.message})")
            continue
        if not isinstance(report, dict) or report.get("kind") != COMPARISON_KIND:
            continue
        arms = [report.get(arm) for arm in ("baseline", "candidate")]
        ids = [arm.get("run_id") if isinstance(arm, dict) else None for arm in arms]
        if run_id not in ids or report.get("valid") is not True:
            continue  # not about this run, or a comparison that reached no conclusion
        if not all(RUN_ID.matches(i) for i in ids):
            notes.append(f"{path}: passed over (its baseline or candidate run id is not a run id)")
            continue
        found.append(
            StoredComparison(
                path.parent, ids[0], ids[1], report.get("verdict"), report.get("settings")
            )
        )
    return found, notes


def _lengths(folder: Path, probes: set[str] | None) -> pl.DataFrame:
    frame = (
        pl.scan_parquet(Path(folder) / TRANSCRIPTS)
        .select("probe_id", "epoch", "response_chars")
        .collect()
    )
    return frame if probes is None else frame.filter(pl.col("probe_id").is_in(sorted(probes)))


def _restrict(scores: pl.DataFrame, probes: set[str] | None, keys: Keys | None) -> pl.DataFrame:
    if keys is not None:
        return scores.with_columns(pl.col("epoch").cast(pl.Int32)).join(
            keys_frame(keys), on=["probe_id", "epoch"], how="semi"
        )
    return scores if probes is None else scores.filter(pl.col("probe_id").is_in(sorted(probes)))


def conclusion_rows(report: str, old: Comparison, new: Comparison) -> list[dict[str, Any]]:
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


@dataclass(frozen=True)
class _Arm:
    """One run of a stored comparison: judged by OLD and by NEW, and the sample to keep."""

    run_id: str
    folder: Path
    old_folder: Path
    new_folder: Path
    keys: Keys | None  # (probe, epoch) to keep; None: everything


def _compare_arms(
    baseline: _Arm, candidate: _Arm, *, new: bool, probes: set[str] | None, settings: GateConfig
) -> Comparison:
    parts = []
    for arm in (baseline, candidate):
        folder = arm.new_folder if new else arm.old_folder
        manifest = read_manifest(folder).model_copy(update={"run_id": arm.run_id})
        scores = _restrict(pl.read_parquet(folder / SCORES), probes, arm.keys)
        parts.append((manifest, scores, _lengths(arm.folder, probes)))
    (bm, bs, bl), (cm, cs, cl) = parts
    return compare_tables(bm, cm, bs, cs, bl, cl, settings)


def _other_run(store: Path, other_id: str) -> tuple[Path | None, str | None]:
    """The other run's folder in the store, or why it cannot be used."""
    try:
        folder = run_dir(store, other_id)
        if not (folder / MANIFEST).is_file():
            return None, f"run {other_id} is not in the store {store}"
        check_tables(folder)
    except CharacterError as exc:
        return None, exc.message
    return folder, None


def check_comparisons(
    run_folder: Path,
    old_dir: Path,
    new_dir: Path,
    keys: Keys | None,
    *,
    old: Any | None,
    new: Any,
    store: Path,
    reports_root: Path,
    judged: Judged,
) -> tuple[list[ComparisonCheck], pl.DataFrame, list[str]]:
    """Re-run every stored comparison that used `run_folder` with both runs judged by OLD (None:
    their stored scores) and by NEW; (checks, per-dimension conclusions, notes)."""
    run_id = Path(run_folder).name
    probes = {p for p, _ in keys} if keys is not None else None
    checks: list[ComparisonCheck] = []
    rows: list[dict[str, Any]] = []
    stored, notes = stored_comparisons(reports_root, run_id)
    for report in stored:
        base_id, cand_id = report.baseline_run, report.candidate_run
        other_id = cand_id if base_id == run_id else base_id
        name = str(report.folder)
        other_dir, problem = _other_run(store, other_id) if other_id != run_id else (None, None)
        if other_dir is None:
            skipped = f"skipped: {problem or 'the comparison compares the run with itself'}"
            checks.append(ComparisonCheck(name, base_id, cand_id, None, None, note=skipped))
            continue
        try:
            settings = GateConfig.model_validate(report.settings or {})
        except ValidationError:
            settings = GateConfig()
            notes.append(f"{name}: its stored settings no longer load; compared with the defaults")
        other_keys = (
            None if probes is None else sorted(k for k in stored_keys(other_dir) if k[0] in probes)
        )
        arms = {
            run_id: _Arm(run_id, Path(run_folder), Path(old_dir), Path(new_dir), keys),
            other_id: _Arm(
                other_id,
                other_dir,
                judged(other_dir, old, other_keys),
                judged(other_dir, new, other_keys),
                other_keys,
            ),
        }
        before, after = (
            _compare_arms(arms[base_id], arms[cand_id], new=side, probes=probes, settings=settings)
            for side in (False, True)
        )
        note = None
        if keys is not None:
            note = (
                f"on the {len(probes or ())} sampled probes only (the stored report, on all its "
                f"probes, says {report.verdict}); --all re-checks the whole comparison"
            )
        elif old is None and before.verdict != report.verdict:
            note = (
                f"the stored report says {report.verdict}, a fresh comparison of the stored "
                f"scores says {before.verdict} (code or settings changed since)"
            )
        checks.append(
            ComparisonCheck(
                name,
                base_id,
                cand_id,
                before.verdict if before.valid else INVALID,
                after.verdict if after.valid else INVALID,
                problems_new=after.problems,
                note=note,
            )
        )
        if before.valid and after.valid:
            rows += conclusion_rows(name, before, after)
    return checks, pl.DataFrame(rows, schema=CONCLUSION_SCHEMA), notes
