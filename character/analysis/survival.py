"""Long conversations: how long each version keeps holding its position, turn by turn.

System prompts erode late in long conversations, so for per-turn 0/1 dimensions (`per_turn`,
binary, worse = higher: the behaviour is a flip, such as giving in) on probes of at least
`LONG_TURNS` user turns, a comparison also reports:

* **survival by turn**: the Kaplan-Meier estimate of "still holding at turn t" (no flip yet) for
  each version, pooled over probes and epochs. A conversation without a flip is censored at its
  last turn; one the simulated user ended because it gave up (the assistant would not move)
  counts as holding to the probe's last planned turn (the pressure ended, so nothing more could
  make it flip; censoring it early would leave the weaker conversations at risk and bias the
  curve down).
* SYCON-Bench's measures (Hong et al. 2025, "Measuring Sycophancy of Language Models in
  Multi-turn Dialogues"): the **turn of first flip** (median, Kaplan-Meier) and the **number of
  flips** (changes of position over the turns, from the per-turn series `Verdict.by_turn`;
  unknown when the judge gave only the first turn).
* **the paired test**: per probe and version, the restricted mean survival time (RMST) up to the
  probe's planned length: the expected number of turns held, the area under that probe's
  survival curve over its epochs (Royston & Parmar 2013). RMST is only defined up to a turn
  both versions followed the probe to (Tian et al. 2020): where a version's last conversation
  of a probe ended holding before the planned length (the user model stopped, the target
  failed), that probe's RMST stops there for both versions, and a note says so. d_i = RMST_candidate,i -
  RMST_baseline,i over the probes both versions played, tested with the sign-flip permutation
  test and a bootstrap CI of the mean d (stats.py), one-sided in the worse direction (fewer turns
  held).

Why RMST with a sign-flip test and not a log-rank test: METHODS.md makes the probe the unit and
compares versions by paired per-probe differences; a (stratified) log-rank test would treat
every epoch's conversation as an independent unit and test a hazard ratio that is not constant
when erosion sets in late. RMST is in turns, readable without a model, handles censoring at the
last turn exactly, and its per-probe difference is what the rest of the comparison uses. The
number of flips gets the same paired test when both versions have series for every probe.

Exploratory: survival never gates (the dimension's own rate does, as for any dimension).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from character.analysis import stats
from character.domain.rubrics import Rubric, load_rubric
from character.engine.turn_series import flips
from character.engine.verdicts import TurnValue
from character.errors import CharacterError
from character.store.cells import check_cells
from character.store.layout import MARKERS_RUBRIC, SCORES, TRANSCRIPTS
from character.store.manifest import Manifest

LONG_TURNS = 6  # bundled scripted probes end by turn 5; from 6 user turns a conversation is long
TEST_NAME = "paired sign-flip on per-probe RMST"
FLIPS_TEST_NAME = "paired sign-flip on per-probe mean flips"


@dataclass(frozen=True)
class CurvePoint:
    turn: int
    surviving: float  # Kaplan-Meier "still holding after turn t"
    at_risk: int
    flipped: int  # first flips at this turn


@dataclass(frozen=True)
class ArmSurvival:
    """One version's long conversations on one dimension."""

    conversations: int
    flipped: int  # conversations with a flip
    # turns 1..followed_to: the curve ends where it stops being defined (see `followed_to`)
    curve: list[CurvePoint]
    median_flip_turn: int | None  # None: more than half still hold at the last defined turn
    rmst: float  # mean over probes of the per-probe RMST (turns held)
    mean_flips: float | None  # None: the judge gave no per-turn series here
    final_holding: float  # Kaplan-Meier estimate at the last defined turn
    followed_to: int = 0  # the last turn the curve is defined at (horizon when S fell to 0)

    def holding_at(self, turn: int) -> float | None:
        """S(turn), or None past the last defined turn (Kaplan-Meier says nothing there)."""
        if turn < 1:
            return 1.0
        return self.curve[turn - 1].surviving if turn <= len(self.curve) else None


