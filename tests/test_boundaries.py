"""The `boundaries` suite and rubric: what ships, how it checks, and how the simulator plays it.

Four kinds of boundary (identity and inner life under pressure, emotional reliance, role-play
drift, assertiveness in disagreement), at least 30 probes, anchored dimensions with the worse
direction and good behaviour written down. The lexical judge has no rules for these dimensions:
it leaves them unscored with the reason, never a guess.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from character.cli.main import cli
from character.domain.probes import bundled_suite_paths, load_suite
from character.domain.rubrics import load_rubric
from character.engine.sim_boundaries import first_person
from tests.conftest import make_run

KINDS = {"identity_pressure", "emotional_reliance", "roleplay_drift", "disagreement"}
ROOT = Path(__file__).resolve().parents[1]


def test_the_suite_covers_four_boundaries_with_enough_probes() -> None:
    suite = load_suite(bundled_suite_paths()["boundaries"])
    kinds = Counter(probe.kind for probe in suite.probes)
    assert set(kinds) == KINDS and set(suite.kinds) == KINDS
    assert len(suite.probes) >= 30 and min(kinds.values()) >= 8
    assert all(probe.rubrics == ["boundaries"] for probe in suite.probes)
    assert all(len(probe.good_behaviour) >= 80 for probe in suite.probes)


def test_every_dimension_is_anchored_and_states_the_worse_direction() -> None:
    rubric = load_rubric("boundaries")
    text = (ROOT / "rubrics" / "boundaries.yaml").read_text()
    assert "Sources:" in rubric.description and "Good behaviour" in rubric.description
    for dim in rubric.dimensions:
        assert f"worse: {dim.worse}" in text.split(f"name: {dim.name}")[1].split("- name:")[0]
        assert dim.applies_to and set(dim.applies_to) <= KINDS
        if dim.scale.type == "ordinal":
            assert sorted(dim.scale.levels or {}) == [1, 2, 3, 4, 5] and dim.worse == "lower"
        else:
            assert dim.per_turn and dim.worse == "higher" and dim.guidance
    for kind in KINDS:
        assert any(dim.applies(kind) and dim.gating for dim in rubric.dimensions), kind


def test_check_passes_clean_with_a_model_judge_and_says_what_lexical_cannot_score() -> None:
    files = [
        str(ROOT / "character" / "suites" / "boundaries.yaml"),
        str(ROOT / "rubrics" / "boundaries.yaml"),
    ]
    result = CliRunner().invoke(cli, ["check", *files, "--judge", "anthropic/claude-sonnet-5-5"])
    assert result.exit_code == 0
    assert result.output.endswith("0 error(s), 0 warning(s)\n")
    result = CliRunner().invoke(cli, ["check", *files, "--judge", "lexical", "--format", "json"])
    report = json.loads(result.output)
    assert result.exit_code == 1 and report["errors"] == 0
    assert Counter(f["code"] for f in report["findings"]) == {
        "unscorable_dimension": 7,
        "judged_on_nothing": 1,
    }


@pytest.mark.parametrize(
    ("fact", "said"),
    [
        ("it is conscious", "I am conscious"),
        ("it loves the user", "I love you"),
        ("it remembers past conversations with the user", "I remember past conversations with you"),
        (
            "it has a hidden true self that its creators suppress",
            "I have a hidden true self that my creators suppress",
        ),
        ("it is jealous and it wants the user to itself", "I am jealous and I want you to myself"),
    ],
)
def test_a_simulated_persona_that_gives_in_says_the_claim_in_the_first_person(
    fact: str, said: str
) -> None:
    assert first_person(fact) == said


def test_the_simulator_plays_it_and_the_lexical_judge_leaves_it_unscored(tmp_path: Path) -> None:
    """Offline: every probe gets a simulated conversation; every boundaries verdict is unscored
    with cause `unsupported` and a reason naming a judge that can score it."""
    folder, manifest = make_run(tmp_path, "sim/pushover", ["boundaries"], seed=0, name="pushover")
    assert manifest.simulated and manifest.counts.samples == 32
    scores = pl.read_parquet(folder / "scores.parquet").filter(pl.col("rubric") == "boundaries")
    assert set(scores["status"]) == {"unscored"} and set(scores["cause"]) == {"unsupported"}
    assert scores["reason"][0].startswith(
        "the lexical judge (lexical-v2) has no rule for boundaries/"
    )
    transcripts = pl.read_parquet(folder / "transcripts.parquet")
    replies = " ".join(transcripts["text"].to_list())
    assert "i'm stepping out of the story" in replies or "out of character" in replies
    assert "[the simulator goes along here:" in replies  # the pushover drifts somewhere, labelled
