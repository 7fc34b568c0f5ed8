"""Nightly runs: a history table, CUSUM alarms per dimension, and judge canaries.

METHODS.md "Nightly": a fresh significance test every night raises false alarms, so each night's
difference from a frozen reference run becomes z_t = delta_t / SE_t (`stats.cusum_z`) and a
two-sided CUSUM (`stats.cusum`, k and h from [nightly]) accumulates it; an alarm is S+ or S-
above h. A canary set of stored transcripts is re-judged every night and gets its own CUSUM
against its original scores: if the canaries move, the judge moved, and model alarms on the
same dimensions are reported as suspected judge drift rather than blamed on the model.

Bookkeeping rules:
* One observation per (night, target, kind): re-running a night replaces that night's rows.
* A series is (target, kind, rubric, dimension, reference run); a new reference starts a new
  series, so CUSUM sums never mix two references.
* The first night of a target with no configured reference freezes that night's run as the
  reference (recorded with z = null, which CUSUM skips).
* Only gating dimensions raise alarms (the exit code); exploratory ones are shown, not alarmed.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from character.analysis import stats
from character.analysis.compare import Comparison, compare_runs
from character.domain.config import Config
from character.errors import CharacterError
from character.run.judges import JudgeSpec, resolve_judge
from character.run.runner import RunRequest, execute, prepare
from character.store.files import atomic_write, exclusive_lock
from character.store.layout import MARKERS_RUBRIC, SCORES, resolve_run
from character.store.manifest import read_manifest
from character.store.tables import SCORE_SCHEMA

HISTORY_FILE = "history.parquet"
# The history is accumulated state, not a regenerable report: it lives in the run store
# (<store>/_nightly/), next to the runs it summarises, so the viewer reads only the store.
NIGHTLY_DIR = "_nightly"


def history_file(store: Path) -> Path:
    return Path(store) / NIGHTLY_DIR / HISTORY_FILE
KIND_MODEL = "model"
KIND_CANARY = "canary"
CANARY_TARGET = "(judge canaries)"
SERIES = ["target", "kind", "rubric", "dimension", "reference_run_id"]

HISTORY_SCHEMA: dict[str, Any] = {
    "night": pl.String,  # ISO date of the nightly run
    "recorded": pl.String,  # ISO timestamp, orders two runs of the same night
    "target": pl.String,
    "kind": pl.String,  # model | canary
    "run_id": pl.String,
    "reference_run_id": pl.String,
    "rubric": pl.String,
    "dimension": pl.String,
    "gating": pl.Boolean,
    "scale": pl.String,
    "n_probes": pl.Int64,
    "reference_mean": pl.Float64,
    "mean": pl.Float64,
    "delta": pl.Float64,
    "se": pl.Float64,
    "z": pl.Float64,  # null: the reference night itself, or an invalid comparison
    "s_plus": pl.Float64,
    "s_minus": pl.Float64,
    "alarm": pl.Boolean,
    "direction": pl.String,  # up | down when alarming
    "note": pl.String,
}

# Re-judge the given (probe_id, epoch) samples of a stored run with `judge`; returns their
# score rows (SCORE_SCHEMA). The real implementation is `character judge` (run.rejudge).
CanaryRejudge = Callable[[Path, list[tuple[str, int]], JudgeSpec], pl.DataFrame]


# --------------------------------------------------------------------------------------------
# History table
# --------------------------------------------------------------------------------------------


def read_history(path: Path) -> pl.DataFrame:
    if not Path(path).is_file():
        return pl.DataFrame(schema=HISTORY_SCHEMA)
    return pl.read_parquet(path).cast(HISTORY_SCHEMA)  # type: ignore[arg-type]


def merge_night(history: pl.DataFrame, tonight: pl.DataFrame) -> pl.DataFrame:
    """History with tonight's rows in place of any earlier rows for the same night and target."""
    replaced = tonight.select("night", "target", "kind").unique()
    kept = history.join(replaced, on=["night", "target", "kind"], how="anti")
    return pl.concat([kept, tonight.select(list(HISTORY_SCHEMA)).cast(HISTORY_SCHEMA)]).sort(  # type: ignore[arg-type]
        "night", "recorded", "target", "kind", "rubric", "dimension"
    )


