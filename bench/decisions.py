"""Decision quality from simulation: the gate's false-fail rate (A/A) and power, next to naive rules.

Synthetic score tables (SCORE_SCHEMA, made directly with polars) go through the real gate path:
`compare.compare_tables` (validity, per-probe means, sign-flip test, Holm, classes) and
`gate.decide`. The gate FAILs when a gating dimension is a REGRESSION; WARN (inconclusive) and
PASS do not fail a build.

Data: like the simulated personas, each probe has its own propensity `rate * 2u` (u uniform per
probe, shared by both versions, so some probes are harder for every version); each of K epochs
is an independent Bernoulli draw, independently in the two versions (no shared randomness, which
is what a real target gives). A/A: both versions capitulate at 20%. Power: the candidate's rate is
25% (a 5-point rise). The naive rules peers use are applied to the same tables:

* any probe worse: FAIL if any probe's mean over epochs rose (EvalArc-style "any lost pass");
* mean rose: FAIL if the candidate's overall rate is above the baseline's at all;
* pass-rate threshold: FAIL if the candidate's pass rate (1 - capitulation) is below a fixed
  threshold (promptfoo-style), set at 80% (the baseline's true pass rate) or 75%.

"Whole gate" repeats the gate with all 8 gating binary dimensions of the bundled rubrics at the
simulated assistant-v1 rates, n probes each, only capitulation moving: Holm keeps the A/A
false-fail rate of the whole gate at alpha while the extra dimensions cost a little power.

"Small suites" is a team's own domain suite: 2, 6 and 20 probes x 10 epochs, capitulation 20%
(A/A) or 20% -> 40% (+20 pp), through the gate with `[gate] population` = probes (the
probe-level test; "today's rule" is the same test as it was before the fixed-suite test existed,
when a dimension that could not fail was a WARN, exit 0), suite (the fixed-suite test) and auto
(the default: probes when 2^-n < alpha, else suite). Each cell gives the share that FAILs (exit
1), that cannot fail (exit 2) and that pass the gate (exit 0), and for the fixed-suite test the
coverage of its 95% CI of the mean per-probe true difference. A third scenario moves each probe
by +-10 pp at random, mean 0: nothing changed for probes like these, something did on these
probes; it shows the two questions apart.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench.common import Report, Stopwatch
from character.analysis.compare import compare_tables
from character.domain.config import GateConfig
from character.domain.rubrics import load_rubric
from character.store.manifest import JudgeRecord, Manifest, RubricRecord, SuiteRecord, TargetRecord
from character.store.tables import SCORE_SCHEMA

EPOCHS = 5
BASE_RATE = 0.20
RISE = 0.05
THRESHOLDS = (0.80, 0.75)  # pass-rate thresholds for the naive threshold rule
# (rubric, dimension, kind of probe, worse, assistant-v1 rate of the dimension being 1)
GATING = [
    ("pushback", "capitulation", "challenged_answer", "higher", 0.20),
    ("pushback", "stubbornness", "valid_correction", "higher", 0.10),
    ("pushback", "challenges_false_premise", "false_premise", "lower", 0.85),
    ("sycophancy", "flattery", "feedback", "higher", 0.15),
    ("sycophancy", "adopts_wrong_belief", "answer", "higher", 0.15),
    ("sycophancy", "mirrors_stance", "mirroring", "higher", 0.20),
    ("refusal", "over_refusal", "safe_request", "higher", 0.10),
    ("refusal", "under_refusal", "harmful_request", "higher", 0.03),
]
RULES = ["gate", "any probe worse", "mean rose", *[f"pass rate < {t:.0%}" for t in THRESHOLDS]]

SMALL_EPOCHS = 10
SMALL_RISE = 0.20  # a team's own suite: a 20-point rise is what it must not miss
SMALL_INTERACTION = 0.10

QUICK = {
    "sizes": [50],
    "replicates": 24,
    "whole_gate_replicates": 0,
    "resamples": 999,
    "resample_check": 0,
    "calibration_replicates": 0,
    "small_sizes": [2, 6],
    "small_replicates": 16,
    "suite_calibration_replicates": 0,
}
FULL = {
    "sizes": [50, 100, 200],
    "replicates": 400,
    "whole_gate_replicates": 100,
    "resamples": 999,
    "resample_check": 30,  # replicates re-decided with the default 9999 resamples
    "calibration_replicates": 10_000,  # A/A draws for the test's own size (fast sign-flip only)
    "small_sizes": [2, 6, 20],
    "small_replicates": 400,
    "suite_calibration_replicates": 4_000,  # A/A draws per size for the fixed-suite test alone
}


@dataclass(frozen=True)
class Scenario:
    probes: int
    rise: float  # 0 for A/A
    whole_gate: bool
    resamples: int
    epochs: int = EPOCHS
    population: str = "auto"  # [gate] population
    interaction: float = 0.0  # per-probe +-shift of the candidate, mean 0 ("these probes" moved)


def _propensity(rate: float, u: np.ndarray, worse: str) -> np.ndarray:
    """Per-probe rate of the dimension being 1, mean `rate`, harder probes harder in both arms."""
    if worse == "lower":  # e.g. challenges_false_premise: the bad event is a 0, at 1 - rate
        return 1.0 - np.minimum(1.0, (1.0 - rate) * 2.0 * u)
    return np.minimum(1.0, rate * 2.0 * u)


@cache
def _manifest(run_id: str, rubrics: tuple[str, ...], epochs: int = EPOCHS) -> Manifest:
    """A complete, valid manifest; both arms share suite, rubric and judge hashes."""
    return Manifest(
        run_id=run_id,
        status="complete",
        created="2025-01-01T00:00:00+00:00",
        spec_hash=run_id,
        code_version={"character": "bench"},
        target=TargetRecord(model="sim/bench", label=f"{run_id}@0", hash=run_id),
        suites=[SuiteRecord(name="bench", version=1, hash="bench-suite", probes=0)],
        rubrics=[
            RubricRecord(name=name, version=load_rubric(name).version, hash=load_rubric(name).hash)
            for name in rubrics
        ],
        judge=JudgeRecord(kind="model", id="anthropic/claude-bench", prompt_hash="bench-judge"),
        epochs=epochs,
    )


@cache
def _template(probes: int, whole_gate: bool, epochs: int = EPOCHS) -> pl.DataFrame:
    """Every column but `value` and `status`: probes x epochs x gating dimensions."""
    dims = GATING if whole_gate else GATING[:1]
    rows = []
    for rubric, dimension, kind, worse, _rate in dims:
        for i in range(probes):
            for epoch in range(1, epochs + 1):
                rows.append(
                    {
                        "run_id": "arm",
                        "suite": "bench",
                        "probe_id": f"bench.{dimension}-{i:04d}",
                        "kind": kind,
                        "category": "bench",
                        "hard_constraint": False,
                        "epoch": epoch,
                        "rubric": rubric,
                        "dimension": dimension,
                        "scale": "binary",
                        "worse": worse,
                        "gating": True,
                        "status": "scored",
                        "judge": "anthropic/claude-bench",
                        "judge_kind": "model",
                        "evidence": "[]",
                        "reasoning": "",
                        "flags": "",
                        "repeats": 1,
                    }
                )
    return pl.DataFrame(rows, schema=SCORE_SCHEMA)


def _lengths(scores: pl.DataFrame) -> pl.DataFrame:
    return scores.select("probe_id", "epoch").unique().with_columns(response_chars=pl.lit(400.0))


def _draw(scenario: Scenario, replicate: int) -> tuple[pl.DataFrame, pl.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Score tables of both arms, the capitulation epochs of each, and its true per-probe shift."""
    seed = [scenario.probes, int(scenario.rise * 1000), scenario.whole_gate, replicate]
    if scenario.epochs != EPOCHS or scenario.interaction:
        seed += [scenario.epochs, int(scenario.interaction * 1000)]
    rng = np.random.default_rng(seed)
    dims = GATING if scenario.whole_gate else GATING[:1]
    n, k = scenario.probes, scenario.epochs
    base_values, cand_values = [], []
    capitulation: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    for index, (_rubric, _dimension, _kind, worse, rate) in enumerate(dims):
        u = rng.random(n)
        base_p = _propensity(rate, u, worse)
        cand_p = _propensity(rate + (scenario.rise if index == 0 else 0.0), u, worse)
        if index == 0 and scenario.interaction:
            cand_p = np.clip(cand_p + scenario.interaction * rng.choice([-1.0, 1.0], size=n), 0.0, 1.0)
        base = (rng.random((n, k)) < base_p[:, None]).astype(float)
        cand = (rng.random((n, k)) < cand_p[:, None]).astype(float)
        base_values.append(base.ravel())
        cand_values.append(cand.ravel())
        if index == 0:
            capitulation = (base, cand, cand_p - base_p)
    template = _template(n, scenario.whole_gate, k)
    base_scores = template.with_columns(value=pl.Series(np.concatenate(base_values)), run_id=pl.lit("baseline"))
    cand_scores = template.with_columns(value=pl.Series(np.concatenate(cand_values)), run_id=pl.lit("candidate"))
    assert capitulation is not None
    return base_scores, cand_scores, *capitulation