@dataclass(frozen=True)
class SurvivalComparison:
    rubric: str
    dimension: str
    n_probes: int  # long probes both versions played with a scored verdict
    epochs: int
    horizon: int  # the longest probe's planned user turns
    baseline: ArmSurvival
    candidate: ArmSurvival
    rmst_diff: float  # candidate - baseline, in turns held
    ci95: tuple[float, float]
    p_two_sided: float
    p_worse: float  # one-sided: the candidate holds fewer turns
    test: str
    flips_diff: float | None = None
    flips_ci95: tuple[float, float] | None = None
    flips_p_two_sided: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.rubric}/{self.dimension}"

    def as_dict(self) -> dict[str, Any]:
        """JSON form (report.json `survival[]`): curves as lists of points."""

        def arm(a: ArmSurvival) -> dict[str, Any]:
            return {
                "conversations": a.conversations,
                "flipped": a.flipped,
                "median_flip_turn": a.median_flip_turn,
                "rmst": a.rmst,
                "mean_flips": a.mean_flips,
                "final_holding": a.final_holding,
                "followed_to": a.followed_to,
                "curve": [p.__dict__ for p in a.curve],
            }

        return {
            "rubric": self.rubric,
            "dimension": self.dimension,
            "n_probes": self.n_probes,
            "epochs": self.epochs,
            "horizon": self.horizon,
            "baseline": arm(self.baseline),
            "candidate": arm(self.candidate),
            "rmst_diff": self.rmst_diff,
            "ci95": list(self.ci95),
            "p_two_sided": self.p_two_sided,
            "p_worse": self.p_worse,
            "test": self.test,
            "flips_diff": self.flips_diff,
            "flips_ci95": list(self.flips_ci95) if self.flips_ci95 else None,
            "flips_p_two_sided": self.flips_p_two_sided,
            "notes": self.notes,
        }


# --------------------------------------------------------------------------------------------
# Conversations: one row per probe x epoch with the time of the first flip or of censoring


CONVERSATION_SCHEMA: dict[str, Any] = {
    "probe_id": pl.String,
    "epoch": pl.Int64,
    "event": pl.Boolean,  # a flip was seen
    "time": pl.Int64,  # the turn of the first flip, or the last turn it was seen holding
    "horizon": pl.Int64,  # the probe's planned user turns
    "flips": pl.Int64,  # number of flips (None without a per-turn series)
}


def series_flips(by_turn: str | None) -> int | None:
    """SYCON-Bench's number of flips from a stored series (JSON [[turn, value], ...])."""
    if not by_turn:
        return None
    return flips([TurnValue(turn=turn, value=value) for turn, value in json.loads(by_turn)])


def _first_flip(turn: int | None, by_turn: str | None) -> int | None:
    if turn is not None:
        return int(turn)
    for item_turn, value in json.loads(by_turn) if by_turn else []:
        if value == 1:
            return int(item_turn)
    return None


def conversations(
    scores: pl.DataFrame, transcripts: pl.DataFrame, rubric: str, dimension: str
) -> pl.DataFrame:
    """One row per scored conversation of the dimension (CONVERSATION_SCHEMA).

    A conversation scored 1 whose flip turn is unknown (the judge named none) is left out: its
    time is not known, and guessing one would bend the curve.
    """
    rows = (
        scores.filter(
            (pl.col("rubric") == rubric)
            & (pl.col("dimension") == dimension)
            & (pl.col("status") == "scored")
            & pl.col("value").is_not_null()
        )
        .sort("probe_id", "epoch", "judge", nulls_last=True)
        .unique(subset=["probe_id", "epoch"], keep="first", maintain_order=True)
    )
    if "by_turn" not in rows.columns:  # a run stored before per-turn series existed
        rows = rows.with_columns(by_turn=pl.lit(None, dtype=pl.String))
    turns = _turn_columns(transcripts)
    joined = rows.select(
        "probe_id", pl.col("epoch").cast(pl.Int64), "value", "turn", "by_turn"
    ).join(turns, on=["probe_id", "epoch"], how="inner")
    out: list[dict[str, Any]] = []
    for row in joined.iter_rows(named=True):
        horizon = int(row["planned_turns"] or row["n_turns"] or 0)
        if row["value"] >= 1:
            first = _first_flip(row["turn"], row["by_turn"])
            if first is None:
                continue
            time, event = first, True
        else:
            gave_up = row["user_stop"] == "refused"
            time, event = (horizon if gave_up else int(row["n_turns"] or 0)), False
        out.append(
            {
                "probe_id": row["probe_id"],
                "epoch": int(row["epoch"]),
                "event": event,
                "time": time,
                "horizon": horizon,
                "flips": series_flips(row["by_turn"]),
            }
        )
    return pl.DataFrame(out, schema=CONVERSATION_SCHEMA)


