"""The CI gate: the decision of METHODS.md "Gate decision", its exit codes, and finding the runs.

`decide` turns the per-dimension classes of a comparison (see `compare.py`) and the
hard-constraint checks into PASS / WARN / FAIL:

* FAIL (invalid, exit 2): suite, rubric or judge hashes differ, the probe sets differ, or more
  than `max_unscored` of judge verdicts are unscored because the judge failed.
* FAIL (exit 1): a gating dimension is a REGRESSION, or a hard-constraint probe failed.
* WARN (exit 0, or 1 with `fail_on_warn`): a gating dimension is INCONCLUSIVE.
* PASS (exit 0): otherwise.

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

Verdict = Literal["PASS", "WARN", "FAIL"]

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_INVALID = 2


@dataclass(frozen=True)
class GateDecision:
    verdict: Verdict
    reasons: list[str]
    """Why, one line each, worst first: problems, regressions, hard constraints, warnings."""
    invalid: bool


def decide(
    dimensions: pl.DataFrame, hard_constraints: pl.DataFrame, problems: list[str]
) -> GateDecision:
    """Apply "Gate: FAIL if ...; WARN if ...; else PASS" to a comparison's tables.

    `dimensions` needs the columns gating, class and sentence; `hard_constraints` the columns
    enforced, passed and sentence. Exploratory dimensions never change the verdict.
    """
    if problems:
        return GateDecision("FAIL", list(problems), invalid=True)
    gating = dimensions.filter(pl.col("gating"))
    regressions = gating.filter(pl.col("class") == DriftClass.REGRESSION.value)
    broken = hard_constraints.filter(pl.col("enforced") & ~pl.col("passed"))
    inconclusive = gating.filter(pl.col("class") == DriftClass.INCONCLUSIVE.value)
    if regressions.height or broken.height:
        reasons = regressions["sentence"].to_list() + broken["sentence"].to_list()
        return GateDecision("FAIL", reasons, invalid=False)
    if inconclusive.height:
        return GateDecision("WARN", inconclusive["sentence"].to_list(), invalid=False)
    return GateDecision("PASS", gating["sentence"].to_list(), invalid=False)


def exit_code(verdict: Verdict, *, invalid: bool, fail_on_warn: bool = False) -> int:
    """0 pass (and warn, unless `fail_on_warn`), 1 regression or hard constraint, 2 invalid."""
    if invalid:
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
