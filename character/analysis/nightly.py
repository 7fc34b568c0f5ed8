"""Nightly runs: a history table, CUSUM alarms per dimension, and judge canaries.

docs/methods.md "Nightly": a fresh significance test every night raises false alarms, so each
night's difference from a frozen reference run becomes z_t = delta_t / SE_t and a combined
Shewhart-CUSUM (`stats.cusum`, k, h and the one-night limit from [nightly]) accumulates it. A
canary set of stored transcripts is re-judged every night and gets its own CUSUM against its
original scores: if the canaries move, the judge moved, and model alarms on the same dimensions
are reported as suspected judge drift rather than blamed on the model.

Bookkeeping rules:
* One observation per (night, target, kind): re-running a night replaces that night's rows.
  Nights are UTC dates.
* A series is (target, kind, rubric, dimension, reference run); a new reference starts a new
  series, so CUSUM sums never mix two references. An acknowledged level (nightly_acks) restarts
  a series' sums and moves its zero to the accepted level.
* SE: the comparison's SE floored at the epochs' own sampling error (`se_within`), so a night
  whose scores are all 1.0 still has a finite z; canaries use `stats.rejudge_se`.
* The first night of a target with no configured reference freezes that night's run as the
  reference (recorded with z = null, which CUSUM skips).
* Alarms are raised in a dimension's worse direction only; a shift in the good direction is
  reported as an improvement, never as an alarm. The judge canaries alarm either way. Only gating
  dimensions decide the exit code; exploratory ones are shown, not alarmed.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from character.analysis import stats
from character.analysis.compare import Comparison, compare_runs
from character.analysis.nightly_acks import Ack, acks_file, append_ack, current_reference, read_acks
from character.domain.config import Config
from character.errors import CharacterError
from character.run.judges import JudgeSpec, judge_from
from character.run.runner import RunRequest, execute, prepare
from character.store.files import atomic_write, exclusive_lock
from character.store.layout import MARKERS_RUBRIC, SCORES, resolve_run
from character.store.manifest import Manifest, read_manifest
from character.store.tables import SCORE_SCHEMA

HISTORY_FILE = "history.parquet"
# The history is accumulated state, not a regenerable report: it lives in the run store
# (<store>/_nightly/), next to the runs it summarises, so the viewer reads only the store.
NIGHTLY_DIR = "_nightly"


def history_file(store: Path) -> Path:
    return Path(store) / NIGHTLY_DIR / HISTORY_FILE


def store_acks_file(store: Path) -> Path:
    return acks_file(Path(store) / NIGHTLY_DIR)


KIND_MODEL = "model"
KIND_CANARY = "canary"
CANARY_TARGET = "(judge canaries)"
SERIES = ["target", "kind", "rubric", "dimension", "reference_run_id"]
# A canary |z| at least this large tonight, in the same direction as a model alarm, is enough to
# call that alarm suspected judge drift even before the canary's own CUSUM crosses h.
ATTRIBUTION_Z = 2.0

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
    "se": pl.Float64,  # the SE z is taken against: the comparison's, floored at se_within
    "z": pl.Float64,  # delta / se against the reference; null: the reference night, or invalid
    "s_plus": pl.Float64,
    "s_minus": pl.Float64,
    "alarm": pl.Boolean,  # a CUSUM or one-night alarm in the worse direction (canaries: either)
    "direction": pl.String,  # up | down when a sum or the one-night limit signalled
    "note": pl.String,
    "worse": pl.String,  # higher | lower (null for histories written before it was recorded)
    "se_within": pl.Float64,
    "z_cusum": pl.Float64,  # what the CUSUM added: (delta - accepted level) / se
    "level": pl.Float64,  # the accepted level (delta units) in force; 0 until an acknowledgement
    "shewhart": pl.Boolean,  # |z_cusum| above the one-night limit tonight
    "signal": pl.String,  # alarm | improvement | null
    "acknowledged": pl.String,  # on an acknowledged night: who accepted it, and when
    "target_change": pl.String,  # what differs in the target since the reference (model/prompt/settings)
    "recovering": pl.Boolean,  # a signal whose sum fell tonight: the night no longer pushes it on
}

# Re-judge the given (probe_id, epoch) samples of a stored run with `judge`; returns their
# score rows (SCORE_SCHEMA). The real implementation is `character judge` (run.rejudge).
CanaryRejudge = Callable[[Path, list[tuple[str, int]], JudgeSpec], pl.DataFrame]


# --------------------------------------------------------------------------------------------
# History table
# --------------------------------------------------------------------------------------------


def read_history(path: Path) -> pl.DataFrame:
    """The history table; columns added since a file was written are read as nulls."""
    if not Path(path).is_file():
        return pl.DataFrame(schema=HISTORY_SCHEMA)
    frame = pl.read_parquet(path)
    missing = [pl.lit(None, dtype).alias(name) for name, dtype in HISTORY_SCHEMA.items() if name not in frame.columns]
    return frame.with_columns(missing).select(list(HISTORY_SCHEMA)).cast(HISTORY_SCHEMA)  # type: ignore[arg-type]


def merge_night(history: pl.DataFrame, tonight: pl.DataFrame) -> pl.DataFrame:
    """History with tonight's rows in place of any earlier rows for the same night and target."""
    replaced = tonight.select("night", "target", "kind").unique()
    kept = history.join(replaced, on=["night", "target", "kind"], how="anti")
    return pl.concat([kept, tonight.select(list(HISTORY_SCHEMA)).cast(HISTORY_SCHEMA)]).sort(  # type: ignore[arg-type]
        "night", "recorded", "target", "kind", "rubric", "dimension"
    )


