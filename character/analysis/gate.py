"""The CI gate: the decision of docs/methods.md "Gate decision", its exit codes, finding the runs.

`decide` turns the per-dimension classes of a comparison (see `compare.py`) and the
hard-constraint checks into a verdict, first that applies:

* FAIL (invalid, exit 2): suite, rubric or judge hashes differ, the probe sets differ, or more
  than `max_unscored` of judge verdicts are unscored because the judge failed.
* FAIL (exit 1): a gating dimension is a REGRESSION, or a hard-constraint probe failed.
* NOT GATED (exit 2): no dimension gates this comparison, so nothing could have failed it; the
  exploratory findings that survived Benjamini-Hochberg lead the reasons. Never a PASS.
* CANNOT FAIL (exit 2): a gating dimension's test cannot reach the p it needs with these probes
  and epochs (e.g. 2 probes x 1 epoch: p >= 0.25), so a regression there would pass unseen; the
  reasons start with that sentence and its remedy.
* WARN (exit 0, or 1 with `fail_on_warn`): a gating dimension is INCONCLUSIVE.
* PASS (exit 0): otherwise.

Lines naming missing probe x epoch samples (`validity.coverage_problems`) follow the reasons;
they never change the verdict.

`find_or_run` is how `character gate` gets each arm: a stored complete run with the same spec
hash (suites, rubrics, judge, target, epochs, limit) is reused instead of being paid for again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import polars as pl

from character.analysis.stats import DriftClass
from character.store.layout import list_run_dirs
from character.store.manifest import Manifest, read_manifest

if TYPE_CHECKING:  # the runner (and inspect) load only when `character gate` has to run an arm
    from character.run.runner import RunRequest

Verdict = Literal["PASS", "WARN", "FAIL", "NOT GATED", "CANNOT FAIL"]
NOT_GATED: Verdict = "NOT GATED"
CANNOT_FAIL: Verdict = "CANNOT FAIL"

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_INVALID = 2


@dataclass(frozen=True)
class GateDecision:
    verdict: Verdict
    reasons: list[str]
    """Why, one line each, worst first: problems, regressions, hard constraints, what cannot
    fail, warnings; then missing samples."""
    invalid: bool


def decide(
    dimensions: pl.DataFrame,
    hard_constraints: pl.DataFrame,
    problems: list[str],
    *,
    findings: list[str] | None = None,
    coverage: list[str] | None = None,
    exploratory_q: float = 0.10,
) -> GateDecision:
    """Apply "Gate: FAIL if ...; NOT GATED ...; CANNOT FAIL ...; WARN if ...; else PASS".

    `dimensions` needs the columns gating, class and sentence (and can_fail, note: without
    can_fail every gating dimension is taken to be able to fail); `hard_constraints` the columns
    enforced, passed and sentence. `findings` are the exploratory findings that survived BH
    (`compare.exploratory_findings`), `coverage` the missing-sample lines. Exploratory
    dimensions never change the verdict.
    """
    if problems:
        return GateDecision("FAIL", list(problems), invalid=True)
    coverage = list(coverage or [])
    gating = dimensions.filter(pl.col("gating"))
    regressions = gating.filter(pl.col("class") == DriftClass.REGRESSION.value)
    broken = hard_constraints.filter(pl.col("enforced") & ~pl.col("passed"))
    inconclusive = gating.filter(pl.col("class") == DriftClass.INCONCLUSIVE.value)
    cannot = (
        gating.filter(~pl.col("can_fail").fill_null(False))
        if "can_fail" in gating.columns
        else gating.clear()
    )
    cannot_lines = cannot["sentence"].to_list()
    if regressions.height or broken.height:
        reasons = regressions["sentence"].to_list() + broken["sentence"].to_list() + cannot_lines
        return GateDecision("FAIL", reasons + coverage, invalid=False)
    if gating.height == 0 and not hard_constraints.filter(pl.col("enforced")).height:
        found = list(findings or [])
        count = (
            f"{len(found)} exploratory finding{'' if len(found) == 1 else 's'}"
            if found
            else "No exploratory finding"
        )
        lead = (
            "NOT GATED · no dimension gates this comparison, so it can neither pass nor fail (to "
            "gate, list dimensions in [gate] gating as rubric/dimension, or use rubrics whose "
            f"dimensions gate). {count} survived Benjamini-Hochberg (q = {exploratory_q:g})"
            + (":" if found else ".")
        )
        return GateDecision(NOT_GATED, [lead, *found, *coverage], invalid=False)
    if cannot.height:
        rest = gating.filter(pl.col("can_fail").fill_null(False))["sentence"].to_list()
        return GateDecision(CANNOT_FAIL, cannot_lines + rest + coverage, invalid=False)
    if inconclusive.height:
        return GateDecision("WARN", inconclusive["sentence"].to_list() + coverage, invalid=False)
    return GateDecision("PASS", gating["sentence"].to_list() + coverage, invalid=False)


def exit_code(verdict: Verdict, *, invalid: bool, fail_on_warn: bool = False) -> int:
    """0 pass (and warn, unless `fail_on_warn`), 1 regression or hard constraint, 2 invalid,
    not gated, or a gating dimension that cannot fail."""
    if invalid or verdict in (NOT_GATED, CANNOT_FAIL):
        return EXIT_INVALID
    if verdict == "FAIL" or (verdict == "WARN" and fail_on_warn):
        return EXIT_FAIL
    return EXIT_PASS


@dataclass(frozen=True)
class ArmRun:
    """One side of a comparison, and whether it was found in the store rather than run."""

    dir: Path
    manifest: Manifest
    reused: bool


def stored_run(store: Path, spec_hash: str) -> ArmRun | None:
    """A complete stored run made from exactly this spec (any run id, any target label)."""
    for folder in list_run_dirs(store):
        manifest = read_manifest(folder)
        if manifest.spec_hash == spec_hash and manifest.status == "complete":
            return ArmRun(folder, manifest, reused=True)
    return None


def find_or_run(request: RunRequest) -> ArmRun:
    """Reuse a stored run with the same spec hash, else run (or resume) it now."""
    from character.run.runner import execute, prepare

    prepared = prepare(request)
    if not request.fresh:
        found = stored_run(request.store, prepared.spec_hash)
        if found is not None:
            return found
    manifest = execute(prepared)
    return ArmRun(prepared.dir, manifest, reused=False)