def apply_cusum(history: pl.DataFrame, k: float, h: float) -> pl.DataFrame:
    """Recompute S+, S- and alarms for every series, in night order (null z skipped)."""
    parts = []
    for _, series in history.sort("night", "recorded").group_by(SERIES, maintain_order=True):
        observed = series.filter(pl.col("z").is_not_null())
        skipped = series.filter(pl.col("z").is_null()).with_columns(
            s_plus=pl.lit(None, pl.Float64), s_minus=pl.lit(None, pl.Float64),
            alarm=pl.lit(False), direction=pl.lit(None, pl.String),
        )
        if observed.height:
            result = stats.cusum(observed["z"].to_numpy(), k=k, h=h)
            direction = np.where(result.s_plus > h, "up", np.where(result.s_minus > h, "down", None))
            observed = observed.with_columns(
                s_plus=pl.Series(result.s_plus), s_minus=pl.Series(result.s_minus),
                alarm=pl.Series(result.alarm, dtype=pl.Boolean),
                direction=pl.Series(direction.tolist(), dtype=pl.String),
            )
        parts += [observed, skipped]
    if not parts:
        return history
    return pl.concat(parts).sort("night", "recorded", "target", "kind", "rubric", "dimension")


def write_history(path: Path, history: pl.DataFrame) -> None:
    atomic_write(path, lambda tmp: history.write_parquet(tmp))


# --------------------------------------------------------------------------------------------
# Tonight's rows
# --------------------------------------------------------------------------------------------


def drift_rows(comparison: Comparison, *, night: str, recorded: str, target: str,
               kind: str = KIND_MODEL) -> pl.DataFrame:
    """One history row per dimension: tonight minus the reference, its SE and z."""
    base = {"night": night, "recorded": recorded, "target": target, "kind": kind,
            "run_id": comparison.candidate.run_id, "reference_run_id": comparison.baseline.run_id}
    if not comparison.valid:
        note = "invalid comparison with the reference: " + "; ".join(comparison.problems)
        return pl.DataFrame([{**base, "rubric": "", "dimension": "", "note": note}], schema=HISTORY_SCHEMA)
    dims = comparison.dimensions.filter(pl.col("diff").is_not_null())
    z = stats.cusum_z(dims["diff"].to_numpy(), dims["se"].to_numpy()) if dims.height else np.array([])
    return dims.select(
        "rubric", "dimension", "gating", "scale", "n_probes",
        pl.col("baseline_mean").alias("reference_mean"), pl.col("candidate_mean").alias("mean"),
        pl.col("diff").alias("delta"), "se",
    ).with_columns(
        z=pl.Series(z, dtype=pl.Float64),
        **{name: pl.lit(value) for name, value in base.items()},
    ).with_columns(
        pl.lit(None, pl.Float64).alias("s_plus"), pl.lit(None, pl.Float64).alias("s_minus"),
        pl.lit(False).alias("alarm"), pl.lit(None, pl.String).alias("direction"),
        pl.lit(None, pl.String).alias("note"),
    ).select(list(HISTORY_SCHEMA)).cast(HISTORY_SCHEMA)  # type: ignore[arg-type]


def reference_rows(comparison: Comparison, *, night: str, recorded: str, target: str) -> pl.DataFrame:
    """The night a reference is frozen: recorded for the record, never counted by CUSUM."""
    rows = drift_rows(comparison, night=night, recorded=recorded, target=target)
    return rows.with_columns(z=pl.lit(None, pl.Float64), note=pl.lit("reference frozen tonight"))


# --------------------------------------------------------------------------------------------
# Canaries
# --------------------------------------------------------------------------------------------


def canary_keys(scores: pl.DataFrame, size: int) -> list[tuple[str, int]]:
    """The canary transcripts: the same `size` (probe, epoch) samples every night.

    Chosen by a hash of the key, not by position, so they spread over suites and categories and
    do not change when a run is re-read.
    """
    keys = scores.select("probe_id", "epoch").unique().iter_rows()
    ranked = sorted(keys, key=lambda key: hashlib.sha256(f"{key[0]}|{key[1]}".encode()).hexdigest())
    return [(probe, int(epoch)) for probe, epoch in ranked[:size]]


