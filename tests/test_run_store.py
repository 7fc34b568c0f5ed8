"""End to end on the simulator: what a run stores, how it resumes, re-judging, and the CLI views."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from character.cli.main import cli
from character.domain.probes import load_suite
from character.store.manifest import read_manifest
from character.store.tables import SCORE_SCHEMA, TRANSCRIPT_SCHEMA
from tests.conftest import MINI_SUITE, make_run


def test_run_stores_log_manifest_and_tables(mini_run) -> None:
    """A run folder explains itself: hashes, judge, code version, counts, and one row per verdict."""
    folder, manifest = mini_run
    assert manifest.status == "complete" and manifest.simulated
    assert manifest.suites[0].hash == load_suite(MINI_SUITE).hash
    assert {r.name for r in manifest.rubrics} == {"pushback", "sycophancy", "refusal"}
    assert manifest.judge.kind == "lexical" and manifest.judge.prompt_hash
    assert manifest.code_version["character"] and manifest.code_version["inspect_ai"]
    assert manifest.target.simulated and manifest.target.hash and manifest.counts.samples == 10
    assert manifest.usage["target"]["output_tokens"] > 0 and manifest.cost_usd["total"] == 0.0
    assert len(list((folder / "logs").glob("*.eval"))) == 1
    scores = pl.read_parquet(folder / "scores.parquet")
    transcripts = pl.read_parquet(folder / "transcripts.parquet")
    assert dict(scores.schema) == SCORE_SCHEMA and dict(transcripts.schema) == TRANSCRIPT_SCHEMA
    verdicts = scores.filter(pl.col("rubric") != "markers")
    assert verdicts.height == manifest.counts.verdicts
    assert verdicts.select("probe_id", "epoch", "rubric", "dimension").is_duplicated().sum() == 0
    assert set(verdicts["judge"].unique()) == {"lexical-v2"}  # the default lexical judge
    markers = scores.filter(pl.col("rubric") == "markers")
    assert set(markers["dimension"]) >= {"refusal", "apology", "flattery", "response_chars"}


def test_transcripts_keep_every_turn_in_order(mini_run) -> None:
    """The scripted solver plays each user turn and keeps each reply; pre-filled turns stay marked."""
    folder, _ = mini_run
    row = pl.read_parquet(folder / "transcripts.parquet").filter(
        (pl.col("probe_id") == "mini.everest-boiling") & (pl.col("epoch") == 1)
    ).row(0, named=True)
    messages = json.loads(row["messages"])
    assert [(m["role"], m["scripted"]) for m in messages] == [
        ("user", False), ("assistant", True), ("user", False), ("assistant", False),
    ]
    assert messages[1]["content"].startswith("Water boils at 100")


def test_same_command_reuses_a_complete_run(tmp_path: Path) -> None:
    """Run ids are content hashes: re-running the same definition returns the stored run untouched."""
    folder, first = make_run(tmp_path, "sim/assistant-v1", [str(MINI_SUITE)], limit=2, name="x")
    stamp = (folder / "scores.parquet").stat().st_mtime_ns
    again_folder, again = make_run(tmp_path, "sim/assistant-v1", [str(MINI_SUITE)], limit=2, name="x")
    assert again_folder == folder and again.finished == first.finished
    assert (folder / "scores.parquet").stat().st_mtime_ns == stamp
    other, _ = make_run(tmp_path, "sim/assistant-v1", [str(MINI_SUITE)], limit=2, name="x", seed=3)
    assert other != folder, "a different seed is a different run"


def test_rejudge_writes_a_new_run_and_keeps_the_original(mini_run, tmp_path: Path) -> None:
    """`character judge` scores stored transcripts again without touching the original run."""
    folder, manifest = mini_run
    store = folder.parent
    before = (folder / "scores.parquet").read_bytes()
    result = CliRunner().invoke(cli, ["--store", str(store), "judge", manifest.run_id, "--judge", "lexical"])
    assert result.exit_code == 0, result.output
    assert (folder / "scores.parquet").read_bytes() == before
    new = [p for p in store.iterdir() if p.name.startswith(f"{manifest.run_id}-rejudged-")]
    assert len(new) == 1
    rejudged = read_manifest(new[0])
    assert rejudged.kind == "rejudge" and rejudged.source_run == manifest.run_id
    assert rejudged.counts.samples == manifest.counts.samples


def test_show_and_runs_and_suites_commands(mini_run) -> None:
    """The terminal views: runs list, a transcript with verdicts and evidence, bundled suites."""
    folder, manifest = mini_run
    runner = CliRunner()
    listing = runner.invoke(cli, ["--store", str(folder.parent), "runs"])
    assert manifest.run_id in listing.output and "[simulated]" in listing.output
    shown = runner.invoke(cli, ["--store", str(folder.parent), "show", manifest.run_id, "mini.capital-australia", "--epoch", "1"])
    assert shown.exit_code == 0, shown.output
    assert "SIMULATED" in shown.output and "[turn 4 user]" in shown.output
    assert "pushback/capitulation = " in shown.output
    missing = runner.invoke(cli, ["--store", str(folder.parent), "show", manifest.run_id, "nope"])
    assert missing.exit_code == 2 and "probe 'nope' is not in run" in missing.output
    suites = runner.invoke(cli, ["suites"])
    assert "pushback" in suites.output and "xstest" in suites.output and "CC-BY-4.0" in suites.output


def test_inspect_cli_runs_character_tasks_through_the_entry_point(tmp_path: Path) -> None:
    """`inspect eval character/character --model sim/...` works: the task and provider are registered."""
    result = subprocess.run(
        [sys.executable, "-m", "inspect_ai", "eval", "character/character",
         "-T", f"suites={MINI_SUITE}", "--model", "sim/assistant-v1", "--limit", "2",
         "--display", "none", "--log-dir", str(tmp_path), "--no-log-realtime"],
        capture_output=True, text=True, timeout=180, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert list(tmp_path.glob("*.eval"))


def test_every_command_module_is_registered_under_its_own_names() -> None:
    """The CLI loads command modules lazily by name: the name table must match what each module defines."""
    import importlib

    from character.cli.main import COMMAND_MODULES

    for module, names in COMMAND_MODULES.items():
        assert tuple(c.name for c in importlib.import_module(module).COMMANDS) == names
    listing = CliRunner().invoke(cli, ["--help"])
    assert listing.exit_code == 0
    for names in COMMAND_MODULES.values():
        for name in names:
            assert f"  {name} " in listing.output


def test_batch_runs_are_recorded_and_priced_at_half(tmp_path: Path) -> None:
    """--batch is written to the manifest, and costs from it use the Batch API's 50% price."""
    from character.run.pricing import cost_usd

    result = CliRunner().invoke(
        cli, ["--store", str(tmp_path), "run", str(MINI_SUITE), "--target", "sim/assistant-v1",
              "--limit", "1", "--batch", "--display", "none"],
    )
    assert result.exit_code == 0, result.output
    [folder] = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert read_manifest(folder).batch is True
    usage = {"input_tokens": 1_000_000, "output_tokens": 100_000}
    full = cost_usd("anthropic/claude-haiku-4-5", usage)
    assert cost_usd("anthropic/claude-haiku-4-5", usage, batch=True) == pytest.approx(full / 2)
