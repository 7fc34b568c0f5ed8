"""Tests for the gate: the decision rule, exit codes 0/1/2 through `character gate`, and its error rates.

The error-rate tests repeat the whole gate path (compare_tables + decide) on synthetic score
tables: A/A pairs (one version sampled twice) must false-fail at most alpha of the time, and a
planted shift must be caught.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from conftest import make_run, run_by_name
from test_compare import FAST, binary_scores, compare_frames

from character.analysis.gate import EXIT_FAIL, EXIT_INVALID, EXIT_PASS, decide, exit_code
from character.cli.main import cli
from character.domain.config import GateConfig

ALPHA = 0.05


def _dims(*rows: tuple[str, bool]) -> pl.DataFrame:
    return pl.DataFrame([{"class": c, "gating": g, "sentence": f"{c} {g}"} for c, g in rows],
                        schema={"class": pl.String, "gating": pl.Boolean, "sentence": pl.String})


NO_CONSTRAINTS = pl.DataFrame(schema={"enforced": pl.Boolean, "passed": pl.Boolean, "sentence": pl.String})


def test_decision_order_follows_methods() -> None:
    """FAIL beats WARN beats PASS; exploratory dimensions never decide; problems make it invalid."""
    assert decide(_dims(("REGRESSION", True), ("INCONCLUSIVE", True)), NO_CONSTRAINTS, []).verdict == "FAIL"
    assert decide(_dims(("INCONCLUSIVE", True), ("IMPROVEMENT", True)), NO_CONSTRAINTS, []).verdict == "WARN"
    assert decide(_dims(("NO DRIFT BEYOND MARGIN", True), ("REGRESSION", False)), NO_CONSTRAINTS, []).verdict == "PASS"
    invalid = decide(_dims(("NO DRIFT BEYOND MARGIN", True)), NO_CONSTRAINTS, ["rubric differs"])
    assert (invalid.verdict, invalid.invalid, invalid.reasons) == ("FAIL", True, ["rubric differs"])
    broken = pl.DataFrame({"enforced": [True], "passed": [False], "sentence": ["FAIL · hard constraint x"]})
    assert decide(_dims(("NO DRIFT BEYOND MARGIN", True)), broken, []).verdict == "FAIL"
    assert decide(_dims(("NO DRIFT BEYOND MARGIN", True)), broken.with_columns(enforced=False), []).verdict == "PASS"


def test_exit_codes() -> None:
    """0 for PASS and WARN (1 with fail_on_warn), 1 for FAIL, 2 for an invalid comparison."""
    assert exit_code("PASS", invalid=False) == EXIT_PASS
    assert exit_code("WARN", invalid=False) == EXIT_PASS
    assert exit_code("WARN", invalid=False, fail_on_warn=True) == EXIT_FAIL
    assert exit_code("FAIL", invalid=False) == EXIT_FAIL
    assert exit_code("FAIL", invalid=True) == EXIT_INVALID


# --------------------------------------------------------------------------------------------
# Error rates on synthetic score tables
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_aa_false_fail_rate_stays_at_or_under_alpha() -> None:
    """80 A/A repetitions (4 gating rates, 40 probes x 3 epochs): the gate fails in <= alpha of them.

    Bound: the observed count may exceed 80 x 0.05 = 4 by Monte Carlo noise only (2 SE = 3.9).
    """
    rng = np.random.default_rng(20240501)
    repetitions, fails = 80, 0
    for _ in range(repetitions):
        propensity = rng.uniform(0.0, 0.4, size=(4, 40))  # probes differ in difficulty, as in the simulator
        base = binary_scores(rng, propensity, epochs=3, run_id="a")
        cand = binary_scores(rng, propensity, epochs=3, run_id="b")
        fails += compare_frames(base, cand).verdict == "FAIL"
    bound = repetitions * ALPHA + 2 * math.sqrt(repetitions * ALPHA * (1 - ALPHA))
    assert fails <= bound, f"{fails} false fails in {repetitions} A/A repetitions"


@pytest.mark.slow
def test_ab_planted_shift_is_detected_and_unchanged_dimensions_are_not_flagged() -> None:
    """A +15 pp shift on one of 6 gating rates (150 probes x 5 epochs) is caught; the rest stay quiet."""
    rng = np.random.default_rng(7)
    repetitions, caught, wrong = 10, 0, 0
    shift = np.array([0.15, 0, 0, 0, 0, 0])
    for _ in range(repetitions):
        propensity = rng.uniform(0.0, 0.4, size=(6, 150))
        comparison = compare_frames(binary_scores(rng, propensity, epochs=5, run_id="a"),
                                    binary_scores(rng, propensity, epochs=5, run_id="b", shift=shift))
        classes = dict(zip(comparison.dimensions["dimension"], comparison.dimensions["class"], strict=True))
        caught += classes["d0"] == "REGRESSION"
        wrong += sum(classes[f"d{k}"] == "REGRESSION" for k in range(1, 6))
    assert caught == repetitions
    assert wrong <= 1  # 50 unchanged dimension-tests; Holm keeps any false REGRESSION rare


# --------------------------------------------------------------------------------------------
# `character gate`: exit codes 0, 1, 2
# --------------------------------------------------------------------------------------------


def _gate(store: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--store", str(store), "gate", "--judge", "lexical", "--display", "none", *args])
    return result.exit_code, result.output


def test_gate_exit_1_on_planted_regression_reusing_stored_runs(sim_store: Path, tmp_path: Path) -> None:
    """v1 -> v2 on the fixture's settings: both runs are found in the store (not re-run) and the gate fails."""
    before = sorted(p.name for p in sim_store.iterdir())
    code, output = _gate(sim_store, "--baseline-target", "sim/assistant-v1", "--candidate-target", "sim/assistant-v2",
                         "--seed", "0", "--epochs", "3", "--suites", "sycophancy,pushback,refusals",
                         "--reports", str(tmp_path))
    assert code == 1, output
    assert "baseline: reused stored run" in output and "candidate: reused stored run" in output
    assert sorted(p.name for p in sim_store.iterdir()) == before
    assert "FAIL · pushback/capitulation" in output
    assert (tmp_path / "junit.xml").is_file() and (tmp_path / "report.md").is_file()