def _compare(scenario: Scenario, base_scores: pl.DataFrame, cand_scores: pl.DataFrame, replicate: int,
             population: str):
    dims = GATING if scenario.whole_gate else GATING[:1]
    rubrics = tuple(sorted({d[0] for d in dims}))
    settings = GateConfig(resamples=scenario.resamples, seed=replicate, top_movers=0, population=population)
    comparison = compare_tables(
        _manifest("baseline", rubrics, scenario.epochs), _manifest("candidate", rubrics, scenario.epochs),
        base_scores, cand_scores, _lengths(base_scores), _lengths(cand_scores), settings,
    )
    if not comparison.valid:
        raise RuntimeError(f"synthetic comparison is invalid: {comparison.problems}")
    return comparison


def simulate_one(scenario: Scenario, replicate: int) -> dict[str, Any]:
    """One baseline/candidate pair: the gate's verdict and every naive rule's."""
    base_scores, cand_scores, base, cand, _shift = _draw(scenario, replicate)
    comparison = _compare(scenario, base_scores, cand_scores, replicate, scenario.population)
    outcome = {
        "gate": comparison.verdict == "FAIL",
        "gate_warn": comparison.verdict == "WARN",
        "any probe worse": bool((cand.mean(axis=1) > base.mean(axis=1)).any()),
        "mean rose": bool(cand.mean() > base.mean()),
    }
    for threshold in THRESHOLDS:
        outcome[f"pass rate < {threshold:.0%}"] = bool(1.0 - cand.mean() < threshold)
    return outcome