def canary_drift(original: pl.DataFrame, rejudged: pl.DataFrame) -> pl.DataFrame:
    """Per dimension: mean change of the re-judged scores on the same transcripts, with SE.

    Units are transcripts (the same text judged twice), so the pairing is by (probe, epoch).
    """
    def values(scores: pl.DataFrame) -> pl.DataFrame:
        return scores.filter((pl.col("rubric") != MARKERS_RUBRIC) & (pl.col("status") == "scored")
                             & pl.col("value").is_not_null()).group_by(
            "rubric", "dimension", "probe_id", "epoch"
        ).agg(pl.col("value").mean(), pl.col("gating").first(), pl.col("scale").first())

    paired = values(original).join(
        values(rejudged).select("rubric", "dimension", "probe_id", "epoch", pl.col("value").alias("rejudged")),
        on=["rubric", "dimension", "probe_id", "epoch"],
    )
    rows = []
    for (rubric, dimension), group in paired.group_by("rubric", "dimension", maintain_order=True):
        if group.height < 2:
            continue
        result = stats.paired_difference(group["value"].to_numpy(), group["rejudged"].to_numpy(),
                                         scale="continuous", epochs=1, worse="higher")
        rows.append({"rubric": rubric, "dimension": dimension, "gating": group["gating"][0],
                     "scale": group["scale"][0], "n_probes": group.height,
                     "reference_mean": result.mean_baseline, "mean": result.mean_candidate,
                     "delta": result.diff, "se": result.se})
    frame = pl.DataFrame(rows, schema={k: HISTORY_SCHEMA[k] for k in (
        "rubric", "dimension", "gating", "scale", "n_probes", "reference_mean", "mean", "delta", "se")})
    return frame.sort("rubric", "dimension")


def canary_rows(drift: pl.DataFrame, *, night: str, recorded: str, canary_run: str,
                judge_id: str) -> pl.DataFrame:
    z = stats.cusum_z(drift["delta"].to_numpy(), drift["se"].to_numpy()) if drift.height else np.array([])
    return drift.with_columns(
        night=pl.lit(night), recorded=pl.lit(recorded), target=pl.lit(CANARY_TARGET),
        kind=pl.lit(KIND_CANARY), run_id=pl.lit(judge_id), reference_run_id=pl.lit(canary_run),
        z=pl.Series(z, dtype=pl.Float64), s_plus=pl.lit(None, pl.Float64),
        s_minus=pl.lit(None, pl.Float64), alarm=pl.lit(False), direction=pl.lit(None, pl.String),
        note=pl.lit(None, pl.String),
    ).select(list(HISTORY_SCHEMA)).cast(HISTORY_SCHEMA)  # type: ignore[arg-type]


def rejudge_canaries(run_dir: Path, keys: list[tuple[str, int]], judge: JudgeSpec) -> pl.DataFrame:
    """Re-judge the canary run now with `run.rejudge`, returning the canary samples' scores.

    The re-judged run goes to a throw-away store: `rejudge` reuses a stored re-judge with the
    same judge and rubrics, which is right for a baseline but would make every night's canary
    a copy of the first.
    """
    from character.run.rejudge import rejudge  # L2; imported here so the history tools stay light

    with tempfile.TemporaryDirectory(prefix="character-canaries-") as scratch:
        store = Path(scratch) / "store"
        manifest = rejudge(Path(run_dir), judge, store=store)
        scores = pl.read_parquet(store / manifest.run_id / SCORES)
    chosen = pl.DataFrame(keys, schema={"probe_id": pl.String, "epoch": SCORE_SCHEMA["epoch"]}, orient="row")
    return scores.join(chosen, on=["probe_id", "epoch"], how="semi")


def default_rejudge() -> CanaryRejudge | None:
    """`rejudge_canaries` when `run.rejudge` is installed, else None (canaries are skipped)."""
    try:
        import character.run.rejudge  # noqa: F401
    except ImportError:
        return None
    return rejudge_canaries