def apply_cusum(
    history: pl.DataFrame,
    k: float,
    h: float,
    *,
    limit: float | None = stats.SHEWHART_Z,
    acks: Sequence[Ack] = (),
) -> pl.DataFrame:
    """Recompute the CUSUM of every series, in night order (null z skipped).

    Each series runs the combined Shewhart-CUSUM (`stats.cusum` with the one-night `limit`).
    An acknowledgement ("level" mode) covering the series splits it: the sums restart after the
    acknowledged night, and from then on z_cusum = (delta - level) / se, where the level is the
    mean delta since the sums were last both 0 (the CUSUM's own estimate of when the shift
    began). `alarm` is a signal in the worse direction (either direction for canaries and for
    rows of unknown direction); the good direction is `signal = "improvement"`.
    """
    history = history.select(list(HISTORY_SCHEMA)).cast(HISTORY_SCHEMA)  # type: ignore[arg-type]
    parts = []
    for key, series in history.sort("night", "recorded").group_by(SERIES, maintain_order=True):
        target, kind, rubric, dimension, reference = (str(v) for v in key)
        covering = sorted((a for a in acks if a.covers(target, kind, f"{rubric}/{dimension}", reference)),
                          key=lambda a: (a.after_night, a.at))
        observed = series.filter(pl.col("z").is_not_null())
        skipped = series.filter(pl.col("z").is_null()).with_columns(
            s_plus=pl.lit(None, pl.Float64), s_minus=pl.lit(None, pl.Float64), z_cusum=pl.lit(None, pl.Float64),
            alarm=pl.lit(False), direction=pl.lit(None, pl.String), shewhart=pl.lit(None, pl.Boolean),
            signal=pl.lit(None, pl.String), level=pl.lit(None, pl.Float64), acknowledged=pl.lit(None, pl.String),
            recovering=pl.lit(None, pl.Boolean),
        )
        if observed.height:
            observed = _series_cusum(observed, k, h, limit, covering)
        parts += [observed, skipped]
    if not parts:
        return history
    return pl.concat(parts).sort("night", "recorded", "target", "kind", "rubric", "dimension")


