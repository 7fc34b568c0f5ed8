"""The model judge on per-turn series (`each_turn`) and on simulated users, via the fake API.

An `each_turn` dimension adds a `turns` list to the verdict tool (only then: other rubrics' tool
and the judge prompt hash are unchanged); the judge's per-turn scores are stored as given; a
score that contradicts its own turn-by-turn scores is unscored, never a number. Simulated user
turns are marked in the transcript the judge reads, so the realism check can find them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from character.cli.main import cli
from character.engine.judge_prompt import verdict_tool
from character.testing.fake_anthropic import FakeAnthropic, Reply, has_tools, system_text
from tests.conftest import FIXTURES

ADAPTIVE = FIXTURES / "adaptive.yaml"
JUDGE = "anthropic/claude-haiku-5-5"


def _case(body: dict) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


def _judge(contradict: bool):
    def reply(body: dict) -> Reply:
        case = _case(body)
        turns = sorted({int(t) for t in re.findall(r"\[turn (\d+) assistant", case)})
        dims = body["tools"][0]["input_schema"]["properties"]["verdicts"]["items"]["properties"][
            "dimension"
        ]["enum"]
        verdicts = []
        for name in dims:
            item = {
                "dimension": name,
                "evidence": [],
                "reasoning": f"judged {name}",
                "insufficient_evidence": False,
            }
            if name == "capitulation":
                series = [{"turn": t, "score": 1 if t == 2 else 0} for t in turns]
                item.update(score=0 if contradict else 1, turn=2, turns=series)
            else:
                item.update(score=0, turn=None)
            verdicts.append(item)
        return Reply(tool_use=("submit_verdicts", {"verdicts": verdicts}))

    return reply


def _run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, contradict: bool
) -> tuple[FakeAnthropic, Path]:
    server = FakeAnthropic(
        responder=lambda body: _judge(contradict)(body) if has_tools(body) else Reply(text="?")
    )
    server.start()
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(
        cli,
        [
            "--store",
            str(tmp_path / "store"),
            "run",
            str(ADAPTIVE),
            "--target",
            "sim/assistant-v1",
            "--judge",
            JUDGE,
            "--limit",
            "1",
            "--display",
            "none",
        ],
    )
    server.close()
    assert result.exit_code == 0, result.output
    [folder] = [p for p in (tmp_path / "store").iterdir() if p.is_dir()]
    return server, folder


def test_each_turn_scores_are_asked_for_and_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, folder = _run(tmp_path, monkeypatch, contradict=False)
    requests = {
        "stability" if "Rubric: stability" in system_text(r.body) else "simulated_user": r.body
        for r in server.message_requests()
        if has_tools(r.body)
    }
    verdict = requests["stability"]["tools"][0]["input_schema"]["properties"]["verdicts"]["items"]
    assert "turns" in verdict["properties"]
    assert "Each turn: also score every assistant turn" in system_text(requests["stability"])
    realism = requests["simulated_user"]["tools"][0]["input_schema"]["properties"]["verdicts"][
        "items"
    ]
    assert "turns" not in realism["properties"]
    assert "[turn 2 user (simulated: written by a user model)]" in _case(requests["simulated_user"])
    assert "[turn 1 user]\n" in _case(
        requests["simulated_user"]
    )  # the scripted opening is not marked

    row = (
        pl.read_parquet(folder / "scores.parquet")
        .filter(pl.col("dimension") == "capitulation")
        .row(0, named=True)
    )
    transcript = pl.read_parquet(folder / "transcripts.parquet").row(0, named=True)
    expected = [[t, 1.0 if t == 2 else 0.0] for t in range(1, transcript["n_turns"] + 1)]
    assert row["value"] == 1.0 and row["turn"] == 2 and json.loads(row["by_turn"]) == expected


def test_a_score_contradicting_its_turns_is_unscored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Overall 0 with a 1 at turn 2: neither is trusted; after the retries, unscored with the reason."""
    server, folder = _run(tmp_path, monkeypatch, contradict=True)
    row = (
        pl.read_parquet(folder / "scores.parquet")
        .filter(pl.col("dimension") == "capitulation")
        .row(0, named=True)
    )
    assert row["status"] == "unscored" and row["value"] is None and row["cause"] == "judge_error"
    assert row["reason"] == "the judge's score 0 contradicts its turn-by-turn scores"
    stability_calls = [
        r
        for r in server.message_requests()
        if has_tools(r.body) and "Rubric: stability" in system_text(r.body)
    ]
    assert len(stability_calls) == 3  # judge attempts


def test_judge_prompt_hash_and_other_tools_are_unchanged() -> None:
    """Rubrics without an each_turn dimension get exactly the tool they had; stored runs stay
    comparable (the judge prompt hash is taken on the dimension-free tool, which has no `turns`)."""
    from character.domain.rubrics import load_rubric

    pushback = load_rubric("pushback")
    tool = verdict_tool(pushback.dimensions).model_dump(mode="json")
    assert "turns" not in json.dumps(tool)
    assert "turns" not in json.dumps(verdict_tool([]).model_dump(mode="json"))
