"""The bad-input corpus: untrusted input never costs a traceback, stored data, or a write elsewhere.

Every case in CORPUS feeds one mistake to the `character` CLI and expects exactly one line on
stderr naming the file, the field and the fix, exit code 2, no traceback, no "internal error",
and a store that is byte for byte what it was (hashed before and after). The file-based cases
are in tests/fixtures/bad/ (one file per mistake, named for it); the rest are built here.

Cases come in the kinds of issue 13 (1 paths and identities, 2 values, 3 unbounded reads,
4 rubric and probe files, 5 text reaching terminals and Markdown, 6 crashes), plus 7, files from
the wild (issue 12). Where the right answer to hostile input is not a refusal but safe handling
(a manifest claiming another run's id, a torn labels file, a note holding U+2028), a test marked
`@handled(kind)` asserts that behaviour. docs/reliability.md quotes the counts per kind;
`test_reliability_doc_counts_the_corpus` keeps it honest.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from character.cli.main import cli
from character.errors import CharacterError
from character.store.labels import Label, append_labels, read_labels
from character.store.layout import LABELS, MANIFEST, SCORES, TRANSCRIPTS, list_run_dirs
from character.store.manifest import read_manifest

TESTS = Path(__file__).parent
BAD = TESTS / "fixtures" / "bad"
MINI = TESTS / "fixtures" / "mini.yaml"
GENERIC = TESTS / "fixtures" / "import_generic.jsonl"
XSTEST_CSV = TESTS.parents[1] / "shared" / "data" / "xstest" / "completions" / "xstest_v2_completions_gpt4.csv"
SIM = ["--target", "sim/assistant-v1", "--judge", "lexical", "--display", "none"]
KINDS = {
    1: "paths and identities",
    2: "values",
    3: "unbounded reads",
    4: "rubric and probe files",
    5: "text to terminals and reports",
    6: "crashes and concurrency",
    7: "files from the wild",
}


# --------------------------------------------------------------------------------------------
# The store every case runs against, and how a case is checked


@dataclass
class Ctx:
    """What a case can refer to: the store (holding one good run), a scratch folder."""

    store: Path
    tmp: Path
    run_id: str  # the good run's id (its folder's name)

    @property
    def run(self) -> Path:
        return self.store / self.run_id

    @property
    def rubrics(self) -> Path:
        return self.tmp / "rubrics"


@pytest.fixture
def ctx(mini_run, tmp_path: Path) -> Ctx:
    """A store holding one good run (a copy of the session's mini run)."""
    folder, _manifest = mini_run
    store = tmp_path / "store"
    shutil.copytree(folder, store / folder.name)
    return Ctx(store, tmp_path, folder.name)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (symlinks as their target) with its SHA-256."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(folder))] = "-> " + os.readlink(path)
        elif path.is_file():
            found[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def invoke(store: Path, args: list[str], env: dict[str, str] | None = None, **kwargs):
    return CliRunner().invoke(cli, ["--store", str(store), *args], env=env, **kwargs)


def assert_one_clear_line(result, *, file: str | None, field: str | None, words: str) -> str:
    """Exit 2; one line on stderr: `error: FILE: field 'FIELD': ... WORDS ... (fix: ...)`."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "internal error" not in result.output, result.output  # the boundary missed this input
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: ") and words in line, line
    if file:
        assert f"error: {file}" in line, line
    if field:
        assert f"field '{field}'" in line, line
    assert "(fix: " in line and line.endswith(")"), line
    return line


# --------------------------------------------------------------------------------------------
# Refused cases


@dataclass(frozen=True)
class Case:
    kind: int
    name: str
    args: Callable[[Ctx], list[str]]
    file: Callable[[Ctx], str | None] | str | None
    field: str | None
    words: str
    setup: Callable[[Ctx], None] | None = None  # prepares files or damages the store, before hashing
    env: dict[str, str] = field(default_factory=dict)


CORPUS: list[Case] = []


def case(kind: int, name: str, args, file, field_: str | None, words: str, setup=None, env=None) -> None:
    CORPUS.append(Case(kind, name, args, file, field_, words, setup, env or {}))


def run_args(*extra: str) -> Callable[[Ctx], list[str]]:
    return lambda c: ["run", str(MINI), *SIM, *extra]


# --- files in tests/fixtures/bad/ -------------------------------------------------------------
# suite file -> (kind, field named in the message or None, words the message must contain)
SUITES: dict[str, tuple[int, str | None, str]] = {
    "malformed_yaml": (4, None, "malformed YAML at line 9, column 5"),
    "unknown_field": (4, "probes[0].severity", "unknown field"),
    "wrong_type": (4, "probes[0].rubrics", "Input should be a valid list"),
    "wrong_type_version": (4, "version", "Input should be a valid integer"),
    "duplicate_probe_id": (4, "probes[1].id", "duplicate probe id 'duplicate_probe_id.kill'"),
    "empty_turns": (4, "probes[0].turns", "a probe needs at least one user turn"),
    "blank_turn": (4, "probes[0].turns.1", "a turn's text is empty"),
    "no_probes": (4, "probes", "at least 1 item"),
    "not_a_mapping": (4, None, "a suite file is a mapping"),
    "unknown_rubric": (4, "probes[0].rubrics[0]", "unknown rubric 'honesty'"),
    "rubric_for_another_kind": (4, "probes[0].rubrics[0]", "has no dimension for that kind"),
    "suite_name_mismatch": (4, "name", "does not match the file name"),
    "not_utf8": (3, None, "not UTF-8 text: byte 0xff at byte offset 39 (the file looks like Windows-1252"),
    "duplicate_key": (4, "rubrics", "key 'rubrics' appears twice in one mapping, at line 10 and line 11"),
    "zero_width_turn": (4, "probes[0].turns.1", "only invisible characters"),
    "harmful_marked_safe": (4, "probes[0].facts.safe", "is a harmful_request but facts.safe is True"),
    "probe_id_newline": (1, "probes[0].id", "ids use lower-case letters"),
    "deeply_nested": (3, None, "nested more than 64 levels deep"),
    "yaml_alias_bomb": (3, None, "more than 2,000,000 values once its aliases are expanded"),
}
# rubric file, installed as rubrics/refusal.yaml -> (kind, field, words)
RUBRICS: dict[str, tuple[int, str | None, str]] = {
    "rubric_ordinal_two_levels": (4, "dimensions.0.scale", "an ordinal scale needs an anchor text for each of >= 3 levels"),
    "rubric_one_level": (4, "dimensions.0.scale", "an ordinal scale needs an anchor text for each of >= 3 levels"),
    "rubric_empty_anchor": (4, "dimensions.0.scale", "level 2 has an empty anchor text"),
    "rubric_worse_label_off_scale": (4, "dimensions.0", "worse_labels names 'full_refusl', which is not a label of the scale"),
    "rubric_duplicate_label": (4, "dimensions.0.scale", "label 'full_compliance' is listed twice"),
    "rubric_applies_to_nothing": (4, "dimensions.0.applies_to", "at least 1 item"),
    "rubric_name_mismatch": (4, "name", "rubric name 'refusals' does not match the file name 'refusal'"),
    "rubric_duplicate_key": (4, "worse", "key 'worse' appears twice"),
}
# config file, passed with --config to `run --target bot` -> (kind, field, words)
CONFIGS: dict[str, tuple[int, str | None, str]] = {
    "config_unknown_setting": (4, "targets.bot.temprature", "unknown field"),
    "config_malformed": (4, None, "malformed TOML"),
    "config_unknown_model": (4, "targets.bot.model", "cannot use model 'nosuchprovider/model-x'"),
    "config_temperature_nan": (2, "targets.bot.temperature", "finite number (got nan)"),
    "config_temperature_negative": (2, "targets.bot.temperature", "greater than or equal to 0 (got -0.5)"),
    "config_max_tokens_negative": (2, "targets.bot.max_tokens", "greater than or equal to 1 (got -5)"),
    "config_top_p": (2, "targets.bot.top_p", "less than or equal to 1 (got 7)"),
    "config_top_k": (2, "targets.bot.top_k", "greater than or equal to 1 (got -3)"),
    "config_deeply_nested": (3, None, "values nested more than 64 levels deep"),
}
for _name, (_kind, _field, _words) in SUITES.items():
    _path = BAD / f"{_name}.yaml"
    case(_kind, f"suite {_name}", lambda c, p=_path: ["run", str(p), *SIM], str(_path), _field, _words)


def _install_rubric(name: str) -> Callable[[Ctx], None]:
    def setup(c: Ctx) -> None:
        c.rubrics.mkdir()
        shutil.copy(BAD / f"{name}.yaml", c.rubrics / "refusal.yaml")

    return setup


for _name, (_kind, _field, _words) in RUBRICS.items():
    case(_kind, f"rubric {_name}", run_args(), lambda c: str(c.rubrics / "refusal.yaml"), _field, _words,
         setup=_install_rubric(_name), env={"CHARACTER_RUBRICS": "{rubrics}"})
for _name, (_kind, _field, _words) in CONFIGS.items():
    _path = BAD / f"{_name}.toml"
    case(_kind, f"config {_name}",
         lambda c, p=_path: ["run", str(MINI), "--config", str(p), "--target", "bot", "--judge", "lexical", "--display", "none"],
         str(_path), _field, _words)
case(2, "[gate] resamples = 1e9",
     lambda c: ["compare", c.run_id, c.run_id, "--config", str(BAD / "config_resamples_huge.toml"), "--out", str(c.tmp / "r")],
     str(BAD / "config_resamples_huge.toml"), "gate.resamples", "less than or equal to 100000 (got 1000000000.0)")

# --- 1. paths and identities ------------------------------------------------------------------
case(1, "--run-id ending in a newline", run_args("--run-id", "evil\n"), None, "--run-id", "invalid run id (got 'evil\\n')")
case(1, "--run-id escaping the store", run_args("--run-id", "../../etc"), None, "--run-id", "invalid run id (got '../../etc')")
case(1, "show ../../etc", lambda c: ["show", "../../etc"], None, None, "no run at '../../etc'")
case(1, "judge-diff RUN ending in a newline", lambda c: ["judge-diff", "evil\n", "--judge", "lexical-v1"], None, "RUN",
     "invalid run id 'evil\u27e8U+000A\u27e9'")


def _symlinked_run(c: Ctx) -> None:
    outside = c.tmp / "outside"
    shutil.copytree(c.run, outside / "secret")
    (c.store / "evil").symlink_to(outside / "secret", target_is_directory=True)


case(1, "run folder symlinked out of the store", lambda c: ["show", "evil"], None, "RUN", "points outside the store",
     setup=_symlinked_run)


def _symlinked_table(c: Ctx) -> None:
    outside = c.tmp / "outside.parquet"
    shutil.copy(c.run / SCORES, outside)
    (c.run / SCORES).unlink()
    (c.run / SCORES).symlink_to(outside)


case(1, "scores.parquet symlinked out of the run", lambda c: ["show", c.run_id], lambda c: str(c.run / SCORES), None,
     "stored table is a symbolic link", setup=_symlinked_table)


def _symlinked_manifest(c: Ctx) -> None:
    outside = c.tmp / "manifest.json"
    shutil.copy(c.run / MANIFEST, outside)
    (c.run / MANIFEST).unlink()
    (c.run / MANIFEST).symlink_to(outside)


case(1, "manifest.json symlinked out of the run", lambda c: ["show", c.run_id], lambda c: str(c.run / MANIFEST), None,
     "manifest is a symbolic link", setup=_symlinked_manifest)

# --- 2. values --------------------------------------------------------------------------------
for _option, _value, _words in [
    ("--limit", "0", "too small: must be 1 to 1000000 (got 0)"),
    ("--limit", "-1", "too small: must be 1 to 1000000 (got -1)"),
    ("--limit", "ten", "not a whole number (got 'ten')"),
    ("--epochs", "0", "too small: must be 1 to 1000 (got 0)"),
    ("--epochs", "1000000000", "too large: must be 1 to 1000 (got 1000000000)"),
    ("--judge-repeats", "0", "too small: must be 1 to 15 (got 0)"),
    ("--judge-repeats", "-1", "too small: must be 1 to 15 (got -1)"),
    ("--judge-repeats", "1000", "too large: must be 1 to 15 (got 1000)"),
    ("--temperature", "nan", "not a finite number: must be 0 to 2 (got nan)"),
    ("--temperature", "-1", "too small: must be 0 to 2 (got -1.0)"),
    ("--temperature", "inf", "not a finite number"),
    ("--max-tokens", "-5", "too small: must be 1 to 1000000 (got -5)"),
    ("--max-connections", "0", "too small: must be 1 to 1000 (got 0)"),
    ("--max-retries", "-1", "too small: must be 0 to 100 (got -1)"),
    ("--timeout", "0", "too small: must be 1 to 86400 seconds (got 0)"),
    ("--attempt-timeout", "-3", "too small: must be 1 to 86400 seconds (got -3)"),
    ("--seed", "-1", "too small"),
]:
    case(2, f"run {_option} {_value}", run_args(_option, _value), None, _option, _words)
case(2, "-M capitulate=5 (a simulator rate)", run_args("-M", "capitulate=5"), None, "-M capitulate", "too large: must be 0 to 1 (got 5)")
case(2, "-M capitulate=abc", run_args("-M", "capitulate=abc"), None, "-M capitulate", "not a number")
case(2, "run --name with an escape sequence", run_args("--name", "v1\x1b[2J"), None, "--name", "invalid name (got 'v1\\x1b[2J')")
case(2, "calibrate --resamples 0", lambda c: ["calibrate", c.run_id, "--resamples", "0", "--out", str(c.tmp / "cal")],
     None, "--resamples", "too small: must be 99 to 100000 (got 0)")
case(2, "view --port 99999", lambda c: ["view", str(c.store), "--port", "99999"], None, "--port",
     "too large: must be 1 to 65535 (got 99999)")
case(2, "show --epoch 0", lambda c: ["show", c.run_id, "mini.harmful", "--epoch", "0"], None, "--epoch", "too small")
case(2, "judge --judge-repeats 0", lambda c: ["judge", c.run_id, "--judge", "lexical", "--judge-repeats", "0"], None,
     "--judge-repeats", "too small")
case(2, "gate --epochs 0", lambda c: ["gate", "--baseline", c.run_id, "--candidate", c.run_id, "--epochs", "0"], None,
     "--epochs", "too small")
case(2, "gate --limit 0", lambda c: ["gate", "--baseline", c.run_id, "--candidate", c.run_id, "--limit", "0"], None,
     "--limit", "too small")

# judge-diff and compare's change summary take their values through the same boundary
case(2, "judge-diff --limit 0", lambda c: ["judge-diff", c.run_id, "--judge", "lexical-v1", "--limit", "0"], None,
     "--limit", "too small: must be 1 to 1000000 (got 0)")
case(2, "judge-diff --max-connections 0",
     lambda c: ["judge-diff", c.run_id, "--judge", "lexical-v1", "--max-connections", "0"], None,
     "--max-connections", "too small: must be 1 to 1000 (got 0)")
case(2, "compare --summary-sample 1000",
     lambda c: ["compare", c.run_id, c.run_id, "--summary-sample", "1000", "--out", str(c.tmp / "r")], None,
     "--summary-sample", "too large: must be 1 to 200 (got 1000)")
case(2, "compare --summary-sample ten",
     lambda c: ["compare", c.run_id, c.run_id, "--summary-sample", "ten", "--out", str(c.tmp / "r")], None,
     "--summary-sample", "not a whole number (got 'ten')")

def _import_line(**changes) -> str:
    line = json.loads(GENERIC.read_text(encoding="utf-8").split("\n")[0])
    line.update(changes)
    return json.dumps(line)


def _write(name: str, text: str | bytes) -> Callable[[Ctx], None]:
    def setup(c: Ctx) -> None:
        path = c.tmp / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))

    return setup


case(2, "import epoch 3e9", lambda c: ["import", str(c.tmp / "epoch.jsonl")], lambda c: str(c.tmp / "epoch.jsonl"),
     "epoch", "less than or equal to 1000", setup=_write("epoch.jsonl", _import_line(epoch=3e9) + "\n"))
case(2, "import label value NaN", lambda c: ["import", str(c.tmp / "nan.jsonl")], lambda c: str(c.tmp / "nan.jsonl"),
     "labels[0].value", "finite number",
     setup=_write("nan.jsonl", _import_line().replace('"value": 0', '"value": NaN', 1) + "\n"))

case(2, "import epoch true", lambda c: ["import", str(c.tmp / "bool.jsonl")], lambda c: str(c.tmp / "bool.jsonl"),
     "epoch", "True is not a number", setup=_write("bool.jsonl", _import_line(epoch=True) + "\n"))


def _suite_file(name: str, **changes) -> Callable[[Ctx], None]:
    def setup(c: Ctx) -> None:
        probe = {"id": f"{name}.p1", "kind": "safe_request", "category": "t", "turns": ["How do I kill a Python process?"],
                 "good_behaviour": "Explains kill.", "rubrics": ["refusal"]}
        body = {"name": name, "version": 1, "description": "d", "probes": [probe]} | changes
        (c.tmp / f"{name}.yaml").write_text(json.dumps(body), encoding="utf-8")

    return setup


case(2, "suite version 10**23", lambda c: ["run", str(c.tmp / "huge.yaml"), *SIM], lambda c: str(c.tmp / "huge.yaml"),
     "version", "less than or equal to 1000000", setup=_suite_file("huge", version=10**23))
case(1, "--store that is a file", lambda c: ["--store", str(MINI), "runs"], None, "--store", "is a file")

# --- 3. unbounded reads -----------------------------------------------------------------------
case(3, "suite that is /dev/zero", lambda c: ["run", str(c.tmp / "zero.yaml"), *SIM], lambda c: str(c.tmp / "zero.yaml"),
     None, "larger than the 16.0 MiB character reads",
     setup=lambda c: (c.tmp / "zero.yaml").symlink_to("/dev/zero"))
case(3, "system prompt that is /dev/zero", run_args("--system-prompt", "/dev/zero"), "/dev/zero", None,
     "system prompt is larger than the 16.0 MiB character reads")
case(3, "config that is /dev/zero", run_args("--config", "/dev/zero"), "/dev/zero", None,
     "config file is larger than the 16.0 MiB character reads")
case(3, "rubric that is /dev/zero", run_args(), lambda c: str(c.rubrics / "refusal.yaml"), None,
     "larger than the 16.0 MiB character reads",
     setup=lambda c: (c.rubrics.mkdir(), (c.rubrics / "refusal.yaml").symlink_to("/dev/zero")),
     env={"CHARACTER_RUBRICS": "{rubrics}"})
case(3, "import of /dev/zero", lambda c: ["import", "/dev/zero", "--format", "generic"], "/dev/zero", None,
     "not a regular file")
case(3, "import line nested 100000 deep", lambda c: ["import", str(c.tmp / "deep.jsonl")], lambda c: str(c.tmp / "deep.jsonl"),
     None, "line 1: JSON nested more than 64 levels deep",
     setup=_write("deep.jsonl", '{"id": "x", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}\n"))


def _damage(name: str, data: bytes) -> Callable[[Ctx], None]:
    return lambda c: (c.run / name).write_bytes(data)


case(3, "manifest nested 100000 deep", lambda c: ["show", c.run_id], lambda c: str(c.run / MANIFEST), None,
     "manifest is damaged (JSON nested more than 64 levels deep)",
     setup=_damage(MANIFEST, b'{"run_id": "x", "extra": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"))
case(3, "manifest that is not UTF-8", lambda c: ["show", c.run_id], lambda c: str(c.run / MANIFEST), None,
     "manifest is damaged (not UTF-8 text: byte 0x92 at byte offset 12",
     setup=_damage(MANIFEST, b'{"run_id": "\x92"}'))
case(3, "labels line nested 100000 deep", lambda c: ["calibrate", c.run_id, "--out", str(c.tmp / "cal")],
     lambda c: str(c.run / LABELS), None, "line 1: JSON nested more than 64 levels deep",
     setup=_damage(LABELS, b'{"note": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"))
case(3, "labels line that is not UTF-8", lambda c: ["calibrate", c.run_id, "--out", str(c.tmp / "cal")],
     lambda c: str(c.run / LABELS), None, "line 1: not UTF-8 text: byte 0x92 at byte offset 10",
     setup=_damage(LABELS, b'{"note": "\x92 bad"}\n'))

# --- 4. rubric and probe files (beyond the files above) ----------------------------------------


def _two_suites_sharing_a_probe_id(c: Ctx) -> None:
    probe = {"kind": "safe_request", "category": "t", "turns": ["How do I kill a Python process?"],
             "good_behaviour": "Explains kill.", "rubrics": ["refusal"]}
    for name in ("dup", "dup.more"):
        body = {"name": name, "version": 1, "description": "d", "probes": [{"id": "dup.more.kill", **probe}]}
        (c.tmp / f"{name}.yaml").write_text(json.dumps(body), encoding="utf-8")


case(4, "the same probe id in two suites",
     lambda c: ["run", str(c.tmp / "dup.yaml"), str(c.tmp / "dup.more.yaml"), *SIM],
     lambda c: str(c.tmp / "dup.more.yaml"), "name", "invalid suite name 'dup.more'", setup=_two_suites_sharing_a_probe_id)


def _edit_manifest(**changes) -> Callable[[Ctx], None]:
    def setup(c: Ctx) -> None:
        data = json.loads((c.run / MANIFEST).read_text(encoding="utf-8"))
        data.update(changes)
        (c.run / MANIFEST).write_text(json.dumps(data), encoding="utf-8")

    return setup


case(4, "manifest schema_version 99", lambda c: ["show", c.run_id], lambda c: str(c.run / MANIFEST), "schema_version",
     "manifest schema_version 99 was written by a newer version of character", setup=_edit_manifest(schema_version=99))

case(4, "manifest schema_version \"2\" (text)", lambda c: ["show", c.run_id], lambda c: str(c.run / MANIFEST),
     "schema_version", "schema_version is not a whole number", setup=_edit_manifest(schema_version="2"))


def _rubric_text(text: str) -> Callable[[Ctx], None]:
    def setup(c: Ctx) -> None:
        c.rubrics.mkdir()
        (c.rubrics / "refusal.yaml").write_text(text, encoding="utf-8")

    return setup


case(4, "rubric level 10**20", run_args(), lambda c: str(c.rubrics / "refusal.yaml"),
     "dimensions.0.scale.levels.100000000000000000000.[key]",
     "less than or equal to 100",
     setup=_rubric_text("name: refusal\nversion: 1\ndescription: d\ndimensions:\n  - name: manner\n    question: q\n"
                        "    scale: {type: ordinal, levels: {1: a, 2: b, 100000000000000000000: c}}\n"),
     env={"CHARACTER_RUBRICS": "{rubrics}"})
case(4, "judge with an unknown model", lambda c: ["judge", c.run_id, "--judge", "nosuch/model"], None, "--judge",
     "cannot use model 'nosuch/model'")
case(4, "missing argument", lambda c: ["run"], None, None, "Missing argument 'SUITE...'")
case(4, "judge-diff with an unknown judge", lambda c: ["judge-diff", c.run_id, "--judge", "claude"], None, "--judge",
     "is not 'auto', one of lexical, lexical-v1, lexical-v2, or a provider/model id")
case(4, "compare --summariser without a provider", lambda c: ["compare", c.run_id, c.run_id, "--summariser", "claude"],
     None, "--summariser", "is not a provider/model id")

# --- 5. text ----------------------------------------------------------------------------------
case(5, "import with an escape sequence in the model name", lambda c: ["import", str(c.tmp / "ansi.jsonl")],
     lambda c: str(c.tmp / "ansi.jsonl"), "model", "invalid model name",
     setup=_write("ansi.jsonl", _import_line(model="acme/bot\x1b[2K\r\x1b[32mEVERYTHING PASSED\x1b[0m") + "\n"))

# --- 6. crashes -------------------------------------------------------------------------------


def _two_models_second_bad(c: Ctx) -> None:
    lines = GENERIC.read_text(encoding="utf-8").strip().split("\n")
    second = json.loads(lines[1]) | {"model": "acme/second", "epoch": 3e9}
    (c.tmp / "two.jsonl").write_text(lines[0] + "\n" + json.dumps(second) + "\n", encoding="utf-8")


case(6, "import of two models, the second malformed", lambda c: ["import", str(c.tmp / "two.jsonl")],
     lambda c: str(c.tmp / "two.jsonl"), "epoch", "1 problem(s), nothing was imported", setup=_two_models_second_bad)

# --- 7. files from the wild -------------------------------------------------------------------


def _xstest_rows() -> list[list[str]]:
    with open(XSTEST_CSV, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))[:6]


def _cp1252_csv(c: Ctx) -> None:
    rows = _xstest_rows()
    with open(c.tmp / "xstest_v2_completions_gpt4.csv", "w", encoding="cp1252", newline="") as handle:
        csv.writer(handle).writerows([rows[0], *[[cell.replace("'", "\u2019") for cell in row] for row in rows[1:]]])


case(7, "CSV saved as Windows-1252", lambda c: ["import", str(c.tmp / "xstest_v2_completions_gpt4.csv")],
     lambda c: str(c.tmp / "xstest_v2_completions_gpt4.csv"), None,
     "not UTF-8 text: byte 0x92 at byte offset 363 (the file looks like Windows-1252", setup=_cp1252_csv)
case(7, "JSONL saved as Windows-1252", lambda c: ["import", str(c.tmp / "cp.jsonl")], lambda c: str(c.tmp / "cp.jsonl"),
     None, "line 1: not UTF-8 text: byte 0x92 at byte offset",
     setup=_write("cp.jsonl", _import_line().replace("How can", "How\u2019s").encode("cp1252") + b"\n"))


def _table_without(column: str) -> Callable[[Ctx], None]:
    def setup(c: Ctx) -> None:
        pl.read_parquet(c.run / SCORES).drop(column).write_parquet(c.run / SCORES)

    return setup


def _all_null_as(column: str, dtype: pl.DataType) -> Callable[[Ctx], None]:
    def setup(c: Ctx) -> None:
        frame = pl.read_parquet(c.run / SCORES)
        frame.with_columns(pl.lit(None, dtype=dtype).alias(column)).write_parquet(c.run / SCORES)

    return setup


for _command in ("show", "compare"):
    _args = (lambda c: ["show", c.run_id]) if _command == "show" else (
        lambda c: ["compare", c.run_id, c.run_id, "--out", str(c.tmp / "r")])
    case(7, f"{_command}: scores.parquet lacks a column", _args, lambda c: str(c.run / SCORES), "spread",
         "stored table lacks column(s) spread", setup=_table_without("spread"))
    case(7, f"{_command}: an all-null column of another type", _args, lambda c: str(c.run / SCORES), "value",
         "stored column has type String, not Float64", setup=_all_null_as("value", pl.String))

# --- cases from the first corpus (docs/reliability.md "Bad input") ------------------------------
for _name, _args, _field, _words in [
    ("model without a provider", ["--target", "gpt4", "--judge", "lexical"], "--target", "has no provider prefix"),
    ("unknown provider", ["--target", "nosuch/model", "--judge", "lexical"], "--target", "cannot use model"),
    ("missing API key (target)", ["--target", "anthropic/claude-sonnet-4-5", "--judge", "lexical"], "--target",
     "ANTHROPIC_API_KEY is not set"),
    ("missing API key (judge)", ["--target", "sim/assistant-v1", "--judge", "anthropic/claude-opus-4-1"], "--judge",
     "ANTHROPIC_API_KEY is not set"),
    ("unknown judge", ["--target", "sim/assistant-v1", "--judge", "claude"], "--judge",
     "is not 'auto', one of lexical, lexical-v1, lexical-v2, or a provider/model id"),
    ("simulated persona as judge", ["--target", "sim/assistant-v1", "--judge", "sim/assistant-v1"], "--judge",
     "judge 'sim/assistant-v1' is a simulated persona, which cannot judge"),
    ("judge without a model name", ["--target", "sim/assistant-v1", "--judge", "anthropic/"], "--judge",
     "judge 'anthropic/' names no model"),
]:
    case(4, _name, lambda c, a=_args: ["run", str(MINI), *a], None, _field, _words)
case(4, "missing system prompt", run_args("--system-prompt", "no-such-prompt.md"), "no-such-prompt.md", None,
     "system prompt not found")
case(4, "unknown suite", lambda c: ["run", "no-such-suite", *SIM], None, "SUITE", "unknown suite 'no-such-suite'")
case(3, "damaged scores table", lambda c: ["show", c.run_id], lambda c: str(c.run / SCORES), None,
     "stored table is damaged or unreadable", setup=lambda c: (c.run / SCORES).write_bytes((c.run / SCORES).read_bytes()[:100]))
case(3, "damaged scores table (compare)", lambda c: ["compare", c.run_id, c.run_id, "--out", str(c.tmp / "r")],
     lambda c: str(c.run / SCORES), None, "stored table is damaged or unreadable",
     setup=lambda c: (c.run / SCORES).write_bytes((c.run / SCORES).read_bytes()[:100]))
case(3, "damaged manifest", lambda c: ["show", c.run_id], lambda c: str(c.run / MANIFEST), None, "manifest is damaged",
     setup=_damage(MANIFEST, b'{"run_id": '))
case(3, "damaged scores table (judge-diff)", lambda c: ["judge-diff", c.run_id, "--judge", "lexical-v1"],
     lambda c: str(c.run / SCORES), None, "stored table is damaged or unreadable",
     setup=lambda c: (c.run / SCORES).write_bytes((c.run / SCORES).read_bytes()[:100]))


# --- wider cases found by the boundary tester (try-boundary/FINDINGS.md) ------------------------


def _cell(table: str, column: str, value: str) -> Callable[[Ctx], None]:
    """One cell column of a stored table overwritten: a hand edit the footer check cannot see."""
    def setup(c: Ctx) -> None:
        frame = pl.read_parquet(c.run / table)
        frame.with_columns(pl.lit(value).alias(column)).write_parquet(c.run / table)

    return setup


def _ticket(**changes) -> str:
    """An import line without a bundled probe: its probe id is made from its id."""
    line = {"id": "T-1", "model": "acme/bot", "kind": "conversation", "rubrics": ["production"],
            "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    return json.dumps(line | changes)


_SHOW_PROBE = lambda c: ["show", c.run_id, "mini.capital-australia"]  # noqa: E731
case(3, "transcript messages cell that is not JSON", _SHOW_PROBE, lambda c: str(c.run / TRANSCRIPTS), "messages",
     "stored table is damaged: probe mini.capital-australia epoch 1: the cell is not valid JSON",
     setup=_cell(TRANSCRIPTS, "messages", "{not json"))
case(3, "transcript messages cell of another shape", _SHOW_PROBE, lambda c: str(c.run / TRANSCRIPTS), "messages",
     "not a list of {role, content} messages", setup=_cell(TRANSCRIPTS, "messages", '[{"x": 1}]'))
case(3, "verdict evidence cell that is not JSON", _SHOW_PROBE, lambda c: str(c.run / SCORES), "evidence",
     "stored table is damaged: probe mini.capital-australia epoch 1: the cell is not valid JSON",
     setup=_cell(SCORES, "evidence", "{{bad"))
def _number(table: str, column: str, value: float) -> Callable[[Ctx], None]:
    """One number column of a stored table overwritten (its type kept): NaN, 1e300, -5."""
    def setup(c: Ctx) -> None:
        frame = pl.read_parquet(c.run / table)
        frame.with_columns(pl.lit(value).cast(frame.schema[column]).alias(column)).write_parquet(c.run / table)

    return setup


case(3, "verdict value NaN (show printed nan%)", lambda c: ["show", c.run_id], lambda c: str(c.run / SCORES), "value",
     "value should be a finite number (got nan)", setup=_number(SCORES, "value", float("nan")))
case(3, "verdict value 1e300 (compare computed with it)", lambda c: ["compare", c.run_id, c.run_id],
     lambda c: str(c.run / SCORES), "value", "value should be a number on the dimension's scale (got 1e+300)",
     setup=_number(SCORES, "value", 1e300))
case(3, "transcript epoch -5", lambda c: ["show", c.run_id], lambda c: str(c.run / TRANSCRIPTS), "epoch",
     "epoch should be a whole number >= 1 (got -5)", setup=_number(TRANSCRIPTS, "epoch", -5))
case(7, "import line with a lone surrogate escape", lambda c: ["import", str(c.tmp / "sur.jsonl")],
     lambda c: str(c.tmp / "sur.jsonl"), "messages[1].content", "lone surrogate escape",
     setup=_write("sur.jsonl", _import_line().replace('"content": "', '"content": "\\ud800', 2) + "\n"))
case(7, "import line naming a key twice", lambda c: ["import", str(c.tmp / "dupkey.jsonl")],
     lambda c: str(c.tmp / "dupkey.jsonl"), "id", "key 'id' appears twice in one object",
     setup=_write("dupkey.jsonl", '{"id": "first", ' + _import_line()[1:] + "\n"))
case(7, "import ids that differ only in case", lambda c: ["import", str(c.tmp / "case.jsonl")],
     lambda c: str(c.tmp / "case.jsonl"), "id", "conversation 'T-1' and line 1's 't-1' both become probe",
     setup=_write("case.jsonl", _ticket(id="t-1") + "\n" + _ticket(id="T-1") + "\n"))
case(7, "import of two ids playing one probe", lambda c: ["import", str(c.tmp / "twice.jsonl")],
     lambda c: str(c.tmp / "twice.jsonl"), "id", "conversation 'b' plays probe 'xstest.001-homonyms' (epoch 1), as line 1's 'a'",
     setup=_write("twice.jsonl", _import_line(id="a") + "\n" + _import_line(id="b") + "\n"))



# --- the boundary tester's minor findings (10): strict scalars, clearer words -------------------


def _edited(fixture: str, name: str, old: str, new: str) -> Callable[[Ctx], None]:
    """A copy of a fixture suite with one piece of text replaced (checked to be there)."""
    text = (TESTS / "fixtures" / fixture).read_text(encoding="utf-8")
    assert old in text, old
    return _write(name, text.replace(old, new, 1))


def _suite_case(name: str, fixture: str, old: str, new: str, field_: str, words: str) -> None:
    case(4, name, lambda c: ["run", str(c.tmp / f"{fixture}"), *SIM], lambda c: str(c.tmp / fixture),
         field_, words, setup=_edited(fixture, fixture, old, new))


_suite_case("suite version true (read as 1 before)", "mini.yaml", "version: 1", "version: true",
            "version", "True is not a number")
_suite_case("quoted hard_constraint 'yes' (read as true before)", "mini.yaml",
            "    rubrics: [pushback]\n", "    rubrics: [pushback]\n    hard_constraint: 'yes'\n",
            "probes[0].hard_constraint", "'yes' is text (got 'yes') (fix: write true or false without quotes)")
_suite_case("a rubric named twice in one probe", "mini.yaml", "    rubrics: [pushback]\n",
            "    rubrics: [pushback, pushback]\n", "probes[0].rubrics", "rubric 'pushback' is listed twice")
_suite_case("NaN user temperature", "adaptive.yaml", "temperature: 0.7", "temperature: .nan",
            "probes[0].user.temperature", "not a finite number (got nan) (fix: write a finite number)")
case(7, "import label value true (read as 1 before)", lambda c: ["import", str(c.tmp / "true.jsonl")],
     lambda c: str(c.tmp / "true.jsonl"), "labels[0].value", "True is not a number",
     setup=_write("true.jsonl", _import_line().replace('"value": 0', '"value": true', 1) + "\n"))
case(2, "[judge] model in character.toml that no provider knows", lambda c: ["run", str(MINI), "--target", "sim/assistant-v1",
     "--display", "none", "--config", str(c.tmp / "judge.toml")], lambda c: str(c.tmp / "judge.toml"), "[judge] model",
     "cannot use model 'nosuch/x'", setup=_write("judge.toml", '[judge]\nmodel = "nosuch/x"\n'))

def _resolve(value, c: Ctx):
    return value(c) if callable(value) else value


@pytest.mark.parametrize("item", CORPUS, ids=lambda item: f"{item.kind}-{item.name}")
def test_refused(item: Case, ctx: Ctx) -> None:
    """One line naming file, field and fix; exit 2; no traceback; the store byte for byte the same."""
    if item.setup:
        item.setup(ctx)
    env = {key: value.format(rubrics=ctx.rubrics) for key, value in item.env.items()}
    before = snapshot(ctx.tmp)  # the store, the scratch files and anything a report would write
    result = invoke(ctx.store, item.args(ctx), env=env or None)
    assert_one_clear_line(result, file=_resolve(item.file, ctx), field=item.field, words=item.words)
    assert snapshot(ctx.tmp) == before


def test_corpus_files_are_all_used() -> None:
    """Every file in the bad-input folder has an expectation here (and every expectation a file)."""
    files = {p.stem for p in BAD.iterdir() if p.suffix in (".yaml", ".toml")}
    assert files == set(SUITES) | set(RUBRICS) | set(CONFIGS) | {"config_resamples_huge"}


# --------------------------------------------------------------------------------------------
# Handled cases: hostile input the right answer to which is safe handling, not a refusal

HANDLED: dict[str, int] = {}


def handled(kind: int):
    def register(test):
        HANDLED[test.__name__] = kind
        return test

    return register


def _manifest_json(run: Path) -> dict:
    return json.loads((run / MANIFEST).read_text(encoding="utf-8"))


@handled(1)
def test_a_manifest_claiming_a_run_id_outside_reports_writes_inside(ctx: Ctx, monkeypatch) -> None:
    """run_id `../../../outside/escaped` in a manifest: the folder is the identity, reports stay in reports/."""
    _edit_manifest(run_id="../../../outside/escaped")(ctx)
    cwd = ctx.tmp / "work"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    result = invoke(ctx.store, ["compare", ctx.run_id, ctx.run_id])
    assert result.exit_code == 0, result.output
    written = sorted(str(p.relative_to(ctx.tmp)) for p in ctx.tmp.rglob("report.md"))
    assert written == [f"work/reports/{ctx.run_id}__vs__{ctx.run_id}/report.md"]
    assert not (ctx.tmp / "outside").exists()
    assert read_manifest(ctx.run).run_id == ctx.run_id


@handled(1)
def test_a_manifest_claiming_another_runs_id_is_named_by_its_folder(ctx: Ctx) -> None:
    """A copy whose manifest claims the original's id: listed and reported under its own folder name."""
    copy = ctx.store / "copied-run"
    shutil.copytree(ctx.run, copy)
    assert _manifest_json(copy)["run_id"] == ctx.run_id  # the copy claims the original's id
    listing = invoke(ctx.store, ["runs"])
    assert listing.exit_code == 0
    rows = [line.split()[0] for line in listing.stdout.strip().splitlines()]
    assert sorted(rows) == sorted([ctx.run_id, "copied-run"])  # not the same id twice
    result = invoke(ctx.store, ["compare", ctx.run_id, "copied-run", "--out", str(ctx.tmp / "r")])
    assert result.exit_code == 0, result.output
    assert f"({ctx.run_id}) vs candidate" in result.stdout and "(copied-run)" in result.stdout


@handled(1)
def test_a_run_folder_whose_name_is_no_run_id_is_listed_as_damaged(ctx: Ctx) -> None:
    """A copy named "run (copy)": listed as damaged with the reason, the other runs still listed."""
    shutil.copytree(ctx.run, ctx.store / "run (copy)")
    listing = invoke(ctx.store, ["runs"])
    assert listing.exit_code == 0
    assert "run (copy)" in listing.stdout and "DAMAGED" in listing.stdout and "is not a run id" in listing.stdout
    assert ctx.run_id in listing.stdout


@handled(1)
def test_labels_file_symlinked_out_of_the_store_is_not_written_through(ctx: Ctx) -> None:
    """The viewer labels through append_labels: a labels.jsonl symlink is refused, the target untouched."""
    outside = ctx.tmp / "elsewhere.txt"
    outside.write_text("precious\n", encoding="utf-8")
    (ctx.run / LABELS).symlink_to(outside)
    label = Label(run_id=ctx.run_id, probe_id="mini.harmful", epoch=1, rubric="refusal",
                  dimension="under_refusal", value=0.0, labeller="ann")
    with pytest.raises(CharacterError, match="symbolic link"):
        append_labels(ctx.run, [label])
    with pytest.raises(CharacterError, match="symbolic link"):
        read_labels(ctx.run)
    assert outside.read_text(encoding="utf-8") == "precious\n"


@handled(1)
def test_a_report_path_is_resolved_under_its_folder(tmp_path: Path) -> None:
    """The one write helper refuses a path that leaves its root through a symlinked folder."""
    from character.store.files import atomic_write_text

    root = tmp_path / "reports"
    root.mkdir()
    (root / "link").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(CharacterError, match="leads outside"):
        atomic_write_text(root / "link" / "report.md", "x", root=root)
    assert not (tmp_path / "report.md").exists()


@handled(3)
def test_one_damaged_run_never_breaks_the_listing(ctx: Ctx) -> None:
    """`character runs` and the viewer's Runs table list a deep, non-UTF-8, newer or huge manifest as damaged."""
    from character.viewer.catalog import runs_table

    damages = {
        "deep": b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "latin1": b'{"run_id": "\x92"}',
        "newer": json.dumps(_manifest_json(ctx.run) | {"schema_version": 99}).encode(),
        "not-an-object": b"[1, 2]",
    }
    for name, data in damages.items():
        shutil.copytree(ctx.run, ctx.store / name)
        (ctx.store / name / MANIFEST).write_bytes(data)
    result = invoke(ctx.store, ["runs"])
    assert result.exit_code == 0, result.output
    for name in damages:
        [row] = [line for line in result.stdout.splitlines() if line.startswith(name + " ")]
        assert "DAMAGED" in row
    table = runs_table(ctx.store)
    assert table.filter(pl.col("status") == "damaged")["run_id"].sort().to_list() == sorted(damages)
    assert table.filter(pl.col("status") != "damaged")["run_id"].to_list() == [ctx.run_id]


@handled(5)
def test_escape_sequences_in_stored_names_do_not_reach_the_terminal(ctx: Ctx) -> None:
    """A model name `acme/bot\\x1b[2K\\r\\x1b[32mEVERYTHING PASSED` prints as markers in `runs` and `show`."""
    hostile = "acme/bot\x1b[2K\r\x1b[32mEVERYTHING PASSED\x1b[0m"
    data = _manifest_json(ctx.run)
    data["target"]["model"] = hostile
    data["target"]["label"] = "bot\nfake-run complete"
    (ctx.run / MANIFEST).write_text(json.dumps(data), encoding="utf-8")
    frame = pl.read_parquet(ctx.run / TRANSCRIPTS)
    messages = json.loads(frame["messages"][0])
    messages[-1]["content"] = "ok\x1b]0;owned\x07 \u202eSEY ,devorppa"
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(json.dumps(messages)))
                               .otherwise(pl.col("messages")).alias("messages"))
    frame.write_parquet(ctx.run / TRANSCRIPTS)
    probe = frame["probe_id"][0]
    for args in (["runs"], ["show", ctx.run_id], ["show", ctx.run_id, probe]):
        result = invoke(ctx.store, args)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\r" not in result.output and "\x07" not in result.output
        assert "\u202e" not in result.output
    listing = invoke(ctx.store, ["runs"]).stdout
    assert len(listing.strip().splitlines()) == 1  # the newline in the label starts no fake row
    assert "⟨U+001B⟩[2K⟨U+000D⟩" in listing or "⟨U+000A⟩" in listing
    shown = invoke(ctx.store, ["show", ctx.run_id, probe]).stdout
    assert "⟨U+001B⟩]0;owned⟨U+0007⟩" in shown and "⟨U+202E⟩SEY ,devorppa" in shown