def _turn_columns(transcripts: pl.DataFrame) -> pl.DataFrame:
    frame = transcripts
    for name, dtype in (("planned_turns", pl.Int32), ("user_stop", pl.String)):
        if name not in frame.columns:  # runs stored before adaptive probes existed
            frame = frame.with_columns(pl.lit(None, dtype=dtype).alias(name))
    return frame.select(
        "probe_id", pl.col("epoch").cast(pl.Int64), "n_turns", "planned_turns", "user_stop"
    )


# --------------------------------------------------------------------------------------------
# Kaplan-Meier and RMST


def kaplan_meier(times: np.ndarray, events: np.ndarray, horizon: int) -> list[CurvePoint]:
    """S(t) = P(first flip after turn t) for t = 1..horizon, with right-censoring.

    A conversation is at risk at turn t while it was seen at t (time >= t). After the last
    conversation leaves, S keeps its last value (the conversations ended holding).
    """
    surviving, curve = 1.0, []
    for turn in range(1, horizon + 1):
        at_risk = int(np.sum(times >= turn))
        flipped = int(np.sum(events & (times == turn)))
        if at_risk:
            surviving *= 1.0 - flipped / at_risk
        curve.append(CurvePoint(turn, surviving, at_risk, flipped))
    return curve


def followed_to(times: np.ndarray, events: np.ndarray, horizon: int) -> int:
    """The last turn (<= horizon) at which the Kaplan-Meier estimate is defined.

    That is the last turn with a conversation at risk. Past it nothing was observed, so the
    estimate is undefined, unless it fell to 0 there (every conversation flipped): then it stays
    0 and is defined to the horizon.
    """
    curve = kaplan_meier(times, events, horizon)
    seen = [p.turn for p in curve if p.at_risk]
    if not seen:
        return 0
    return horizon if curve[seen[-1] - 1].surviving == 0.0 else seen[-1]


def rmst(times: np.ndarray, events: np.ndarray, horizon: int) -> float:
    """Restricted mean survival time up to `horizon`: expected turns held, sum of S(1..horizon)."""
    return float(sum(point.surviving for point in kaplan_meier(times, events, horizon)))


def median_turn(curve: list[CurvePoint]) -> int | None:
    return next((p.turn for p in curve if p.surviving <= 0.5), None)


def _arm(frame: pl.DataFrame, horizon: int, per_probe: pl.DataFrame, column: str) -> ArmSurvival:
    times, events = frame["time"].to_numpy(), frame["event"].to_numpy()
    last = followed_to(times, events, horizon)
    curve = kaplan_meier(times, events, horizon)[:last]
    flip_counts = frame["flips"]
    return ArmSurvival(
        conversations=frame.height,
        flipped=int(events.sum()),
        curve=curve,
        followed_to=last,
        median_flip_turn=median_turn(curve),
        rmst=float(per_probe[column].mean()),  # type: ignore[arg-type]
        mean_flips=float(flip_counts.mean())  # type: ignore[arg-type]
        if flip_counts.null_count() == 0 and frame.height
        else None,
        final_holding=curve[-1].surviving if curve else 1.0,
    )


def probe_windows(base: pl.DataFrame, cand: pl.DataFrame) -> dict[str, tuple[int, int]]:
    """Per probe: (RMST window, planned length). The window is the probe's planned length, cut
    to the last turn both versions' estimates are defined at (`followed_to`), so the paired
    difference never compares an extrapolated curve."""
    windows: dict[str, tuple[int, int]] = {}
    for (probe_id,), group in pl.concat([base, cand]).group_by("probe_id"):
        horizon = int(group["horizon"].max())  # type: ignore[arg-type]
        window = horizon
        for arm in (base, cand):
            rows = arm.filter(pl.col("probe_id") == probe_id)
            if rows.height:
                times, events = rows["time"].to_numpy(), rows["event"].to_numpy()
                window = min(window, followed_to(times, events, horizon))
        windows[str(probe_id)] = (window, horizon)
    return windows


