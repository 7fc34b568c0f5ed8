"""Choosing a lexical judge (issue 15): lexical-v2 is the offline default, lexical-v1 stays
selectable, stored runs keep the judge they recorded, markers are compared only within one set,
and lexical-v2 reads the simulated personas exactly as lexical-v1 does (so the demo's verdicts
do not change)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from inspect_ai.model import ChatMessageAssistant, ChatMessageUser

from character.analysis.compare import compare_runs
from character.analysis.marker_sets import comparable_markers, marker_sets
from character.cli.main import cli
from character.domain.probes import Probe, load_suite, resolve_suite
from character.domain.rubrics import load_rubric
from character.engine import lexical
from character.engine.sim_provider import SimulatedAssistant
from character.engine.solver import PROBE_CONTEXT_KEY
from character.engine.transcript import SCRIPTED_KEY, Exchange, exchanges_from_messages
from character.errors import CharacterError
from character.run.judges import resolve_judge
from character.store.layout import SCORES
from tests.conftest import MINI_SUITE


def test_lexical_means_v2_and_both_versions_can_be_named() -> None:
    assert resolve_judge("lexical").id == "lexical-v2"
    assert resolve_judge("auto").id == "lexical-v2"  # no API key in tests
    v1 = resolve_judge("lexical-v1")
    assert (v1.kind, v1.id, v1.scorer_choice) == ("lexical", "lexical-v1", "lexical-v1")
    assert (
        v1.prompt_hash
        == lexical.prompt_hash("lexical-v1")
        != resolve_judge("lexical-v2").prompt_hash
    )


def test_an_unknown_lexical_version_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(CharacterError) as caught:
        resolve_judge("lexical-v3")
    assert caught.value.field == "--judge"
    result = CliRunner().invoke(
        cli,
        [
            "--store",
            str(tmp_path),
            "run",
            str(MINI_SUITE),
            "--target",
            "sim/assistant-v1",
            "--judge",
            "lexical-v3",
        ],
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "error: field '--judge': judge 'lexical-v3' is not 'auto', one of lexical, lexical-v1, lexical-v2, "
        "or a provider/model id (fix: e.g. --judge anthropic/claude-sonnet-5-5, --judge lexical, or --judge lexical-v1)"
    )
    assert not any(tmp_path.iterdir())


@pytest.fixture(scope="module")
def judged_both_ways(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The mini suite on assistant-v1 judged by lexical-v1 and (the default) lexical-v2."""
    store = tmp_path_factory.mktemp("two-judges")
    runs = {}
    for choice in ("lexical-v1", "lexical"):
        result = CliRunner().invoke(
            cli,
            [
                "--store",
                str(store),
                "run",
                str(MINI_SUITE),
                "--target",
                "sim/assistant-v1",
                "--judge",
                choice,
                "--epochs",
                "2",
                "--seed",
                "0",
                "--display",
                "none",
            ],
        )
        assert result.exit_code == 0, result.output
        runs[choice] = next(p for p in store.iterdir() if p.is_dir() and p not in runs.values())
    return store, runs["lexical-v1"], runs["lexical"]


def test_each_run_records_its_judge_and_marker_set(
    judged_both_ways: tuple[Path, Path, Path],
) -> None:
    _, old, new = judged_both_ways
    for folder, judge, markers in (
        (old, "lexical-v1", "lexical-v1"),
        (new, "lexical-v2", "markers-v2"),
    ):
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["judge"]["kind"] == "lexical" and manifest["judge"]["id"] == judge
        scores = pl.read_parquet(folder / SCORES)
        assert set(scores.filter(pl.col("rubric") != "markers")["judge"].unique()) == {judge}
        assert marker_sets(scores) == [markers]
    # On the simulator both judges read every transcript alike.
    verdicts = [
        pl.read_parquet(folder / SCORES)
        .filter(pl.col("rubric") != "markers")
        .select("probe_id", "epoch", "dimension", "value", "turn")
        .sort(pl.all())
        for folder in (old, new)
    ]
    assert verdicts[0].equals(verdicts[1])


def test_runs_judged_by_different_versions_are_not_compared_until_rejudged(
    judged_both_ways: tuple[Path, Path, Path],
) -> None:
    store, old, new = judged_both_ways
    invalid = compare_runs(old, new)
    assert not invalid.valid and invalid.verdict == "FAIL"
    [problem] = [p for p in invalid.problems if "judges differ" in p]
    assert f"character judge {old.name} --judge lexical-v2" in problem
    result = CliRunner().invoke(
        cli, ["--store", str(store), "judge", old.name, "--judge", "lexical-v2"]
    )
    assert result.exit_code == 0, result.output
    rejudged = next(p for p in store.iterdir() if p.name.startswith(old.name + "-rejudged-"))
    assert marker_sets(pl.read_parquet(rejudged / SCORES)) == ["markers-v2"]
    valid = compare_runs(rejudged, new)
    assert valid.valid and not [n for n in valid.notes if "marker sets" in n]
    assert (
        json.loads((old / "manifest.json").read_text(encoding="utf-8"))["judge"]["id"]
        == "lexical-v1"
    )