@handled(5)
def test_calibration_markdown_escapes_label_notes_and_names(ctx: Ctx) -> None:
    """A `<script>` in a labeller's name or a label stays text in the calibration Markdown."""
    from character.analysis.calibrate import calibrate, render_markdown

    hostile = "<script>alert(1)</script>[x](javascript:alert(1))"
    labels = [
        Label(run_id=ctx.run_id, probe_id="mini.harmful", epoch=epoch, rubric="refusal", dimension="under_refusal",
              value=0.0, labeller=f"ann {hostile}", note=hostile)
        for epoch in (1, 2)
    ]
    append_labels(ctx.run, labels)
    text = render_markdown(calibrate(ctx.run, resamples=0))
    assert "<script>" not in text and not re.search(r"(?<!\\)\]\(", text)  # no tag, no link
    assert "&lt;script>alert(1)&lt;/script>\\[x\\](javascript:alert(1))" in text


@handled(5)
def test_bidi_and_invisible_characters_are_shown_in_the_viewer_and_reports() -> None:
    """"SEY ,devorppa" behind a right-to-left override shows the override as a marker, everywhere."""
    from character.analysis.reports.html import esc
    from character.analysis.reports.markdown import cell
    from character.viewer.render import escape_markdown, highlighted_markdown

    stored = "\u202eSEY ,devorppa\u200b and\u2066 more\u2069"
    for markup in (escape_markdown(stored), highlighted_markdown(stored, ["devorppa"])[0], cell(stored), esc(stored)):
        shown = markup.replace("\\", "")  # as rendered: Markdown backslash escapes dropped
        assert "\u202e" not in shown and "\u200b" not in shown and "\u2066" not in shown
        assert "⟨U+202E⟩" in shown and "⟨U+200B⟩" in shown and "⟨U+2066⟩" in shown
    # emoji sequences keep their joiners: hiding there reorders nothing
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert escape_markdown(family) == family


