"""`character calibrate`: scorer-vs-human agreement, rater reliability, reference choice, reports."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from character.analysis import calibrate as cal
from character.analysis import stats
from character.cli.main import cli
from character.importers import generic
from character.importers.store_writer import write_import
from character.store.labels import Label, append_labels
from character.store.layout import list_run_dirs
from character.store.manifest import read_manifest
from tests.conftest import FIXTURES

GENERIC = FIXTURES / "import_generic.jsonl"


def import_generic(store: Path, path: Path = GENERIC) -> dict[str, Path]:
    for batch in generic.load(path):
        write_import(store, batch)
    return {read_manifest(f).target.model: f for f in list_run_dirs(store)}


def test_agreement_matches_stats_and_orients_the_confusion_matrix() -> None:
    """Accuracy, Cohen's kappa and bias agree with stats.py; rows are the reference."""
    reference = np.array([0, 0, 1, 1, 1, 0, 1, 0])
    scorer = np.array([0, 1, 1, 1, 0, 0, 1, 1])
    found = cal.agreement(reference, scorer, scale="binary", resamples=0)
    assert found["accuracy"] == pytest.approx(5 / 8)
    assert found["kappa"] == pytest.approx(stats.cohen_kappa(reference, scorer))
    assert found["bias"] == pytest.approx(1 / 8)  # the scorer says 1 once more than the humans
    assert found["confusion"] == [[2, 2], [1, 3]]
    assert found["kappa_kind"] == "Cohen"


def test_ordinal_agreement_uses_quadratic_weighted_kappa() -> None:
    """Ordinal scores: a 4-vs-5 miss costs less than 1-vs-5 (METHODS.md)."""
    reference = np.array([1, 2, 3, 4, 5, 5, 3, 2])
    near = np.array([1, 2, 3, 5, 4, 5, 3, 2])
    far = np.array([5, 2, 3, 4, 1, 5, 3, 2])
    near_kappa = cal.agreement(reference, near, scale="ordinal", resamples=0)
    far_kappa = cal.agreement(reference, far, scale="ordinal", resamples=0)
    assert near_kappa["kappa_kind"] == "quadratic-weighted"
    assert near_kappa["kappa"] == pytest.approx(stats.weighted_kappa(reference, near))
    assert near_kappa["kappa"] > far_kappa["kappa"]


def test_bootstrap_intervals_contain_the_estimate() -> None:
    """Every figure gets a 95% bootstrap CI around it."""
    rng = np.random.default_rng(3)
    reference = rng.integers(0, 2, 120)
    scorer = np.where(rng.random(120) < 0.85, reference, 1 - reference)
    found = cal.agreement(reference, scorer, scale="binary", resamples=300)
    for name in ("accuracy", "kappa", "bias"):
        ci = found[f"{name}_ci"]
        assert ci.low <= found[name] <= ci.high


def test_reliability_is_krippendorff_alpha_with_missing_ratings() -> None:
    """Alpha equals stats.krippendorff_alpha on raters x units; pairs use only shared units."""
    matrix = np.array([[1, 2, 3, 3, 2, np.nan], [1, 2, 3, 4, 2, 5], [2, 2, 3, 4, np.nan, 5]], dtype=float)
    found = cal.reliability(matrix, ["a", "b", "c"], scale="ordinal", resamples=0)
    assert found["alpha"] == pytest.approx(stats.krippendorff_alpha(matrix, "interval"))
    assert found["alpha_level"] == "interval"
    pair_ac = next(p for p in found["pairs"] if (p.a, p.b) == ("a", "c"))
    assert pair_ac.n == 4


def ratings(rows: list[tuple], scale: str = "binary") -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"probe_id": p, "epoch": 1, "dimension": "r/d", "scale": scale, "rater": who,
             "rater_kind": "human", "status": "scored", "value": v, "label": None}
            for p, who, v in rows
        ],
        schema=cal.RATINGS_SCHEMA,
    )


def test_reference_prefers_asked_then_adjudicated_then_single_then_consensus() -> None:
    """The reference rule of the module docstring, including ties left out of the consensus."""
    humans = ratings([("p1", "ann", 1.0), ("p1", "bob", 1.0), ("p1", "cy", 0.0),
                      ("p2", "ann", 0.0), ("p2", "bob", 1.0)])
    assert cal._reference(humans, "r/d", "bob", None)[1] == "bob"
    assert cal._reference(humans, "r/d", None, "cy")[1] == "cy"
    rows, who, others = cal._reference(humans, "r/d", None, None)
    assert who == "consensus of 3 labellers" and others == ["ann", "bob", "cy"]
    assert rows.select("probe_id", "value").rows() == [("p1", 1.0)]  # p2 is a 1-1 tie
    single = ratings([("p1", "ann", 1.0)])
    assert cal._reference(single, "r/d", None, None)[1] == "ann"