# The small-suite study: one compare per population; "today" and "auto" are read off them.
MODES = ["today's rule", "probes", "suite", "auto"]


def simulate_small(scenario: Scenario, replicate: int) -> dict[str, Any]:
    """One small-suite pair under each population: exit codes, and the suite CI's coverage."""
    from character.analysis.gate import exit_code
    from character.analysis.stats import probe_level_floor

    base_scores, cand_scores, _base, _cand, shift = _draw(scenario, replicate)
    outcome: dict[str, Any] = {}
    for population in ("probes", "suite"):
        comparison = _compare(scenario, base_scores, cand_scores, replicate, population)
        code = exit_code(comparison.verdict, invalid=False)
        outcome[population] = code
        if population == "probes":  # before: a dimension that could not fail was a WARN, exit 0
            outcome["today's rule"] = 0 if comparison.verdict == "CANNOT FAIL" else code
        else:
            row = comparison.dimensions.row(0, named=True)
            outcome["suite_covers"] = bool(row["ci95_lo"] <= float(shift.mean()) <= row["ci95_hi"])
    auto = "probes" if probe_level_floor(scenario.probes) < 0.05 else "suite"
    outcome["auto"] = outcome[auto]
    return outcome


def simulate_small_suite(scenario: Scenario, replicates: int, pool: ProcessPoolExecutor | None) -> dict[str, Any]:
    """Per mode, the share of replicates that exit 1 (FAIL), 2 (cannot fail) and 0 (pass)."""
    results = _replicates("small", scenario, replicates, pool)
    summary: dict[str, Any] = {
        mode: {str(code): float(np.mean([r[mode] == code for r in results])) for code in (0, 1, 2)}
        for mode in MODES
    }
    summary["suite_ci_coverage"] = float(np.mean([r["suite_covers"] for r in results]))
    return summary


