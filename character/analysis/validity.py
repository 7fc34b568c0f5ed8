"""Whether two runs can be compared at all, and if not, what differs and how to fix it.

docs/methods.md "Unit of analysis" and "Gate decision": the same suites, rubrics, judge, judge
prompt and probe set, both runs complete, and at most `gate.max_unscored` of either run's judge
verdicts unscored because the judge failed. An invalid comparison computes nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from character.domain.config import GateConfig
from character.store.layout import MARKERS_RUBRIC
from character.store.manifest import Manifest


def verdict_rows(scores: pl.DataFrame) -> pl.DataFrame:
    """The judge's verdicts, without the lexical markers (which are never unscored by a judge)."""
    return scores.filter(pl.col("rubric") != MARKERS_RUBRIC)


def unscored_counts(scores: pl.DataFrame) -> dict[str, int]:
    verdicts = verdict_rows(scores)
    unscored = verdicts.filter(pl.col("status") == "unscored")
    return {
        "verdicts": verdicts.height,
        "unscored": unscored.height,
        "judge_error": unscored.filter(pl.col("cause") == "judge_error").height,
        "insufficient_evidence": unscored.filter(pl.col("cause") == "insufficient_evidence").height,
        # what the target's last reply was: never judge failures (engine/reply_rules.py)
        **{
            cause: unscored.filter(pl.col("cause") == cause).height
            for cause in ("target_refused", "target_truncated", "target_empty")
        },
    }


def validity_problems(
    baseline: Manifest,
    candidate: Manifest,
    baseline_scores: pl.DataFrame,
    candidate_scores: pl.DataFrame,
    settings: GateConfig,
) -> list[str]:
    """What makes the two runs incomparable, each with how to fix it ([] when comparable)."""
    problems: list[str] = []
    base_id = baseline.run_id
    for arm, manifest in (("baseline", baseline), ("candidate", candidate)):
        if manifest.status != "complete":
            problems.append(
                f"the {arm} run {manifest.run_id} is {manifest.status}: re-run the command that "
                "made it (it resumes), then compare again"
            )

    base_suites = {s.name: s.hash for s in baseline.suites}
    cand_suites = {s.name: s.hash for s in candidate.suites}
    if set(base_suites) != set(cand_suites):
        problems.append(
            f"the runs played different suites (baseline: {', '.join(sorted(base_suites))}; "
            f"candidate: {', '.join(sorted(cand_suites))}): run both versions on the same suites"
        )
    for name in sorted(set(base_suites) & set(cand_suites)):
        if base_suites[name] != cand_suites[name]:
            problems.append(
                f"suite '{name}' changed between the runs (hash {base_suites[name][:10]} in the "
                f"baseline, {cand_suites[name][:10]} in the candidate): re-run the baseline on the "
                f"current suite file (`character run {name} --target ...`), then compare again"
            )

    rejudge = f"`character judge {base_id} --judge {candidate.judge.id}`"
    base_rubrics = {r.name: r.hash for r in baseline.rubrics}
    cand_rubrics = {r.name: r.hash for r in candidate.rubrics}
    for name in sorted(set(base_rubrics) | set(cand_rubrics)):
        if base_rubrics.get(name) != cand_rubrics.get(name):
            problems.append(
                f"rubric '{name}' differs (hash {(base_rubrics.get(name) or 'absent')[:10]} in "
                f"the baseline, {(cand_rubrics.get(name) or 'absent')[:10]} in the candidate): "
                f"re-judge the baseline with the candidate's rubrics: {rejudge}"
            )

    bj, cj = baseline.judge, candidate.judge
    if (bj.kind, bj.id) != (cj.kind, cj.id):
        problems.append(
            f"the judges differ (baseline judged by {bj.id}, candidate by {cj.id}): re-judge the "
            f"baseline with the candidate's judge: {rejudge}"
        )
    elif bj.prompt_hash != cj.prompt_hash:
        what = (
            f"{bj.id}'s phrase lists or rules differ (the same judge name from two versions of "
            f"character: hash {bj.prompt_hash[:10]} in the baseline"
            if bj.kind == "lexical"
            else f"the judge prompt differs (hash {bj.prompt_hash[:10]} in the baseline"
        )
        problems.append(
            f"{what}, {cj.prompt_hash[:10]} in the candidate): re-judge the baseline: {rejudge}"
        )

    if baseline.user_model != candidate.user_model:
        problems.append(
            f"the adaptive probes faced different simulated users (baseline: "
            f"{baseline.user_model or 'none'}, candidate: {candidate.user_model or 'none'}): both "
            "versions must face the same user model; re-run one with --user-model "
            f"{baseline.user_model or candidate.user_model}"
        )

    base_probes = set(baseline_scores["probe_id"].unique().to_list())
    cand_probes = set(candidate_scores["probe_id"].unique().to_list())
    if base_probes != cand_probes:
        only_base, only_cand = sorted(base_probes - cand_probes), sorted(cand_probes - base_probes)
        problems.append(
            f"the probe sets differ ({len(only_base)} probes only in the baseline"
            f"{_examples(only_base)}, {len(only_cand)} only in the candidate{_examples(only_cand)}): "
            "run both versions with the same suites and --limit"
        )

    for arm, manifest, scores in (
        ("baseline", baseline, baseline_scores),
        ("candidate", candidate, candidate_scores),
    ):
        counts = unscored_counts(scores)
        if counts["verdicts"] and counts["judge_error"] / counts["verdicts"] > settings.max_unscored:
            share = counts["judge_error"] / counts["verdicts"]
            problems.append(
                f"{counts['judge_error']} of {counts['verdicts']} judge verdicts in the {arm} "
                f"({share:.1%}) are unscored because the judge failed, above the "
                f"{settings.max_unscored:.0%} limit (gate.max_unscored): re-judge the run "
                f"(`character judge {manifest.run_id} --judge {manifest.judge.id}`) or resume it, "
                "then compare again"
            )
    return problems