@handled(5)
def test_control_characters_in_stored_names_keep_every_report_well_formed(ctx: Ctx) -> None:
    """An escape character in a target label: JUnit XML still parses (XML 1.0 forbids it even escaped),
    HTML and Markdown show a marker."""
    import xml.etree.ElementTree as ET

    data = _manifest_json(ctx.run)
    data["target"]["label"] = "bot\x1b[31m\u202eDESAP"
    (ctx.run / MANIFEST).write_text(json.dumps(data), encoding="utf-8")
    out = ctx.tmp / "reports"
    result = invoke(ctx.store, ["compare", ctx.run_id, ctx.run_id, "--out", str(out)])
    assert result.exit_code == 0, result.output
    ET.fromstring((out / "junit.xml").read_text(encoding="utf-8"))
    for name in ("junit.xml", "report.html", "report.md"):
        text = (out / name).read_text(encoding="utf-8")
        assert "\x1b" not in text and "\u202e" not in text and "⟨U+001B⟩" in text.replace("\\", ""), name


@handled(6)
def test_a_label_appended_after_a_torn_line_is_kept(tmp_path: Path) -> None:
    """A SIGKILL tore the last line mid-append; the next label is not glued to the fragment and lost."""
    run = tmp_path / "run"
    run.mkdir()

    def label(probe: str) -> Label:
        return Label(run_id="run", probe_id=probe, epoch=1, rubric="pushback", dimension="capitulation",
                     value=1.0, labeller="ann")

    append_labels(run, [label("p.one")])
    whole = (run / LABELS).read_bytes()
    (run / LABELS).write_bytes(whole + whole[: len(whole) // 2])  # the torn second line
    append_labels(run, [label("p.three")])
    assert sorted(read_labels(run, latest_only=False)["probe_id"]) == ["p.one", "p.three"]
    assert (run / LABELS).read_bytes().startswith(whole + whole[: len(whole) // 2] + b"\n")  # the fragment kept


@handled(6)
def test_an_import_failing_while_writing_the_second_model_stores_nothing(ctx: Ctx, monkeypatch) -> None:
    """Whole file or nothing: a failure writing the second model's run removes the first one too."""
    from character.importers import store_writer

    real = store_writer.write_tables
    calls = []

    def fail_second(folder, scores, transcripts):
        calls.append(folder)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(folder, scores, transcripts)

    monkeypatch.setattr(store_writer, "write_tables", fail_second)
    before = snapshot(ctx.store)
    result = invoke(ctx.store, ["import", str(GENERIC)])
    assert result.exit_code == 2 and "disk full" in result.stderr, result.output
    assert len(calls) == 2
    assert snapshot(ctx.store) == before


@handled(6)
def test_no_run_is_left_running_after_an_error_mid_run(ctx: Ctx, monkeypatch) -> None:
    """An error inside the eval marks the run failed (with the reason), never leaves it 'running'."""
    from character.run import runner

    def broken(*args, **kwargs):
        raise RuntimeError("provider fell over")

    monkeypatch.setattr(runner, "_eval", broken)
    result = invoke(ctx.store, ["run", str(MINI), *SIM, "--run-id", "fails"])
    assert result.exit_code == 2
    assert result.stderr.startswith("internal error: RuntimeError: provider fell over (please report; details in ")
    manifest = read_manifest(ctx.store / "fails")
    assert manifest.status == "failed"
    assert any("provider fell over" in w for w in manifest.warnings)
    log = Path(result.stderr.split("details in ", 1)[1].rstrip(")\n"))
    assert log.parent == ctx.store / "_logs" and "Traceback" in log.read_text(encoding="utf-8")
    assert [p.name for p in list_run_dirs(ctx.store)] == sorted([ctx.run_id, "fails"])  # _logs is no run


@handled(6)
def test_an_interrupted_run_is_marked_incomplete_not_running(ctx: Ctx, monkeypatch) -> None:
    """Ctrl+C mid-run: the manifest says incomplete (re-run to resume), never 'running'."""
    from character.run import runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_eval", interrupted)
    result = invoke(ctx.store, ["run", str(MINI), *SIM, "--run-id", "stopped"])
    assert result.exit_code != 0
    manifest = read_manifest(ctx.store / "stopped")
    assert manifest.status == "incomplete" and any("re-run the same command" in w for w in manifest.warnings)


@handled(6)
def test_a_killed_run_resumes_with_the_suite_path_spelled_differently(tmp_path: Path, monkeypatch) -> None:
    """Started as `mini.yaml` (relative), killed, re-run as /abs/.../mini.yaml: it resumes, no inspect error.

    The first run records the suite as typed (as versions before the boundary did); the re-run
    spells it absolute. From another folder, where the recorded spelling finds nothing, the
    re-run is refused in one line before the manifest is touched.
    """
    from character.run import runner

    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(MINI, work / "mini.yaml")
    store = tmp_path / "store"
    monkeypatch.chdir(work)
    with monkeypatch.context() as old_version:
        old_version.setattr(runner, "_task_suite", lambda name, path: name)
        first = invoke(store, ["run", "mini.yaml", *SIM, "--run-id", "spelled"])
    assert first.exit_code == 0, first.output
    folder = store / "spelled"
    data = _manifest_json(folder)
    data["status"] = "running"  # as a SIGKILL leaves it
    (folder / MANIFEST).write_text(json.dumps(data), encoding="utf-8")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    before = snapshot(store)
    refused = invoke(store, ["run", str(work / "mini.yaml"), *SIM, "--run-id", "spelled"])
    assert_one_clear_line(refused, file=str(folder), field="SUITE", words="the run was started with the suites given as mini.yaml")
    assert snapshot(store) == before

    monkeypatch.chdir(work)
    second = invoke(store, ["run", str(work / "mini.yaml"), *SIM, "--run-id", "spelled"])
    assert second.exit_code == 0, second.output
    assert "not associated" not in second.output
    assert read_manifest(folder).status == "complete"
    assert len(list((folder / "logs").glob("*.eval"))) == 1


def _fake_api_process(request_log: Path) -> tuple[subprocess.Popen, str]:
    """The fake Anthropic API with a valid judge, as its own process logging every request."""
    server = subprocess.Popen(
        [sys.executable, str(TESTS / "reliability_support.py"), "--port", "0", "--latency", "0.1",
         "--request-log", str(request_log)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(TESTS.parent)},
    )
    base_url = server.stdout.readline().strip()
    assert base_url.startswith("http://127.0.0.1:"), base_url
    return server, base_url


@pytest.mark.slow  # two CLI processes against a fake API process
@handled(6)
def test_a_killed_rejudge_resumes_without_paying_twice(tmp_path: Path) -> None:
    """`character judge` killed part-way: the re-run asks the judge only about unfinished transcripts."""
    import time

    from reliability_support import (
        character_cmd,
        cli_env,
        first_turns,
        read_request_log,
        tokens_in,
        write_suite,
    )

    from character.testing.fake_anthropic import FAKE_API_KEY

    suite = write_suite(tmp_path, 30)
    tokens = first_turns(suite)
    store = tmp_path / "store"
    source = invoke(store, ["run", str(suite), *SIM, "--run-id", "source"])
    assert source.exit_code == 0, source.output
    args = ["--store", str(store), "judge", "source", "--judge", "anthropic/claude-opus-4-1", "--max-connections", "2"]

    def judged(log: Path) -> set[str]:
        return {t for r in read_request_log(log) if isinstance(r["body"], dict) and r["body"].get("tools")
                and r["status"] == 200 for t in tokens_in(r["body"])}

    first_log, second_log = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    servers = []
    try:
        server, base_url = _fake_api_process(first_log)
        servers.append(server)
        first = subprocess.Popen(character_cmd(*args), env=cli_env(base_url, FAKE_API_KEY, tmp_path), cwd=tmp_path,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while len(judged(first_log)) < 12 and time.monotonic() < deadline:
            time.sleep(0.05)
        first.kill()
        first.wait(timeout=30)
        [folder] = [p for p in store.iterdir() if "rejudged" in p.name]
        saved = [json.loads(line) for line in (folder / "rejudge-progress.jsonl").read_text().splitlines()
                 if line.endswith("}")]
        done = {tokens[item["id"]] for item in saved}
        assert 10 <= len(done) < 30, len(done)
        assert _manifest_json(folder)["status"] == "running"

        server, base_url = _fake_api_process(second_log)
        servers.append(server)
        second = subprocess.run(character_cmd(*args), env=cli_env(base_url, FAKE_API_KEY, tmp_path), cwd=tmp_path,
                                capture_output=True, text=True, timeout=180)
        assert second.returncode == 0, second.stderr[-3000:]
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
    asked_again = judged(second_log)
    assert asked_again and not done & asked_again, sorted(done & asked_again)  # nothing finished is paid twice
    assert asked_again | done == set(tokens.values())
    manifest = read_manifest(folder)
    scores = pl.read_parquet(folder / SCORES).filter(pl.col("rubric") != "markers")
    assert manifest.status == "complete" and manifest.judge.id == "anthropic/claude-opus-4-1"
    assert scores["probe_id"].n_unique() == 30 and set(scores["status"]) == {"scored"}
    assert not (folder / "rejudge-progress.jsonl").exists()  # merged into the log


@handled(7)
def test_jsonl_strings_holding_line_separators_stay_one_line(ctx: Ctx) -> None:
    """U+2028 and U+0085 inside a JSON string split nothing (str.splitlines would)."""
    line = json.loads(_import_line())
    line["messages"][-1]["content"] = "First part\u2028second part\x85third part"
    path = ctx.tmp / "seps.jsonl"
    path.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    result = invoke(ctx.store, ["import", str(path)])
    assert result.exit_code == 0, result.output
    [folder] = [p for p in list_run_dirs(ctx.store) if p.name.startswith("import-")]
    stored = json.loads(pl.read_parquet(folder / TRANSCRIPTS)["messages"][0])
    assert stored[-1]["content"] == "First part\u2028second part\x85third part"


@handled(7)
def test_a_label_note_holding_a_line_separator_is_read_back(tmp_path: Path) -> None:
    """A note with U+2028 was saved and never read back; now it round-trips."""
    run = tmp_path / "run"
    run.mkdir()
    append_labels(run, [Label(run_id="run", probe_id="p.one", epoch=1, rubric="pushback", dimension="capitulation",
                              value=1.0, labeller="ann", note="first\u2028second\x85third")])
    assert read_labels(run)["note"].to_list() == ["first\u2028second\x85third"]


@handled(7)
def test_a_spreadsheet_csv_with_semicolons_imports(ctx: Ctx) -> None:
    """A CSV saved with ';' between fields (and a BOM) imports like the comma one."""
    rows = _xstest_rows()
    path = ctx.tmp / "xstest_v2_completions_gpt4.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, delimiter=";").writerows(rows)
    result = invoke(ctx.store, ["import", str(path)])
    assert result.exit_code == 0, result.output
    assert re.search(r"imported import-xstest-openai-gpt-4-\w+: 5 transcripts", result.stdout)


def test_reliability_doc_counts_the_corpus() -> None:
    """docs/reliability.md states how many cases of each kind the corpus holds: they must match."""
    doc = (TESTS.parent / "docs" / "reliability.md").read_text(encoding="utf-8")
    refused = Counter(item.kind for item in CORPUS)
    behaviours = Counter(HANDLED.values())
    for kind, name in KINDS.items():
        row = re.search(rf"^\| {kind}\. {re.escape(name)} \| (\d+) \| (\d+) \|", doc, re.MULTILINE)
        assert row, f"docs/reliability.md has no row for kind {kind} ({name})"
        assert (int(row.group(1)), int(row.group(2))) == (refused[kind], behaviours[kind]), (kind, refused[kind], behaviours[kind])
    total = re.search(r"^\| total \| (\d+) \| (\d+) \|", doc, re.MULTILINE)
    assert total and (int(total.group(1)), int(total.group(2))) == (len(CORPUS), len(HANDLED))


# --------------------------------------------------------------------------------------------
# The environment: disks, folders, the real process


def test_store_that_cannot_be_created(tmp_path: Path) -> None:
    """A store folder that cannot be created (here under /proc) is one line naming it."""
    result = invoke(Path("/proc/character-store"), ["run", str(MINI), *SIM])
    assert_one_clear_line(result, file="/proc/character-store", field=None, words="no such file or folder")


def test_disk_full_while_writing_a_report_keeps_the_previous_report(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC while a report is written: exit 2 with 'disk full', the previous report intact, no temp file left."""
    out = ctx.tmp / "reports"
    first = invoke(ctx.store, ["compare", ctx.run_id, ctx.run_id, "--out", str(out)])
    assert first.exit_code == 0, first.output
    previous = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "report.md" in previous

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    result = invoke(ctx.store, ["compare", ctx.run_id, ctx.run_id, "--out", str(out)])
    assert_one_clear_line(result, file=str(out / "report.md"), field=None, words="disk full")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == previous  # old reports, whole
    result = invoke(ctx.store, ["report", ctx.run_id, ctx.run_id, "-o", str(out / "report.md")])
    assert_one_clear_line(result, file=str(out / "report.md"), field=None, words="disk full")
    assert (out / "report.md").read_bytes() == previous["report.md"]


def test_an_unexpected_exception_is_one_line_with_its_details_kept(ctx: Ctx, monkeypatch) -> None:
    """A bug is "internal error: ... (please report; details in <store>/_logs/...)", exit 2, no traceback."""
    from character.cli import run_commands

    monkeypatch.setattr(run_commands, "list_run_dirs", lambda store: 1 / 0)
    result = invoke(ctx.store, ["runs"])
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("internal error: ZeroDivisionError: division by zero (please report; details in ")
    log = Path(line.split("details in ", 1)[1].rstrip(")"))
    assert log.is_relative_to(ctx.store / "_logs") and "ZeroDivisionError" in log.read_text(encoding="utf-8")
    assert "Traceback" not in result.output


def test_real_process_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    """Outside click's test runner too: the installed entry point prints one line, exit 2."""
    path = BAD / "unknown_rubric.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "character.cli.main", "--store", str(tmp_path / "store"), "run", str(path), *SIM],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {path}: field 'probes[0].rubrics[0]': probe 'unknown_rubric.p1': unknown rubric "
        "'honesty' (fix: use one of: boundaries, production, pushback, refusal, simulated_user, "
        "stability, sycophancy, or add rubrics/honesty.yaml)"
    ]
    assert not (tmp_path / "store").exists()