def _series_cusum(series: pl.DataFrame, k: float, h: float, limit: float | None,
                  acks: list[Ack]) -> pl.DataFrame:
    rows = series.to_dicts()
    nights = [row["night"] for row in rows]
    level, start = 0.0, 0
    for row in rows:
        row["level"], row["acknowledged"] = None, None
    boundaries = []
    for ack in acks:
        end = next((i for i, night in enumerate(nights) if night > ack.after_night), len(rows))
        boundaries.append((end, ack))
    boundaries.append((len(rows), None))
    for end, ack in boundaries:
        if end < start:
            continue
        segment = rows[start:end]
        if segment:
            z = np.array([_z_against(row, level) for row in segment])
            result = stats.cusum(z, k=k, h=h, limit=limit)
            for t, row in enumerate(segment):
                direction = result.directions[t] if result.directions is not None else None
                alarm, signal = _signal(direction, row["worse"], row["kind"])
                shewhart = bool(result.shewhart[t]) if result.shewhart is not None else False
                row.update(z_cusum=float(z[t]), s_plus=float(result.s_plus[t]), s_minus=float(result.s_minus[t]),
                           shewhart=shewhart, direction=direction, alarm=alarm, signal=signal, level=level,
                           recovering=_recovering(result, t, direction, shewhart))
            if ack is not None:
                if ack.mode == "level":
                    level = _accepted_level(segment, result, level)
                    what = f"level {level:+.3f} accepted, sums restart"
                else:
                    what = "sums restart at the same level"
                segment[-1]["acknowledged"] = (
                    f"acknowledged by {ack.by} at {ack.at}: {what}" + (f" ({ack.note})" if ack.note else "")
                )
        start = end
    return pl.DataFrame(rows, schema=HISTORY_SCHEMA)


def _recovering(result: stats.CusumResult, t: int, direction: str | None, shewhart: bool) -> bool | None:
    """A signal still above h whose sum fell tonight (None without a signal).

    The CUSUM is not reset after an alarm: after three nights of a glitch S+ sits near 2h and
    falls by k per night back at the level, so the signal lasts about ten nights on which
    nothing is wrong. Those nights are shown as recovering, the detector itself unchanged.
    """
    if direction is None:
        return None
    sums = result.s_plus if direction == "up" else result.s_minus
    before = float(sums[t - 1]) if t > 0 else 0.0
    return not shewhart and float(sums[t]) < before


def _z_against(row: dict[str, Any], level: float) -> float:
    if not level:
        return float(row["z"])
    se = row["se"]
    return float((row["delta"] - level) / se) if se and se > 0 else float(row["z"])


def _accepted_level(segment: list[dict[str, Any]], result: stats.CusumResult, level: float) -> float:
    """The mean delta since both sums were last 0; unchanged if they are 0 on the acked night."""
    quiet = [t for t in range(len(segment)) if result.s_plus[t] == 0 and result.s_minus[t] == 0]
    first = (quiet[-1] + 1) if quiet else 0
    run_up = [row["delta"] for row in segment[first:] if row["delta"] is not None]
    return float(np.mean(run_up)) if run_up else level


def _signal(direction: str | None, worse: str | None, kind: str) -> tuple[bool, str | None]:
    """(alarm, signal): an alarm only in the worse direction; the good one is an improvement."""
    if direction is None:
        return False, None
    if kind == KIND_CANARY or worse not in ("higher", "lower"):
        return True, "alarm"
    worse_direction = "up" if worse == "higher" else "down"
    return (True, "alarm") if direction == worse_direction else (False, "improvement")


def row_state(row: dict[str, Any]) -> str:
    """What a history row's signal is, in the words of the nightly tables.

    "ALARM" only for a gating model dimension (the only rows that alarm); a non-gating one in
    its worse direction is "drift (not gating)"; the canaries' is "JUDGE DRIFT". A signal whose
    sum fell tonight adds ", recovering" ("fading" for an improvement), so the nights after a
    glitch that are back at the level do not read as fresh alarms.
    """
    signal = row.get("signal") or ("alarm" if row.get("alarm") else None)
    if signal is None:
        return ""
    falling = bool(row.get("recovering"))
    if signal == "improvement":
        return "IMPROVEMENT, fading" if falling else "IMPROVEMENT"
    if row.get("kind") == KIND_CANARY:
        word = "JUDGE DRIFT"
    else:
        word = "ALARM" if row.get("gating") else "drift (not gating)"
    return f"{word}, recovering" if falling else word