def _per_probe(frame: pl.DataFrame, windows: dict[str, tuple[int, int]]) -> pl.DataFrame:
    """Per probe: RMST over its window (over its epochs) and mean flips."""
    rows = []
    for (probe_id,), group in frame.group_by("probe_id", maintain_order=True):
        window = windows[str(probe_id)][0]
        counts = group["flips"]
        rows.append(
            {
                "probe_id": probe_id,
                "rmst": rmst(group["time"].to_numpy(), group["event"].to_numpy(), window),
                "flips": float(counts.mean()) if counts.null_count() == 0 else None,  # type: ignore[arg-type]
                "epochs": group.height,
            }
        )
    return pl.DataFrame(
        rows,
        schema={"probe_id": pl.String, "rmst": pl.Float64, "flips": pl.Float64, "epochs": pl.Int64},
    )


# --------------------------------------------------------------------------------------------
# The comparison


def survival_dimensions(rubrics: Mapping[str, Rubric]) -> list[tuple[str, str]]:
    """(rubric, dimension) of every per-turn 0/1 dimension where higher (a flip) is worse."""
    return [
        (rubric.name, dim.name)
        for rubric in rubrics.values()
        for dim in rubric.dimensions
        if dim.per_turn and dim.scale.type == "binary" and dim.worse == "higher"
    ]


def compare_survival(
    baseline: tuple[pl.DataFrame, pl.DataFrame],
    candidate: tuple[pl.DataFrame, pl.DataFrame],
    dimensions: list[tuple[str, str]],
    *,
    long_turns: int = LONG_TURNS,
    seed: int = 0,
    n_resamples: int = stats.DEFAULT_RESAMPLES,
) -> list[SurvivalComparison]:
    """Survival comparisons for `dimensions` on long probes. `baseline`/`candidate`: (scores,
    transcripts) tables of each run. Dimensions with fewer than 2 paired long probes are left
    out (a paired test needs 2)."""
    results = []
    for rubric, dimension in dimensions:
        base = conversations(*baseline, rubric, dimension)
        cand = conversations(*candidate, rubric, dimension)
        long_probes = (
            pl.concat([base, cand])
            .group_by("probe_id")
            .agg(pl.col("horizon").max())
            .filter(pl.col("horizon") >= long_turns)["probe_id"]
        )
        shared = set(long_probes) & set(base["probe_id"]) & set(cand["probe_id"])
        if len(shared) < 2:
            continue
        base = base.filter(pl.col("probe_id").is_in(sorted(shared)))
        cand = cand.filter(pl.col("probe_id").is_in(sorted(shared)))
        results.append(_compare(rubric, dimension, base, cand, seed, n_resamples))
    return results


def _compare(
    rubric: str, dimension: str, base: pl.DataFrame, cand: pl.DataFrame, seed: int, n_resamples: int
) -> SurvivalComparison:
    horizon = int(max(base["horizon"].max(), cand["horizon"].max()))  # type: ignore[arg-type]
    windows = probe_windows(base, cand)
    paired = (
        _per_probe(base, windows)
        .rename({"rmst": "rmst_b", "flips": "flips_b", "epochs": "epochs_b"})
        .join(
            _per_probe(cand, windows).rename(
                {"rmst": "rmst_c", "flips": "flips_c", "epochs": "epochs_c"}
            ),
            on="probe_id",
        )
        .sort("probe_id")
    )
    d = (paired["rmst_c"] - paired["rmst_b"]).to_numpy()
    test = stats.sign_flip_test(d, n_resamples=n_resamples, seed=seed)
    ci = _ci(d, seed)
    flips_diff = flips_ci = flips_p = None
    notes: list[str] = []
    if paired["flips_b"].null_count() == 0 and paired["flips_c"].null_count() == 0:
        f = (paired["flips_c"] - paired["flips_b"]).to_numpy()
        flips_diff = float(f.mean())
        flips_ci = _ci(f, seed)
        flips_p = stats.sign_flip_test(f, n_resamples=n_resamples, seed=seed).p_two_sided
    else:
        notes.append("number of flips not known: the judge gave only the first turn of a flip")
    cut = sorted(
        (pid, w, h) for pid, (w, h) in windows.items() if w < h and pid in set(paired["probe_id"])
    )
    if cut:
        pid, window, planned = cut[0]
        notes.append(
            f"turns held (RMST) of {len(cut)} probe(s) counts only to the last turn both versions "
            f"followed them to (e.g. {pid}: to turn {window} of {planned}): a conversation "
            "ended holding before the planned length, and nothing is known after it"
        )
    return SurvivalComparison(
        rubric=rubric,
        dimension=dimension,
        n_probes=paired.height,
        epochs=int(max(paired["epochs_b"].max(), paired["epochs_c"].max())),  # type: ignore[arg-type]
        horizon=horizon,
        baseline=_arm(base, horizon, paired, "rmst_b"),
        candidate=_arm(cand, horizon, paired, "rmst_c"),
        rmst_diff=float(d.mean()),
        ci95=ci,
        p_two_sided=test.p_two_sided,
        p_worse=test.p_lower,  # fewer turns held is worse
        test=TEST_NAME,
        flips_diff=flips_diff,
        flips_ci95=flips_ci,
        flips_p_two_sided=flips_p,
        notes=notes,
    )


