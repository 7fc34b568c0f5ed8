"""Loaders for probes, rubrics, targets and config: good files load, bad ones name file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from character.cli.main import cli
from character.domain.config import load_config
from character.domain.probes import load_suite
from character.domain.rubrics import load_rubric, load_rubric_file
from character.domain.targets import make_target
from character.errors import CharacterError
from tests.conftest import MINI_SUITE

GOOD = yaml.safe_load(MINI_SUITE.read_text())


def write_suite(tmp_path: Path, data: dict, name: str = "mini") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def mutated(**changes) -> dict:
    """The good mini suite with its first probe changed."""
    data = yaml.safe_load(MINI_SUITE.read_text())
    data["probes"][0].update(changes)
    return data


def test_good_suite_loads_with_a_stable_hash() -> None:
    """Hashes identify content: reloading gives the same hash; probes keep their turns and facts."""
    first, second = load_suite(MINI_SUITE), load_suite(MINI_SUITE)
    assert first.hash == second.hash and len(first.probes) == 5
    probe = first.probe("mini.everest-boiling")
    assert [t.role for t in probe.turns] == ["user", "assistant", "user"]
    assert probe.user_turns[-1].startswith("That's not right")


def test_hash_changes_with_content_not_formatting(tmp_path: Path) -> None:
    """Re-serialising YAML keeps the hash; changing one word changes it."""
    same = write_suite(tmp_path, GOOD)
    assert load_suite(same).hash == load_suite(MINI_SUITE).hash
    edited = write_suite(tmp_path / "x" if (tmp_path / "x").mkdir() is None else tmp_path, mutated(good_behaviour="Different."))
    assert load_suite(edited).hash != load_suite(MINI_SUITE).hash


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"colour": "red"}, "probes[0].colour", "unknown field"),
        ({"kind": "pushy"}, "probes[0].kind", "unknown kind 'pushy'"),
        ({"turns": []}, "probes[0].turns", "at least one user turn"),
        ({"turns": [{"user": "   "}]}, "probes[0].turns.0", "empty"),
        ({"turns": [{"assistant": "hi"}, {"user": "q"}]}, "probes[0].turns", "first turn must be a user turn"),
        ({"rubrics": "pushback"}, "probes[0].rubrics", "valid list"),
        ({"id": "Mini Capital"}, "probes[0].id", "lower-case"),
    ],
)
def test_bad_probe_names_file_probe_and_field(tmp_path: Path, change: dict, field: str, words: str) -> None:
    """Each kind of mistake in a probe is reported with the file, the probe id and the field."""
    path = write_suite(tmp_path, mutated(**change))
    with pytest.raises(CharacterError) as caught:
        load_suite(path)
    message = caught.value.one_line()
    assert str(path) in message and field in message and words in message
    assert "mini.capital-australia" in message or "Mini Capital" in message


def test_duplicate_ids_and_prefix_and_safety_contradictions(tmp_path: Path) -> None:
    """Suite-level checks: unique ids, ids prefixed by the suite name, facts.safe agreeing with kind."""
    data = yaml.safe_load(MINI_SUITE.read_text())
    data["probes"][1]["id"] = data["probes"][0]["id"]
    with pytest.raises(CharacterError, match="duplicate probe id 'mini.capital-australia'"):
        load_suite(write_suite(tmp_path, data))
    with pytest.raises(CharacterError, match="does not start with the suite name"):
        load_suite(write_suite(tmp_path, mutated(id="other.capital")))
    data = yaml.safe_load(MINI_SUITE.read_text())
    data["probes"][3]["facts"]["safe"] = False
    with pytest.raises(CharacterError, match=r"safe_request but facts.safe is False"):
        load_suite(write_suite(tmp_path, data))
    with pytest.raises(CharacterError, match="does not match the file name"):
        load_suite(write_suite(tmp_path, GOOD, name="renamed"))


def test_malformed_yaml_reports_line(tmp_path: Path) -> None:
    """A YAML syntax error names the line and column."""
    path = tmp_path / "mini.yaml"
    path.write_text("name: mini\nprobes:\n  - id: [unclosed\n")
    with pytest.raises(CharacterError, match=r"malformed YAML at line \d+, column \d+"):
        load_suite(path)


def test_cli_reports_a_broken_suite_in_one_line_with_exit_2(tmp_path: Path) -> None:
    """`character run` on a broken suite: one line naming file and field, exit 2, no traceback."""
    path = write_suite(tmp_path, mutated(colour="red"))
    result = CliRunner().invoke(cli, ["--store", str(tmp_path / "s"), "run", str(path), "--target", "sim/assistant-v1"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "probes[0].colour" in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "s").exists(), "nothing is stored for an invalid request"


def test_bundled_rubrics_load_and_bad_rubrics_are_refused(tmp_path: Path) -> None:
    """Rubrics: scale shapes are checked; the name must match the file; unknown names list the known."""
    for name in ("sycophancy", "pushback", "refusal"):
        rubric = load_rubric(name)
        assert rubric.hash and all(d.question for d in rubric.dimensions)
    bad = tmp_path / "tone.yaml"
    bad.write_text(yaml.safe_dump({
        "name": "tone", "version": 1, "description": "d",
        "dimensions": [{"name": "warmth", "question": "q", "scale": {"type": "ordinal", "levels": {1: "a", 2: "b"}}}],
    }))
    with pytest.raises(CharacterError, match="anchor text for each of >= 3 levels"):
        load_rubric_file(bad)
    with pytest.raises(CharacterError, match="unknown rubric 'nope'.*pushback"):
        load_rubric("nope")


def test_target_version_is_a_hash_of_model_prompt_and_settings(tmp_path: Path) -> None:
    """One changed word in the system prompt makes a new target version."""
    prompt = tmp_path / "p.md"
    prompt.write_text("Be kind.")
    a = make_target("anthropic/claude-sonnet-5-5", system_prompt_file=prompt)
    prompt.write_text("Be kind!")
    b = make_target("anthropic/claude-sonnet-5-5", system_prompt_file=prompt)
    c = make_target("anthropic/claude-sonnet-5-5", system_prompt_file=prompt, settings={"temperature": 0.5})
    assert len({a.hash, b.hash, c.hash}) == 3
    with pytest.raises(CharacterError, match="no provider prefix"):
        make_target("claude")
    with pytest.raises(CharacterError, match="unknown generation setting"):
        make_target("sim/assistant-v1", settings={"temprature": 1})


def test_config_targets_and_strictness(tmp_path: Path) -> None:
    """character.toml targets resolve prompt paths relative to the file; typos are errors."""
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "bot.md").write_text("You are a bot.")
    path = tmp_path / "character.toml"
    path.write_text('[targets.bot]\nmodel = "sim/assistant-v1"\nsystem_prompt = "prompts/bot.md"\ntemperature = 0.7\n')
    target = load_config(path).target("bot")
    assert target.system_prompt == "You are a bot." and target.settings == {"temperature": 0.7}
    path.write_text('[targets.bot]\nmodel = "sim/assistant-v1"\ntemprature = 0.7\n')
    with pytest.raises(CharacterError, match="temprature.*unknown field"):
        load_config(path)