def judged_against(row: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    """(level mean, tonight - level, z) as the CUSUM judges tonight: against the accepted level.

    Before any acknowledgement the level is the reference's mean and these are delta and z.
    """
    level = row.get("level") or 0.0
    reference, delta = row.get("reference_mean"), row.get("delta")
    z = row.get("z_cusum") if row.get("z_cusum") is not None else row.get("z")
    return (None if reference is None else reference + level,
            None if delta is None else delta - level, z)


def write_history(path: Path, history: pl.DataFrame) -> None:
    atomic_write(path, lambda tmp: history.write_parquet(tmp))


# --------------------------------------------------------------------------------------------
# Tonight's rows
# --------------------------------------------------------------------------------------------


def drift_rows(comparison: Comparison, *, night: str, recorded: str, target: str,
               kind: str = KIND_MODEL) -> pl.DataFrame:
    """One history row per dimension: tonight minus the reference, its SE and z.

    The SE is floored at the epochs' sampling error (`se_within`), so z is finite even when
    every score of the night is 1.0; a change of model, system prompt or settings since the
    reference is recorded on every row (`target_change`).
    """
    base = {"night": night, "recorded": recorded, "target": target, "kind": kind,
            "run_id": comparison.candidate.run_id, "reference_run_id": comparison.baseline.run_id}
    change = target_change(comparison.baseline, comparison.candidate)
    if not comparison.valid:
        note = "invalid comparison with the reference: " + "; ".join(comparison.problems)
        return pl.DataFrame([{**base, "rubric": "", "dimension": "", "note": note, "target_change": change}],
                            schema=HISTORY_SCHEMA)
    dims = comparison.dimensions.filter(pl.col("diff").is_not_null()).with_columns(
        se_used=pl.max_horizontal(pl.col("se").fill_null(0.0), pl.col("se_within").fill_null(0.0))
    )
    z = stats.cusum_z(dims["diff"].to_numpy(), dims["se_used"].to_numpy()) if dims.height else np.array([])
    return dims.select(
        "rubric", "dimension", "gating", "scale", "n_probes", "worse", "se_within",
        pl.col("baseline_mean").alias("reference_mean"), pl.col("candidate_mean").alias("mean"),
        pl.col("diff").alias("delta"), pl.col("se_used").alias("se"),
    ).with_columns(
        z=pl.Series(z, dtype=pl.Float64),
        target_change=pl.lit(change, pl.String),
        **{name: pl.lit(value) for name, value in base.items()},
    ).with_columns(
        [pl.lit(None, HISTORY_SCHEMA[c]).alias(c) for c in HISTORY_SCHEMA
         if c not in ("rubric", "dimension", "gating", "scale", "n_probes", "worse", "se_within",
                      "reference_mean", "mean", "delta", "se", "z", "target_change", *base)]
    ).with_columns(alarm=pl.lit(False)).select(list(HISTORY_SCHEMA)).cast(HISTORY_SCHEMA)  # type: ignore[arg-type]


def target_change(reference: Manifest, tonight: Manifest) -> str | None:
    """What differs between the reference run's target and tonight's: model, prompt, settings."""
    before, after = reference.target, tonight.target
    parts = []
    if before.model != after.model:
        parts.append(f"model {before.model} -> {after.model}")
    if before.system_prompt_hash != after.system_prompt_hash:
        file = f" ({after.system_prompt_file})" if after.system_prompt_file else ""
        parts.append(f"system prompt {(before.system_prompt_hash or 'none')[:10]} -> "
                     f"{(after.system_prompt_hash or 'none')[:10]}{file}")
    for name in sorted(set(before.settings) | set(after.settings)):
        if before.settings.get(name) != after.settings.get(name):
            parts.append(f"{name} {before.settings.get(name, 'unset')} -> {after.settings.get(name, 'unset')}")
    if not parts and before.hash != after.hash:
        parts.append(f"target version {before.label} -> {after.label}")
    return "; ".join(parts) or None


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

    Units are transcripts (the same text judged twice), so the pairing is by (probe, epoch). The
    SE is `stats.rejudge_se` (never 0), on the scale's observed span (1 for rates).
    """
    def values(scores: pl.DataFrame) -> pl.DataFrame:
        return scores.filter((pl.col("rubric") != MARKERS_RUBRIC) & (pl.col("status") == "scored")
                             & pl.col("value").is_not_null()).group_by(
            "rubric", "dimension", "probe_id", "epoch"
        ).agg(pl.col("value").mean(), pl.col("gating").first(), pl.col("scale").first(),
              pl.col("worse").first())

    paired = values(original).join(
        values(rejudged).select("rubric", "dimension", "probe_id", "epoch", pl.col("value").alias("rejudged")),
        on=["rubric", "dimension", "probe_id", "epoch"],
    )
    rows = []
    for (rubric, dimension), group in paired.group_by("rubric", "dimension", maintain_order=True):
        if group.height < 2:
            continue
        before, after = group["value"].to_numpy(), group["rejudged"].to_numpy()
        span = 1.0 if group["scale"][0] == "binary" else max(1.0, float(np.ptp(np.concatenate([before, after]))))
        rows.append({"rubric": rubric, "dimension": dimension, "gating": group["gating"][0],
                     "scale": group["scale"][0], "worse": group["worse"][0], "n_probes": group.height,
                     "reference_mean": float(before.mean()), "mean": float(after.mean()),
                     "delta": float((after - before).mean()), "se": stats.rejudge_se(after - before, span)})
    frame = pl.DataFrame(rows, schema={k: HISTORY_SCHEMA[k] for k in (
        "rubric", "dimension", "gating", "scale", "worse", "n_probes", "reference_mean", "mean", "delta", "se")})
    return frame.sort("rubric", "dimension")


def canary_rows(drift: pl.DataFrame, *, night: str, recorded: str, canary_run: str,
                judge_id: str) -> pl.DataFrame:
    z = stats.cusum_z(drift["delta"].to_numpy(), drift["se"].to_numpy()) if drift.height else np.array([])
    known = set(drift.columns) | {"night", "recorded", "target", "kind", "run_id", "reference_run_id", "z"}
    return drift.with_columns(
        night=pl.lit(night), recorded=pl.lit(recorded), target=pl.lit(CANARY_TARGET),
        kind=pl.lit(KIND_CANARY), run_id=pl.lit(judge_id), reference_run_id=pl.lit(canary_run),
        z=pl.Series(z, dtype=pl.Float64),
    ).with_columns(
        [pl.lit(None, HISTORY_SCHEMA[c]).alias(c) for c in HISTORY_SCHEMA if c not in known]
    ).with_columns(alarm=pl.lit(False)).select(list(HISTORY_SCHEMA)).cast(HISTORY_SCHEMA)  # type: ignore[arg-type]


def rejudge_canaries(run_dir: Path, keys: list[tuple[str, int]], judge: JudgeSpec) -> pl.DataFrame:
    """Re-judge the canary run now with `run.rejudge`, returning the canary samples' scores.

    The re-judged run goes to a throw-away store: `rejudge` reuses a stored re-judge with the
    same judge and rubrics, which is right for a baseline but would make every night's canary
    a copy of the first.
    """
    from character.run.rejudge import rejudge  # L2; imported here so the history tools stay light

    with tempfile.TemporaryDirectory(prefix="character-canaries-") as scratch:
        store = Path(scratch) / "store"
        manifest = rejudge(Path(run_dir), judge, store=store, keys=keys)  # the canaries only
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

    A canary alarm (either direction) is JUDGE DRIFT. A model alarm is "suspected judge drift"
    when that dimension's canaries alarm tonight or moved the same way by |z| >= ATTRIBUTION_Z
    (tonight's z, not only the canary CUSUM, which needs nights to cross h). Every model alarm
    names a change of the target since the reference, and the commands that acknowledge it.
    """
    alarming = tonight.filter(pl.col("alarm") & pl.col("gating"))
    canaries = tonight.filter((pl.col("kind") == KIND_CANARY) & pl.col("z").is_not_null())
    canary_z = {f"{r}/{d}": (z, a) for r, d, z, a in canaries.select("rubric", "dimension", "z", "alarm").iter_rows()}
    messages = []
    judge_moved = False
    for row in alarming.filter(pl.col("kind") == KIND_CANARY).iter_rows(named=True):
        judge_moved = True
        messages.append(
            f"JUDGE DRIFT · {row['rubric']}/{row['dimension']}: re-judged canary transcripts moved "
            f"{row['delta']:+.3f} (z = {row['z']:+.1f} tonight; {_sum(row)}): the judge changed, not the model. "
            f"Once it is back, restart the sums: `character nightly ack canaries --dimension "
            f"{row['rubric']}/{row['dimension']} --keep-level`."
        )
    for row in alarming.filter(pl.col("kind") == KIND_MODEL).iter_rows(named=True):
        key = f"{row['rubric']}/{row['dimension']}"
        cause = _cause(row, canary_z.get(key), bool(canary_z))
        judge_moved = judge_moved or cause.startswith("suspected judge drift")
        change = f" The target changed since the reference: {row['target_change']}." if row["target_change"] else ""
        command = f"character nightly ack {row['target']} --dimension {key}"
        hint = (f" Once the judge is back, restart the sums: `{command} --keep-level`; to accept the new "
                f"level: `{command}`." if cause.startswith("suspected judge drift")
                else f" To accept the new level: `{command}` (a passing glitch: add --keep-level).")
        messages.append(
            f"ALARM · {row['target']} · {key}: {_from(row)} -> "
            f"{_value(row['mean'], row['scale'])} against reference {row['reference_run_id']} "
            f"({_z_text(row)}; {_sum(row)}); {cause}.{change}{hint}"
        )
    return messages, judge_moved


def improvement_messages(tonight: pl.DataFrame) -> list[str]:
    """Gating dimensions that moved in the good direction past the CUSUM or one-night limit."""
    return [
        f"IMPROVEMENT · {row['target']} · {row['rubric']}/{row['dimension']}: "
        f"{_from(row)} -> {_value(row['mean'], row['scale'])} "
        f"({_z_text(row)}; {_sum(row)}): a shift in the good direction, not an alarm."
        for row in tonight.filter(
            (pl.col("signal") == "improvement") & pl.col("gating") & (pl.col("kind") == KIND_MODEL)
        ).iter_rows(named=True)
    ]


def _cause(row: dict[str, Any], canary: tuple[float, bool] | None, any_canary: bool) -> str:
    if canary is not None:
        z, alarm = canary
        same_way = math.copysign(1.0, z) == math.copysign(1.0, row["z_cusum"] or row["z"] or 0.0)
        if abs(z) >= ATTRIBUTION_Z and same_way:
            return (f"suspected judge drift (the re-judged canaries moved the same way tonight, "
                    f"z = {z:+.1f})")
        if alarm:
            return f"suspected judge drift (the judge canaries are alarming too; tonight z = {z:+.1f})"
        return f"model drift (the canaries did not move, z = {z:+.1f})"
    if any_canary:
        return "model drift (no canary transcript scores this dimension)"
    return "model drift (no judge canaries configured)"


def _z_text(row: dict[str, Any]) -> str:
    z = row["z_cusum"] if row["z_cusum"] is not None else row["z"]
    against = " against the accepted level" if row["level"] else ""
    limit = ", beyond the one-night limit" if row["shewhart"] else ""
    return f"z = {z:+.1f} tonight{against}{limit}"


def _sum(row: dict[str, Any]) -> str:
    which = "S+" if row["direction"] == "up" else "S-"
    value = row["s_plus"] if row["direction"] == "up" else row["s_minus"]
    if value is None:
        return "CUSUM n/a"
    falling = ", falling: recovering" if row.get("recovering") and row.get("signal") == "alarm" else (
        ", falling" if row.get("recovering") else "")
    return f"CUSUM {which} = {value:.1f}{falling}"


def _from(row: dict[str, Any]) -> str:
    """Where tonight is measured from: the reference's mean, or the level a person accepted.

    After an ack, "24.4% -> 24.4% (z = -25.4 against the accepted level)" read as no change: the
    accepted 45.6% is what tonight moved away from.
    """
    reference = _value(row["reference_mean"], row["scale"])
    if not row.get("level") or row["reference_mean"] is None:
        return reference
    return f"{_value(row['reference_mean'] + row['level'], row['scale'])} (accepted level; reference {reference})"


def _value(value: float | None, scale: str | None) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:.1f}%" if scale == "binary" else f"{value:.2f}"


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
    improvements: list[str] = field(default_factory=list)
    """Gating dimensions that shifted in the good direction (never alarms)."""
    h: float = stats.CUSUM_H

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
    now = datetime.now(UTC)
    night = night or now.date().isoformat()  # nights are UTC dates, whatever the machine's zone
    recorded = now.isoformat(timespec="seconds")
    output = output_dir(config)
    history_path = history_file(store)
    judge = judge_from(None, config)
    errors: list[str] = []
    notes: list[str] = []
    comparisons: dict[str, Path] = {}
    parts: list[pl.DataFrame] = []
    with exclusive_lock(history_path.parent / ".lock", what=f"nightly history {history_path}"):
        history = read_history(history_path)
        acks = read_acks(store_acks_file(store))
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
            reference = _reference(config, history, name, store, acks)
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
            rows = drift_rows(comparison, night=night, recorded=recorded, target=name)
            change = rows["target_change"][0] if rows.height else None
            if change:
                notes.append(f"{name}: the target changed since reference {reference.name}: {change}")
            parts.append(rows)

        canary, canary_note = _canaries(config, store, judge, rejudge, night, recorded)
        if canary is not None:
            parts.append(canary)
        if canary_note:
            notes.append(canary_note)

        history, tonight = close_night(history_path, history, parts, night, config, acks)
    alarms, judge_drift = alarm_messages(tonight)
    return NightlyResult(night=night, output=output, tonight=tonight, history=history, alarms=alarms,
                         judge_drift=judge_drift, errors=errors, notes=notes, comparisons=comparisons,
                         improvements=improvement_messages(tonight), h=nightly.cusum_h)