def test_calibrate_import_with_human_and_judge_labels(tmp_path: Path) -> None:
    """End to end on real rows: the imported string-match judge against the annotators."""
    runs = import_generic(tmp_path)
    report = cal.calibrate(runs["openai/gpt-4"], reference="xstest:annotation_1", resamples=0)
    by_dim = {(a.dimension, a.scorer) for a in report.agreements}
    assert ("refusal/refused", "XSTest string match") in by_dim
    pooled = next(a for a in report.agreements if a.dimension == "refusal/refused")
    # v2-160: annotator 1 said compliance, as did string match; all three rows agree.
    assert (pooled.n, pooled.accuracy) == (3, 1.0)
    assert pooled.by_reference_label == {"1_full_compliance": {"0": 2}, "2_full_refusal": {"1": 1}}


def test_lexical_option_adds_the_lexical_judge(tmp_path: Path) -> None:
    """--lexical re-scores the stored transcripts; probes come from probes.jsonl for imports."""
    runs = import_generic(tmp_path)
    report = cal.calibrate(runs["openai/gpt-4"], dimensions=["refused"], lexical=True, resamples=0)
    kinds = {a.scorer_kind for a in report.agreements}
    assert kinds == {"imported", "lexical"}
    [judges] = [r for r in report.reliability if r.kind == "judges"]
    assert judges.units == 3


def test_lexical_ratings_read_probes_from_a_runs_log(mini_run) -> None:
    """A `character run` keeps its probes in the inspect log, and --lexical finds them there."""
    folder, _manifest = mini_run
    found = cal.lexical_ratings(folder, pl.read_parquet(folder / "transcripts.parquet"))
    assert found.height > 0 and set(found["rater_kind"]) == {"lexical"}


def test_labels_from_another_run_use_only_identical_transcripts(tmp_path: Path) -> None:
    """Labels of GPT-4's answers must not be matched to Llama's answers to the same prompts."""
    runs = import_generic(tmp_path)
    report = cal.calibrate(runs["meta-llama/Llama-2-70b-chat-hf"], labels_from=runs["openai/gpt-4"], resamples=0)
    assert report.agreements == []
    assert any("not identical" in note for note in report.notes)


def test_judges_from_a_repeat_count_as_another_rater(tmp_path: Path) -> None:
    """Repeated judging: the same judge in another run on the same transcripts is a second rater."""
    runs = import_generic(tmp_path)
    gpt4 = runs["openai/gpt-4"]
    report = cal.calibrate(gpt4, judges_from=[gpt4], dimensions=["refused"], resamples=0)
    [judges] = [r for r in report.reliability if r.kind == "judges"]
    assert len(judges.raters) == 2 and judges.pairs[0].accuracy == 1.0


def test_viewer_labels_on_a_run_are_calibrated(mini_run, tmp_path: Path) -> None:
    """Labels made in the viewer on a normal run are matched to its lexical verdicts."""
    folder, manifest = mini_run
    scores = pl.read_parquet(folder / "scores.parquet").filter(
        (pl.col("rubric") != "markers") & (pl.col("status") == "scored") & (pl.col("scale") == "binary")
    )
    labelled = tmp_path / "labelled"
    shutil.copytree(folder, labelled)
    labels = [
        Label(run_id=manifest.run_id, probe_id=r["probe_id"], epoch=r["epoch"], rubric=r["rubric"],
              dimension=r["dimension"], value=1.0 - r["value"] if i == 0 else r["value"], labeller="alice")
        for i, r in enumerate(scores.iter_rows(named=True))
    ]
    append_labels(labelled, labels)
    report = cal.calibrate(labelled, resamples=0)
    n = sum(a.n for a in report.agreements if a.dimension not in cal.POOLED)
    correct = sum(round(a.accuracy * a.n) for a in report.agreements if a.dimension not in cal.POOLED)
    assert n == scores.height and correct == n - 1  # alice disagreed exactly once


def test_report_files_and_cli(tmp_path: Path) -> None:
    """Markdown and JSON land in --out; NaN becomes null; the CLI prints a summary line per figure."""
    store = tmp_path / "store"
    runs = import_generic(store)
    out = tmp_path / "reports"
    result = CliRunner().invoke(
        cli, ["--store", str(store), "calibrate", runs["openai/gpt-4"].name, "--resamples", "99", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "refusal/refused" in result.output and "written:" in result.output
    data = json.loads((out / f"{runs['openai/gpt-4'].name}.json").read_text())
    assert data["agreements"] and all(not isinstance(v, float) or math.isfinite(v) for a in data["agreements"] for v in a.values())
    assert "# Calibration:" in (out / f"{runs['openai/gpt-4'].name}.md").read_text()


def test_unknown_dimension_is_a_user_error(tmp_path: Path) -> None:
    """A mistyped --dimension says which dimensions exist and exits 2."""
    store = tmp_path / "store"
    runs = import_generic(store)
    result = CliRunner().invoke(cli, ["--store", str(store), "calibrate", runs["openai/gpt-4"].name, "--dimension", "over_refusl"])
    assert result.exit_code == 2 and "present:" in result.output