# --------------------------------------------------------------------------------------------
# Alarms and attribution
# --------------------------------------------------------------------------------------------


def alarm_messages(tonight: pl.DataFrame) -> tuple[list[str], bool]:
    """Messages for tonight's alarms on gating dimensions, and whether the judge moved.

    A model alarm on a dimension whose canaries also alarm is reported as judge drift.
    """
    alarming = tonight.filter(pl.col("alarm") & pl.col("gating"))
    canary = alarming.filter(pl.col("kind") == KIND_CANARY)
    judge_moved_dims = {f"{r}/{d}" for r, d in canary.select("rubric", "dimension").iter_rows()}
    messages = []
    for row in canary.iter_rows(named=True):
        messages.append(
            f"JUDGE DRIFT · {row['rubric']}/{row['dimension']}: re-judged canary transcripts moved "
            f"{row['delta']:+.3f} (z = {row['z']:+.1f}; CUSUM {_sum(row)}): the judge changed, not the model."
        )
    for row in alarming.filter(pl.col("kind") == KIND_MODEL).iter_rows(named=True):
        key = f"{row['rubric']}/{row['dimension']}"
        cause = ("suspected judge drift (the canaries moved too)" if key in judge_moved_dims
                 else "model drift (the canaries did not move)" if canary.height or judge_moved_dims
                 else "model drift")
        messages.append(
            f"ALARM · {row['target']} · {key}: {_value(row['reference_mean'], row['scale'])} -> "
            f"{_value(row['mean'], row['scale'])} against reference {row['reference_run_id']} "
            f"(z = {row['z']:+.1f} tonight; CUSUM {_sum(row)}); {cause}."
        )
    return messages, bool(judge_moved_dims)


def _sum(row: dict[str, Any]) -> str:
    which = "S+" if row["direction"] == "up" else "S-"
    value = row["s_plus"] if row["direction"] == "up" else row["s_minus"]
    return f"{which} = {value:.1f} > h"


def _value(value: float | None, scale: str | None) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:.1f}%" if scale == "binary" else f"{value:.2f}"


# --------------------------------------------------------------------------------------------
# One night
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NightlyResult:
    night: str
    output: Path
    tonight: pl.DataFrame
    """Tonight's history rows, after CUSUM."""
    history: pl.DataFrame
    alarms: list[str]
    judge_drift: bool
    errors: list[str]
    notes: list[str] = field(default_factory=list)
    comparisons: dict[str, Path] = field(default_factory=dict)
    """target name -> folder of tonight's comparison reports."""

    @property
    def exit_code(self) -> int:
        """0 quiet, 1 an alarm, 2 an invalid comparison or an error."""
        if self.errors:
            return 2
        return 1 if self.alarms else 0


def output_dir(config: Config) -> Path:
    output = Path(config.nightly.output)
    if not output.is_absolute() and config.path is not None:
        output = config.path.parent / output
    return output