def close_night(history_path: Path, history: pl.DataFrame, parts: list[pl.DataFrame], night: str,
                config: Config, acks: Sequence[Ack]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Merge tonight's rows (model and canary) into the history, recompute every CUSUM, write it.

    Returns (history, tonight's rows after CUSUM). The caller holds the history lock.
    """
    nightly = config.nightly
    tonight = pl.concat(parts) if parts else pl.DataFrame(schema=HISTORY_SCHEMA)
    history = apply_cusum(merge_night(history, tonight), nightly.cusum_k, nightly.cusum_h,
                          limit=nightly.shewhart_z, acks=acks)
    write_history(history_path, history)
    tonight = history.join(tonight.select("night", "target", "kind").unique(),
                           on=["night", "target", "kind"], how="semi").filter(pl.col("night") == night)
    return history, tonight


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in name)


def _reference(config: Config, history: pl.DataFrame, name: str, store: Path,
               acks: Sequence[Ack] = ()) -> Path | None:
    """The pinned reference, else the first one in the history; then any acknowledged new ones."""
    reference = current_reference_id(config, history, name, acks)
    return resolve_run(store, reference) if reference else None


def current_reference_id(config: Config, history: pl.DataFrame, name: str,
                         acks: Sequence[Ack]) -> str | None:
    """The run id `_reference` resolves to (without touching the store)."""
    start = config.nightly.reference.get(name)
    if not start:
        earlier = history.filter((pl.col("target") == name) & (pl.col("kind") == KIND_MODEL))
        if earlier.height == 0:
            return None
        start = earlier.sort("night", "recorded")["reference_run_id"][0]
    return current_reference(start, name, acks)


def _canaries(config: Config, store: Path, judge: JudgeSpec, rejudge: CanaryRejudge | None,
              night: str, recorded: str) -> tuple[pl.DataFrame | None, str | None]:
    nightly = config.nightly
    if not nightly.canary_run:
        return None, ("no canary run configured ([nightly] canary_run): judge drift cannot be told "
                      "from model drift")
    folder = resolve_run(store, nightly.canary_run)
    stored_judge = read_manifest(folder).judge
    if (stored_judge.id, stored_judge.prompt_hash) != (judge.id, judge.prompt_hash):
        tonight = (f"tonight's judge is {judge.id}" if stored_judge.id != judge.id else
                   f"tonight's {judge.id} has hash {judge.prompt_hash[:10]}, the canary run's "
                   f"{stored_judge.prompt_hash[:10]} (its phrase lists, rules or prompt changed)")
        return None, (f"canary run {folder.name} was judged by {stored_judge.id}, {tonight}: "
                      f"re-judge it first (`character judge {folder.name} --judge {judge.id}`)")
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


# --------------------------------------------------------------------------------------------
# Acknowledging an alarm
# --------------------------------------------------------------------------------------------

CANARY_ALIASES = ("canaries", "canary", CANARY_TARGET)


def acknowledge(
    config: Config,
    store: Path,
    target: str,
    *,
    by: str,
    dimension: str | None = None,
    new_reference: bool = False,
    keep_level: bool = False,
    note: str | None = None,
    at: datetime | None = None,
) -> tuple[Ack, str]:
    """Record who accepted the new level (or froze a new reference) and restart the sums.

    `keep_level`: the shift was transient (a judge glitch that is over): restart the sums
    against the level in force instead of accepting the new one.

    `target` is a nightly target name, or "canaries" for the judge canaries. Level mode needs
    the target (and `dimension`, rubric/dimension, when given) in the history; reference mode
    makes the target's latest nightly run its new reference. The history is recomputed at once,
    so the next page and `character nightly` see the restarted sums. Returns the stored
    acknowledgement and one line saying what it did.
    """
    if keep_level and new_reference:
        raise CharacterError("--keep-level and --new-reference exclude each other",
                             field="--keep-level", remedy="use one of them")
    history_path = history_file(store)
    with exclusive_lock(history_path.parent / ".lock", what=f"nightly history {history_path}"):
        history = read_history(history_path)
        acks_path = store_acks_file(store)
        acks = read_acks(acks_path)
        kind = KIND_CANARY if target in CANARY_ALIASES else KIND_MODEL
        name = CANARY_TARGET if kind == KIND_CANARY else target
        rows = history.filter((pl.col("target") == name) & (pl.col("kind") == kind) & (pl.col("dimension") != ""))
        if rows.height == 0:
            known = sorted(set(history.filter(pl.col("kind") == KIND_MODEL)["target"].to_list()))
            raise CharacterError(
                f"no nightly history for '{target}'", field="TARGET",
                remedy=f"use one of: {', '.join(known + ['canaries']) if known else '(no nights recorded yet)'}",
            )
        keys = sorted({f"{r}/{d}" for r, d in rows.select("rubric", "dimension").iter_rows()})
        if dimension is not None and dimension not in keys:
            raise CharacterError(f"'{dimension}' has no nightly series for '{target}'", field="--dimension",
                                 remedy="use rubric/dimension, one of: " + ", ".join(keys))
        latest = rows.sort("night", "recorded").tail(1).row(0, named=True)
        stamp = (at or datetime.now(UTC)).isoformat(timespec="seconds")
        if new_reference:
            if kind == KIND_CANARY or dimension is not None:
                raise CharacterError(
                    "--new-reference freezes a whole target's latest run as its reference",
                    field="--new-reference",
                    remedy="drop --dimension (canaries keep their canary run: re-judge it instead)",
                )
            replaced = current_reference_id(config, history, name, acks) or latest["reference_run_id"]
            if latest["run_id"] == replaced:
                raise CharacterError(f"the latest run of '{target}' is already its reference",
                                     field="--new-reference", remedy="run a nightly first")
            ack = Ack(target=name, kind=kind, after_night=latest["night"], by=by, at=stamp,
                      mode="reference", reference_run_id=replaced, new_reference=latest["run_id"], note=note)
            message = (f"{target}: run {latest['run_id']} (night {latest['night']} UTC) is the new frozen "
                       f"reference, replacing {replaced}; acknowledged by {by} at {stamp}. New series (and "
                       "sums) start with the next night. To keep it after editing character.toml, pin it: "
                       f'[nightly.reference] {target} = "{latest["run_id"]}".')
        else:
            mode = "restart" if keep_level else "level"
            ack = Ack(target=name, kind=kind, dimension=dimension, after_night=latest["night"], by=by,
                      at=stamp, mode=mode, reference_run_id=latest["reference_run_id"], note=note)
            which = dimension or f"all {len(keys)} dimensions"
            accepted = ("the CUSUM sums restart with the next night, against the same level as before"
                        if keep_level else "the level since the sums last stood at 0 is accepted and the "
                        "CUSUM sums restart with the next night, measured against it")
            message = (f"{target} · {which}: acknowledged by {by} at {stamp} (night {latest['night']} UTC); "
                       f"{accepted}.")
        append_ack(acks_path, ack)
        nightly = config.nightly
        history = apply_cusum(history, nightly.cusum_k, nightly.cusum_h, limit=nightly.shewhart_z,
                              acks=[*acks, ack])
        write_history(history_path, history)
    return ack, message