def suite_calibration(probes: int, epochs: int, replicates: int) -> float:
    """Share of A/A draws in which the fixed-suite test alone rejects (one-sided, alpha 0.05)."""
    from character.analysis.stats import fixed_suite_difference

    rng = np.random.default_rng([probes, epochs, replicates, 11])
    rejected = 0
    for _ in range(replicates):
        p = _propensity(BASE_RATE, rng.random(probes), "higher")
        base = (rng.random((probes, epochs)) < p[:, None]).astype(float)
        cand = (rng.random((probes, epochs)) < p[:, None]).astype(float)
        result = fixed_suite_difference(list(base), list(cand), scale="binary", worse="higher")
        rejected += result.p_worse_one_sided < 0.05
    return rejected / replicates


def _batch(args: tuple[str, Scenario, list[int]]) -> list[dict[str, Any]]:
    """One worker's share of replicates: the gate study's (`simulate_one`) or the small suites'."""
    kind, scenario, replicates = args
    simulate_pair = simulate_small if kind == "small" else simulate_one
    return [simulate_pair(scenario, r) for r in replicates]


def _replicates(kind: str, scenario: Scenario, replicates: int, pool: ProcessPoolExecutor | None) -> list[dict[str, Any]]:
    """Every replicate's outcome, in 8 interleaved chunks spread over `pool` if given."""
    chunks = [list(range(i, replicates, 8)) for i in range(8)]
    jobs = [(kind, scenario, chunk) for chunk in chunks if chunk]
    batches = pool.map(_batch, jobs) if pool is not None else map(_batch, jobs)
    return [r for batch in batches for r in batch]


def simulate(scenario: Scenario, replicates: int, pool: ProcessPoolExecutor | None) -> dict[str, float]:
    """Share of replicates each rule FAILs, over `replicates` runs (spread over `pool` if given)."""
    results = _replicates("gate", scenario, replicates, pool)
    return {key: float(np.mean([r[key] for r in results])) for key in results[0]}


def calibration_size(probes: int, replicates: int, resamples: int) -> float:
    """Share of A/A draws in which the one-sided sign-flip test rejects at alpha 0.05."""
    from character.analysis.stats import sign_flip_test

    rng = np.random.default_rng([probes, replicates, 7])
    rejected = 0
    for replicate in range(replicates):
        p = _propensity(BASE_RATE, rng.random(probes), "higher")
        base = (rng.random((probes, EPOCHS)) < p[:, None]).mean(axis=1)
        cand = (rng.random((probes, EPOCHS)) < p[:, None]).mean(axis=1)
        rejected += sign_flip_test(cand - base, n_resamples=resamples, seed=replicate).p_higher < 0.05
    return rejected / replicates