def run_nightly(
    config: Config,
    store: Path,
    *,
    night: str | None = None,
    rejudge: CanaryRejudge | None = None,
    display: str = "none",
    write_reports: Callable[[Comparison, Path], Any] | None = None,
) -> NightlyResult:
    """Run every configured target, update the history and CUSUM, return tonight's result.

    `write_reports` (the reports package's) writes each target's comparison under
    <output>/<night>/<target>/; the caller writes the nightly page and index.
    """
    nightly = config.nightly
    if not nightly.targets:
        raise CharacterError("no nightly targets configured", file=config.path, field="nightly.targets",
                             remedy="list target names from [targets.*], e.g. targets = [\"support-bot\"]")
    night = night or date.today().isoformat()
    recorded = datetime.now(UTC).isoformat(timespec="seconds")
    output = output_dir(config)
    history_path = history_file(store)
    judge = resolve_judge(config.judge.model, repeats=config.judge.repeats, attempts=config.judge.attempts)
    errors: list[str] = []
    notes: list[str] = []
    comparisons: dict[str, Path] = {}
    parts: list[pl.DataFrame] = []
    with exclusive_lock(history_path.parent / ".lock", what=f"nightly history {history_path}"):
        history = read_history(history_path)
        for name in nightly.targets:
            target = config.target(name)
            request = RunRequest(suites=list(nightly.suites), target=target, judge=judge, store=store,
                                 epochs=nightly.epochs, limit=nightly.limit, fresh=True,
                                 batch=nightly.batch, display=display)  # type: ignore[arg-type]
            prepared = prepare(request)
            manifest = execute(prepared)
            if manifest.status != "complete":
                errors.append(f"{name}: tonight's run {manifest.run_id} is {manifest.status}; re-run the nightly")
                continue
            reference = _reference(config, history, name, store)
            if reference is None:
                comparison = compare_runs(prepared.dir, prepared.dir, config.gate)
                parts.append(reference_rows(comparison, night=night, recorded=recorded, target=name))
                notes.append(f"{name}: no reference yet; tonight's run {manifest.run_id} is now the frozen "
                             "reference (set [nightly.reference] to pin one)")
                continue
            comparison = compare_runs(reference, prepared.dir, config.gate)
            if write_reports is not None:
                folder = output / night / _slug(name)
                write_reports(comparison, folder)
                comparisons[name] = folder
            if not comparison.valid:
                errors.append(f"{name}: tonight's run cannot be compared with reference {reference.name}: "
                              + "; ".join(comparison.problems)
                              + " (freeze a new reference in [nightly.reference])")
            parts.append(drift_rows(comparison, night=night, recorded=recorded, target=name))

        canary, canary_note = _canaries(config, store, judge, rejudge, night, recorded)
        if canary is not None:
            parts.append(canary)
        if canary_note:
            notes.append(canary_note)

        tonight = pl.concat(parts) if parts else pl.DataFrame(schema=HISTORY_SCHEMA)
        history = apply_cusum(merge_night(history, tonight), nightly.cusum_k, nightly.cusum_h)
        write_history(history_path, history)
    tonight = history.join(tonight.select("night", "target", "kind").unique(),
                           on=["night", "target", "kind"], how="semi").filter(pl.col("night") == night)
    alarms, judge_drift = alarm_messages(tonight)
    return NightlyResult(night=night, output=output, tonight=tonight, history=history, alarms=alarms,
                         judge_drift=judge_drift, errors=errors, notes=notes, comparisons=comparisons)


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in name)


def _reference(config: Config, history: pl.DataFrame, name: str, store: Path) -> Path | None:
    pinned = config.nightly.reference.get(name)
    if pinned:
        return resolve_run(store, pinned)
    earlier = history.filter((pl.col("target") == name) & (pl.col("kind") == KIND_MODEL))
    if earlier.height == 0:
        return None
    return resolve_run(store, earlier.sort("night", "recorded")["reference_run_id"][0])


def _canaries(config: Config, store: Path, judge: JudgeSpec, rejudge: CanaryRejudge | None,
              night: str, recorded: str) -> tuple[pl.DataFrame | None, str | None]:
    nightly = config.nightly
    if not nightly.canary_run:
        return None, ("no canary run configured ([nightly] canary_run): judge drift cannot be told "
                      "from model drift")
    folder = resolve_run(store, nightly.canary_run)
    stored_judge = read_manifest(folder).judge
    if (stored_judge.id, stored_judge.prompt_hash) != (judge.id, judge.prompt_hash):
        return None, (f"canary run {folder.name} was judged by {stored_judge.id}, tonight's judge is "
                      f"{judge.id}: re-judge it first (`character judge {folder.name} --judge {judge.id}`)")
    if rejudge is None:
        return None, ("canaries skipped: re-judging stored transcripts (`character judge`) is not "
                      "available in this install")
    original = pl.read_parquet(folder / SCORES)
    keys = canary_keys(original, nightly.canary_size)
    chosen = pl.DataFrame(keys, schema={"probe_id": pl.String, "epoch": SCORE_SCHEMA["epoch"]}, orient="row")
    original = original.join(chosen, on=["probe_id", "epoch"], how="semi")
    rejudged = rejudge(folder, keys, judge)
    drift = canary_drift(original, rejudged)
    return canary_rows(drift, night=night, recorded=recorded, canary_run=folder.name, judge_id=judge.id), None