def _examples(ids: Sequence[str]) -> str:
    return f", e.g. {', '.join(ids[:3])}" if ids else ""


MISSING_LISTED = 10  # missing samples named in a report line; all are in report.json


def sample_coverage(
    baseline: Manifest,
    candidate: Manifest,
    baseline_scores: pl.DataFrame,
    candidate_scores: pl.DataFrame,
) -> dict[str, dict[str, Any]]:
    """Per arm: the probe x epoch samples it should hold, how many it holds, and which are missing.

    Expected: every probe either run played x epochs 1..K, K the arm's epochs (its manifest's,
    or more if the scores hold more). A sample is present when the scores table has any row for
    it (an unscored verdict is present, and counted as unscored elsewhere); a missing one has no
    transcript at all, e.g. an imported file that lacks one epoch of one probe. Missing samples
    do not invalidate a comparison (it uses the samples present), but every report names them.
    """
    probes = sorted(
        set(baseline_scores["probe_id"].unique().to_list())
        | set(candidate_scores["probe_id"].unique().to_list())
    )
    coverage: dict[str, dict[str, Any]] = {}
    for arm, manifest, scores in (
        ("baseline", baseline, baseline_scores),
        ("candidate", candidate, candidate_scores),
    ):
        observed = scores.select("probe_id", "epoch").unique()
        epochs = max(int(manifest.epochs or 1), int(observed["epoch"].max() or 0))
        present = {(p, int(e)) for p, e in observed.iter_rows()}
        expected = [(p, e) for p in probes for e in range(1, epochs + 1)]
        missing = [{"probe_id": p, "epoch": e} for p, e in expected if (p, e) not in present]
        coverage[arm] = {
            "epochs": epochs,
            "expected": len(expected),
            "present": len(expected) - len(missing),
            "missing": missing,
        }
    return coverage


def coverage_problems(coverage: dict[str, dict[str, Any]]) -> list[str]:
    """One line per arm that lacks samples, naming them (the first `MISSING_LISTED`)."""
    lines = []
    for arm in ("baseline", "candidate"):
        info = coverage.get(arm)
        if not info or not info["missing"]:
            continue
        missing = info["missing"]
        named = ", ".join(f"{m['probe_id']} epoch {m['epoch']}" for m in missing[:MISSING_LISTED])
        more = f" and {len(missing) - MISSING_LISTED} more" if len(missing) > MISSING_LISTED else ""
        lines.append(
            f"COVERAGE · the {arm} lacks {len(missing)} of {info['expected']} probe x epoch "
            f"samples ({named}{more}); they are left out, the rest is compared as it is."
        )
    return lines
