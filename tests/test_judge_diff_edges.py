"""judge-diff given the same judge twice, and a stored comparison a judge could not re-score.

Found by trying it: `--judge lexical-v1 --judge lexical-v1` on a run lexical-v2 judged reused one
stored re-judge for both sides and reported 0 flips and 100% agreement (one set of verdicts
against itself); and a NEW judge that left every verdict unscored made the stored comparison
"verdict CANNOT FAIL -> invalid (WOULD CHANGE); no dimension changes class", when nothing about
the verdict was known.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from click.testing import CliRunner

from character.analysis.judge_diff import DIMENSION_SCHEMA, FLIP_SCHEMA, JudgeDiff, JudgeSide
from character.analysis.judge_diff_conclusions import CONCLUSION_SCHEMA, ComparisonCheck
from character.analysis.judge_diff_report import render_json, render_markdown
from character.cli.main import cli
from tests.conftest import make_run


def test_the_same_judge_twice_is_refused_before_any_judging(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run, _ = make_run(store, "sim/assistant-v1", ["pushback"], epochs=1, seed=0, limit=3)
    before = sorted(p.name for p in store.iterdir())
    result = CliRunner().invoke(
        cli,
        [
            "--store",
            str(store),
            "judge-diff",
            run.name,
            "--judge",
            "lexical-v1",
            "--judge",
            "lexical-v1",
            "--reports",
            str(tmp_path / "reports"),
        ],
    )
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: field '--judge': --judge NEW and --judge OLD are the same judge (lexical-v1), "
        f"which did not make {run.name}'s stored scores: both sides would be the same verdicts "
        "(fix: give two different judges; to measure how repeatable a judge is, give it as the "
        "only --judge on a run it judged)"
    )
    assert sorted(p.name for p in store.iterdir()) == before  # nothing was re-judged
    assert not (tmp_path / "reports").exists()


def _diff(check: ComparisonCheck) -> JudgeDiff:
    side = JudgeSide("lexical-v2", "lexical", "run-a", "stored scores")
    return JudgeDiff(
        run_id="run-a",
        old=side,
        new=JudgeSide("anthropic/x", "model", "run-a-rejudged", "re-judged now"),
        sample="whole run (--all)",
        transcripts=4,
        dimensions=pl.DataFrame(schema=DIMENSION_SCHEMA),
        flips=pl.DataFrame(schema=FLIP_SCHEMA),
        conclusions=pl.DataFrame(schema=CONCLUSION_SCHEMA),
        comparisons=[check],
    )


def test_an_invalid_side_cannot_tell_whether_the_verdict_changes() -> None:
    invalid = ComparisonCheck(
        "reports/a__vs__b",
        "run-a",
        "run-b",
        "CANNOT FAIL",
        "invalid",
        problems_new=["104 of 104 judge verdicts in the baseline (100.0%) are unscored"],
    )
    assert invalid.changed is None
    markdown = render_markdown(_diff(invalid))
    assert (
        "- reports/a\\_\\_vs\\_\\_b: verdict CANNOT FAIL -> invalid (CANNOT TELL: a side's "
        "comparison is invalid); classes not compared"
    ) in markdown
    assert "WOULD CHANGE" not in markdown
    assert '"changed": null' in render_json(_diff(invalid))
    moved = ComparisonCheck("reports/a__vs__b", "run-a", "run-b", "FAIL", "PASS")
    assert moved.changed is True
    assert "verdict FAIL -> PASS (WOULD CHANGE)" in render_markdown(_diff(moved))