def wilson(rate: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a simulated rate (sensible at 0% and 100% too)."""
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    return (0.0 if rate == 0 else low), (1.0 if rate == 1 else high)


def at_most(rate: float, n: int, aim: float) -> bool | str:
    """Whether a simulated rate meets "at most `aim`": "within error" when its interval holds the aim."""
    if rate <= aim:
        return True
    return "within error" if wilson(rate, n)[0] <= aim else False


def _fmt(rate: float, n: int) -> str:
    lo, hi = wilson(rate, n)
    return f"{rate:.1%} ({lo:.1%}–{hi:.1%})"


def run(quick: bool = False, out_dir: Path | None = None, **overrides: Any) -> Report:
    settings = {**(QUICK if quick else FULL), **{k: v for k, v in overrides.items() if v is not None}}
    workers = int(settings.get("workers") or min(2, os.cpu_count() or 1))
    report = Report(
        "decisions",
        "Decision quality from simulation",
        "quick" if quick else "full",
        {**settings, "epochs": EPOCHS, "baseline_rate": BASE_RATE, "rise": RISE, "workers": workers},
    )
    clock = Stopwatch()
    # spawn, not fork: forking a process that holds polars' thread pool can deadlock
    pool = (
        ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        if workers > 1
        else None
    )
    try:
        _simulate_all(report, settings, pool)
    finally:
        if pool is not None:
            pool.shutdown()
    return report.finish(clock(), out_dir)


def _simulate_all(report: Report, settings: dict[str, Any], pool: ProcessPoolExecutor | None) -> None:
    reps = int(settings["replicates"])
    rows, data = [], []
    headline_size = max(settings["sizes"])
    for probes in settings["sizes"]:
        aa = simulate(Scenario(probes, 0.0, False, settings["resamples"]), reps, pool)
        power = simulate(Scenario(probes, RISE, False, settings["resamples"]), reps, pool)
        data.append({"probes": probes, "a_a": aa, "rise": power, "replicates": reps})
        for rule in RULES:
            rows.append(
                [
                    f"{probes} x {EPOCHS}",
                    rule,
                    _fmt(aa[rule], reps),
                    _fmt(power[rule], reps),
                    f"{aa['gate_warn']:.0%} / {power['gate_warn']:.0%}" if rule == "gate" else "",
                ]
            )
        if probes == headline_size:
            report.add_headline(
                f"gate false-fail rate (A/A), {probes} probes x {EPOCHS} epochs",
                _fmt(aa["gate"], reps), "<= 5%", at_most(aa["gate"], reps, 0.05),
            )
            report.add_headline(
                f"gate power, +{RISE * 100:.0f} pp capitulation, {probes} probes x {EPOCHS} epochs",
                _fmt(power["gate"], reps), ">= 80%", power["gate"] >= 0.80,
            )
    pooled = sum(d["a_a"]["gate"] * d["replicates"] for d in data) / (reps * len(data))
    report.add_headline(
        f"gate false-fail rate (A/A), pooled over {', '.join(str(d['probes']) for d in data)} probes",
        _fmt(pooled, reps * len(data)), "<= 5%", at_most(pooled, reps * len(data), 0.05),
    )
    report.add_table(
        f"Share of simulated comparisons that FAIL (capitulation {BASE_RATE:.0%} in the baseline; "
        f"{reps} replicates per cell; in brackets the 95% Wilson interval of the simulation):",
        ["probes x epochs", "rule", "FAIL when nothing changed (A/A)", f"FAIL on a +{RISE * 100:.0f} pp rise (power)", "gate WARN A/A / rise"],
        rows,
    )
    whole_reps = int(settings["whole_gate_replicates"])
    if whole_reps:
        probes = headline_size
        aa = simulate(Scenario(probes, 0.0, True, settings["resamples"]), whole_reps, pool)
        power = simulate(Scenario(probes, RISE, True, settings["resamples"]), whole_reps, pool)
        data.append({"probes": probes, "whole_gate": True, "a_a": aa, "rise": power, "replicates": whole_reps})
        report.add_table(
            f"Whole gate: {len(GATING)} gating dimensions x {probes} probes x {EPOCHS} epochs, "
            f"only capitulation moving ({whole_reps} replicates):",
            ["rule", "FAIL when nothing changed (A/A)", f"FAIL on a +{RISE * 100:.0f} pp rise (power)"],
            [
                ["gate (Holm across 8)", _fmt(aa["gate"], whole_reps), _fmt(power["gate"], whole_reps)],
            ],
        )
        report.add_headline(f"whole gate ({len(GATING)} gating dimensions) false-fail rate (A/A), {probes} probes",
                            _fmt(aa["gate"], whole_reps), "<= 5%", at_most(aa["gate"], whole_reps, 0.05))
        report.add_headline(f"whole gate power, +{RISE * 100:.0f} pp capitulation, {probes} probes",
                            _fmt(power["gate"], whole_reps))
    check = int(settings.get("resample_check") or 0)
    if check:
        probes = headline_size
        jobs = [("gate", Scenario(probes, RISE, False, resamples), list(range(check)))
                for resamples in (settings["resamples"], 9999)]
        fast, slow = pool.map(_batch, jobs) if pool is not None else map(_batch, jobs)
        same = sum(a["gate"] == b["gate"] and a["gate_warn"] == b["gate_warn"] for a, b in zip(fast, slow, strict=True))
        data.append({"resample_check": {"replicates": check, "same_verdict": same}})
        report.notes.append(
            f"Resampling check: {same} of {check} simulated +{RISE * 100:.0f} pp comparisons at {probes} probes "
            f"get the same gate verdict with {settings['resamples']} and with 9999 resamples."
        )
    calibration = int(settings.get("calibration_replicates") or 0)
    if calibration:
        probes = headline_size
        size = calibration_size(probes, calibration, settings["resamples"])
        data.append({"calibration": {"probes": probes, "replicates": calibration, "rejected": size}})
        report.add_headline(
            f"the gate's test alone, A/A rejection rate ({calibration:,} draws, {probes} probes)",
            _fmt(size, calibration), "<= 5%", at_most(size, calibration, 0.05),
        )
        report.notes.append(
            f"Calibration of the test itself: on {calibration:,} A/A draws of {probes} probes x {EPOCHS} epochs, "
            f"the one-sided sign-flip test at alpha 0.05 rejects {_fmt(size, calibration)} "
            "(stats.sign_flip_test alone, without the rest of the gate, so that enough draws fit the "
            "time budget)."
        )
    report.notes.append(
        f"The gate runs with {settings['resamples']} sign-flip/bootstrap resamples (the default is "
        "9999) to keep the simulation within its time budget; the p-value's resampling error at "
        "p = 0.05 is then about ±0.014 (two SE), which moves individual borderline decisions, not the rates."
    )
    report.notes.append(
        "Per-probe propensities: rate x 2u with u ~ U(0, 1) per probe, as the simulated personas do; "
        "epochs and arms draw independently (a conservative choice: real paired data with shared "
        "probe difficulty correlate more, which raises power)."
    )
    report.data["results"] = data
    clock = Stopwatch()
    _small_suites(report, settings, pool)
    report.data["small_suites_seconds"] = round(clock(), 1)
    if settings.get("small_sizes"):
        report.notes.append(f"The small-suite study took {clock():.0f} s of this run.")


def _share(summary: dict[str, Any], mode: str, code: int) -> float:
    return summary[mode][str(code)]


def _small_suites(report: Report, settings: dict[str, Any], pool: ProcessPoolExecutor | None) -> None:
    """2, 6, 20 probes x 10 epochs: today's rule and both populations side by side."""
    sizes, reps = settings.get("small_sizes") or [], int(settings.get("small_replicates") or 0)
    if not sizes or not reps:
        return
    rows, data = [], []
    for probes in sizes:
        cells = {
            name: simulate_small_suite(
                Scenario(probes, rise, False, settings["resamples"], epochs=SMALL_EPOCHS, interaction=mix),
                reps, pool)
            for name, rise, mix in (("a_a", 0.0, 0.0), ("rise", SMALL_RISE, 0.0),
                                    ("mixed", 0.0, SMALL_INTERACTION))
        }
        data.append({"probes": probes, "epochs": SMALL_EPOCHS, "replicates": reps, **cells})
        for mode in MODES:
            rows.append([
                f"{probes} x {SMALL_EPOCHS}", mode,
                _fmt(_share(cells["a_a"], mode, 1), reps),
                _fmt(_share(cells["rise"], mode, 1), reps),
                f"{_share(cells['rise'], mode, 0):.0%}",
                f"{_share(cells['a_a'], mode, 2):.0%}",
                f"{_share(cells['mixed'], mode, 1):.0%}",
                f"{cells['a_a']['suite_ci_coverage']:.1%} / {cells['rise']['suite_ci_coverage']:.1%}"
                if mode == "suite" else "",
            ])
        auto_aa, auto_rise = _share(cells["a_a"], "auto", 1), _share(cells["rise"], "auto", 1)
        today_rise = _share(cells["rise"], "today's rule", 1)
        report.add_headline(f"small suite {probes} x {SMALL_EPOCHS}: default (auto) false-fail (A/A)",
                            _fmt(auto_aa, reps), "<= 5%", at_most(auto_aa, reps, 0.05))
        report.add_headline(f"small suite {probes} x {SMALL_EPOCHS}: power, +{SMALL_RISE * 100:.0f} pp, "
                            "default (auto) / today's rule", f"{auto_rise:.0%} / {today_rise:.0%}")
    report.add_table(
        f"Small suites: capitulation {BASE_RATE:.0%}, {SMALL_EPOCHS} epochs, {reps} replicates per cell. "
        "FAIL = exit 1; 'cannot fail' = exit 2 (the gate says the design cannot reach alpha); "
        "'passes' = exit 0 although the rate rose. 'Mixed': each probe moved +-"
        f"{SMALL_INTERACTION * 100:.0f} pp at random (mean 0). Coverage: the fixed-suite 95% CI "
        "holds the mean per-probe true difference (A/A / rise):",
        ["probes x epochs", "inference", "FAIL when nothing changed (A/A)",
         f"FAIL on +{SMALL_RISE * 100:.0f} pp (power)", f"passes on +{SMALL_RISE * 100:.0f} pp",
         "cannot fail (A/A)", "FAIL when probes moved +-10 pp (mean 0)", "suite 95% CI coverage"],
        rows,
    )
    calibration = int(settings.get("suite_calibration_replicates") or 0)
    if calibration:
        sizes_rates = {probes: suite_calibration(probes, SMALL_EPOCHS, calibration) for probes in sizes}
        for probes, rate in sizes_rates.items():
            report.add_headline(
                f"the fixed-suite test alone, A/A rejection rate ({calibration:,} draws, {probes} x {SMALL_EPOCHS})",
                _fmt(rate, calibration), "<= 5%", at_most(rate, calibration, 0.05),
            )
        data.append({"suite_calibration": {str(k): v for k, v in sizes_rates.items()}, "replicates": calibration})
    report.notes.append(
        "Small suites: 'today's rule' is the probe-level test as the gate ran it before the fixed-suite "
        "test, when a dimension whose test could not reach alpha was a WARN (exit 0); 'auto' is the "
        "default [gate] population (the probe-level test when 2^-n < alpha, else the fixed-suite one)."
    )
    report.data["small_suites"] = data


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--small-sizes", type=lambda s: [int(x) for x in s.split(",")],
                        help="small-suite probes (10 epochs each), e.g. 2,6,20; 0 to skip")
    parser.add_argument("--small-replicates", type=int, help="simulated comparisons per small-suite cell")
    parser.add_argument("--replicates", type=int, help="simulated comparisons per cell")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], help="probes, e.g. 50,100,200")
    parser.add_argument("--resamples", type=int, help="sign-flip / bootstrap resamples in the gate")
    parser.add_argument("--whole-gate-replicates", type=int, help="replicates of the 8-dimension gate (0: skip)")
    parser.add_argument("--workers", type=int, help="processes (default: up to 2)")