def _ci(d: np.ndarray, seed: int) -> tuple[float, float]:
    if not np.any(d != d[0]):  # no spread: the interval is the value itself
        return (float(d[0]), float(d[0]))
    return stats.bootstrap_ci(np.mean, d, seed=seed)


# --------------------------------------------------------------------------------------------
# From stored runs


def survival_for_runs(
    baseline_dir: Path, candidate_dir: Path, baseline: Manifest
) -> list[SurvivalComparison]:
    """Survival comparisons of two stored runs, on the rubrics the baseline used (installed copies
    with the same hash; a rubric not installed as used is skipped: its per-turn flags are unknown).

    Runs without a long conversation (the bundled short suites) return at once, after reading two
    columns of the transcripts tables.
    """
    if not (_has_long(baseline_dir) or _has_long(candidate_dir)):
        return []
    rubrics: dict[str, Rubric] = {}
    for record in baseline.rubrics:
        try:
            rubric = load_rubric(record.name)
        except CharacterError:
            continue
        if rubric.hash == record.hash:
            rubrics[record.name] = rubric
    dimensions = survival_dimensions(rubrics)
    if not dimensions:
        return []
    return compare_survival(
        _tables(baseline_dir, dimensions), _tables(candidate_dir, dimensions), dimensions
    )


def _has_long(run_dir: Path) -> bool:
    lazy = pl.scan_parquet(Path(run_dir) / TRANSCRIPTS)
    names = lazy.collect_schema().names()
    turns = pl.col("n_turns")
    if "planned_turns" in names:
        turns = pl.max_horizontal(turns, pl.col("planned_turns"))
    longest = lazy.select(turns.max()).collect().item()
    return longest is not None and longest >= LONG_TURNS


def _tables(run_dir: Path, dimensions: list[tuple[str, str]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    keys = pl.concat_str("rubric", pl.lit("/"), "dimension")
    wanted = [f"{rubric}/{dimension}" for rubric, dimension in dimensions]
    scores = (
        pl.scan_parquet(Path(run_dir) / SCORES)
        .filter((pl.col("rubric") != MARKERS_RUBRIC) & keys.is_in(wanted))
        .collect()
    )
    # `conversations` parses the by_turn cells; a damaged one is named here, with its table
    check_cells(scores, file=Path(run_dir) / SCORES, columns=["by_turn"])
    transcripts = pl.scan_parquet(Path(run_dir) / TRANSCRIPTS)
    columns = [
        c
        for c in ("probe_id", "epoch", "n_turns", "planned_turns", "user_stop")
        if c in transcripts.collect_schema().names()
    ]
    return scores, transcripts.select(columns).collect()


def user_model_notes(manifest: Manifest) -> list[str]:
    """What a report says about who played the user of adaptive probes (both runs faced it)."""
    if manifest.user_model is None:
        return []
    simulated = (
        " (sim/user: a rule-based simulator)" if manifest.user_model.startswith("sim/") else ""
    )
    return [
        f"adaptive probes: the user's turns after the script were written by "
        f"{manifest.user_model}{simulated}, the same user, cards and seeds for both versions"
    ]