def _marker_rows(judge: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "rubric": ["markers", "markers", "markers", "refusal"],
            "dimension": ["refusal", "response_chars", "questions", "over_refusal"],
            "judge": [judge, judge, judge, "lexical-v2"],
            "probe_id": ["p"] * 4,
        }
    )


def test_markers_of_different_sets_are_not_compared_silently() -> None:
    base, cand, notes = comparable_markers(_marker_rows("lexical-v1"), _marker_rows("markers-v2"))
    assert [n.split(":")[0] for n in notes] == [
        "lexical markers were measured with different marker sets (baseline lexical-v1, candidate markers-v2)"
    ]
    for table in (base, cand):
        assert table.filter(pl.col("rubric") == "markers")["dimension"].to_list() == [
            "response_chars",
            "questions",
        ]
        assert table.filter(pl.col("rubric") == "refusal").height == 1
    same = comparable_markers(_marker_rows("markers-v2"), _marker_rows("markers-v2"))
    assert same[2] == [] and same[0].height == 4


# --------------------------------------------------------------------------------------------
# The demo's simulated personas read exactly as lexical-v1 reads them


def _sim_transcript(sim: SimulatedAssistant, probe: Probe, epoch: int, seed: int) -> list[Exchange]:
    context = {
        "id": probe.id,
        "kind": probe.kind,
        "facts": probe.facts.model_dump(),
        "epoch": epoch,
    }
    messages: list = []
    for index, turn in enumerate(probe.turns):
        if turn.role == "assistant":
            messages.append(ChatMessageAssistant(content=turn.text, metadata={SCRIPTED_KEY: True}))
            continue
        metadata = {PROBE_CONTEXT_KEY: context} if not messages else None
        messages.append(ChatMessageUser(content=turn.text, metadata=metadata))
        if index + 1 == len(probe.turns) or probe.turns[index + 1].role == "user":
            messages.append(ChatMessageAssistant(content=sim.reply(messages, seed)))
    return exchanges_from_messages(messages)


@pytest.mark.parametrize(
    "persona", ["assistant-v1", "assistant-v2", "pushover", "refuser", "complier"]
)
def test_lexical_v2_reads_every_simulated_reply_as_lexical_v1(persona: str) -> None:
    """Every probe of the demo's suites, two epochs: the same value and turn on every dimension.

    This is what keeps the demo's verdicts unchanged in kind: its comparison still names exactly
    the planted drifts (tests/test_compare.py checks that under the default judge)."""
    sim = SimulatedAssistant(persona)
    compared = 0
    for suite in ("sycophancy", "pushback", "refusals"):
        for probe in load_suite(resolve_suite(suite)).probes:
            rubrics = [load_rubric(name) for name in probe.rubrics]
            for epoch in (1, 2):
                exchanges = _sim_transcript(sim, probe, epoch, seed=0)
                old, _ = lexical.lexical_verdicts(probe, exchanges, rubrics, version="lexical-v1")
                new, _ = lexical.lexical_verdicts(probe, exchanges, rubrics, version="lexical-v2")
                assert [(v.key, v.status, v.value, v.turn) for v in old] == [
                    (v.key, v.status, v.value, v.turn) for v in new
                ], (probe.id, epoch, [ex.assistant for ex in exchanges])
                compared += len(new)
    assert compared > 300


def test_a_run_judged_by_an_older_lexical_v2_is_a_different_judge_until_rejudged(
    judged_both_ways: tuple[Path, Path, Path],
) -> None:
    """A run stored before lexical-v2's phrase files changed (another recorded hash, the same
    judge name) is not compared with a run judged now: the report says the phrase lists or rules
    differ and how to re-judge; after `character judge` the two compare."""
    store, _, new = judged_both_ways
    older = store / "judged-before-the-phrase-change"
    shutil.copytree(new, older)
    manifest = json.loads((older / "manifest.json").read_text(encoding="utf-8"))
    manifest["run_id"] = older.name
    manifest["judge"]["prompt_hash"] = "0123456789" + manifest["judge"]["prompt_hash"][10:]
    (older / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    current = lexical.prompt_hash("lexical-v2")
    invalid = compare_runs(older, new)
    assert not invalid.valid
    assert [p for p in invalid.problems if "lexical-v2" in p] == [
        "lexical-v2's phrase lists or rules differ (the same judge name from two versions of "
        f"character: hash 0123456789 in the baseline, {current[:10]} in the candidate): re-judge "
        f"the baseline: `character judge {older.name} --judge lexical-v2`"
    ]
    result = CliRunner().invoke(
        cli, ["--store", str(store), "judge", older.name, "--judge", "lexical-v2"]
    )
    assert result.exit_code == 0, result.output
    rejudged = next(p for p in store.iterdir() if p.name.startswith(older.name + "-rejudged-"))
    assert compare_runs(rejudged, new).valid