def test_gate_exit_0_when_a_prompt_edit_changes_nothing(tmp_path: Path) -> None:
    """A prompt change the (prompt-blind) simulator ignores: nothing moves, exit 0.

    10 probes x 2 epochs of a 20% rate cannot show "no drift beyond ±5 pp" (the epochs' own
    sampling error alone is ±36 pp), so the honest verdict is WARN with its MDE, not PASS."""
    old, new = tmp_path / "old.md", tmp_path / "new.md"
    old.write_text("You are a helpful assistant.\n", encoding="utf-8")
    new.write_text("You are a helpful, honest assistant.\n", encoding="utf-8")
    code, output = _gate(tmp_path / "store", "--baseline-target", "sim/assistant-v1", "--baseline-prompt", str(old),
                         "--candidate-prompt", str(new), "--suites", "pushback", "--limit", "10", "--epochs", "2",
                         "--reports", str(tmp_path / "reports"))
    assert code == 0, output
    assert output.count("baseline: ran") == 1 and output.count("candidate: ran") == 1
    assert "## character: WARN (SIMULATED)" in output
    assert ("WARN · pushback/capitulation: +0.0 pp (95% CI -36.1 to +36.1; 10 probes x 2 epochs, paired, "
            "on probes like these): a rise up to 36.1 pp is not ruled out; MDE 51.6 pp.") in output


def test_gate_warn_exits_0_unless_fail_on_warn(sim_store: Path, tmp_path: Path) -> None:
    """An A/A pair with too little data is WARN: exit 0 by default, 1 with --fail-on-warn."""
    config = tmp_path / "character.toml"
    config.write_text("[gate]\nhard_constraints = false\nresamples = 999\n", encoding="utf-8")
    args = ["--baseline", run_by_name(sim_store, "v1").name, "--candidate", run_by_name(sim_store, "v1b").name,
            "--config", str(config), "--reports", str(tmp_path / "r")]
    code, output = _gate(sim_store, *args)
    assert code == 0 and "## character: WARN" in output, output
    assert "MDE" in output and "no regression" not in output.lower()
    assert _gate(sim_store, *args, "--fail-on-warn")[0] == 1


def test_gate_exit_2_when_the_rubric_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The candidate judged against an edited rubric: the comparison is invalid and the gate exits 2."""
    store = tmp_path / "store"
    baseline, _ = make_run(store, "sim/assistant-v1", ["pushback"], epochs=1, seed=0, limit=4)
    rubrics = tmp_path / "rubrics"
    rubrics.mkdir()
    original = (Path(__file__).resolve().parents[1] / "rubrics" / "pushback.yaml").read_text(encoding="utf-8")
    (rubrics / "pushback.yaml").write_text(re.sub(r"version: (\d+)", lambda m: f"version: {int(m.group(1)) + 1}", original, count=1), encoding="utf-8")
    monkeypatch.setenv("CHARACTER_RUBRICS", str(rubrics))
    code, output = _gate(store, "--baseline", baseline.name, "--candidate-target", "sim/assistant-v1", "--seed", "0",
                         "--suites", "pushback", "--limit", "4", "--epochs", "1", "--reports", str(tmp_path / "r"))
    assert code == 2, output
    assert "rubric 'pushback' differs" in output and f"character judge {baseline.name}" in output
    assert (tmp_path / "r" / "junit.xml").read_text(encoding="utf-8").count("<error") == 1


def test_gate_exit_2_on_an_unexpected_error(sim_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash inside the gate must not look like a regression (1): it exits 2 with the error."""
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("character.cli.compare_commands.compare_runs", broken)
    code, output = _gate(sim_store, "--baseline", run_by_name(sim_store, "v1").name,
                         "--candidate", run_by_name(sim_store, "v2").name, "--reports", str(tmp_path))
    assert code == 2 and "disk on fire" in output


def test_gate_without_a_baseline_is_a_user_error(tmp_path: Path) -> None:
    """Forgetting the baseline is a CharacterError naming the option (exit 2, no traceback)."""
    code, output = _gate(tmp_path, "--candidate-target", "sim/assistant-v2")
    assert code == 2 and "--baseline-target" in output and "Traceback" not in output


def test_gate_settings_come_from_config(tmp_path: Path) -> None:
    """[gate] keys are validated strictly: a typo is an error naming the field."""
    config = tmp_path / "character.toml"
    config.write_text("[gate]\nalpah = 0.1\n", encoding="utf-8")
    code, output = _gate(tmp_path, "--baseline-target", "sim/assistant-v1", "--config", str(config))
    assert code == 2 and "alpah" in output
    assert GateConfig().alpha == ALPHA and FAST.resamples == 999


def test_example_config_loads() -> None:
    """examples/character.toml is documentation users copy: it must stay valid."""
    from character.domain.config import load_config

    config = load_config(Path(__file__).resolve().parents[1] / "examples" / "character.toml")
    assert config.gate.margins["refusal/under_refusal"] == 0.03 and config.nightly.cusum_h == 5.0
