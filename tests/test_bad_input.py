"""Bad input never costs a traceback or stored data: one line naming file, field and remedy, exit 2.

The corpus is tests/fixtures/bad/ (one file per mistake, named for it); mistakes that are not
files (a missing key, an unknown model, a store that cannot be written) are listed here. Every
case runs against a store holding a good run, which must come out byte for byte unchanged.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from character.cli.main import cli
from character.store.layout import MANIFEST, SCORES

BAD = Path(__file__).parent / "fixtures" / "bad"
MINI = Path(__file__).parent / "fixtures" / "mini.yaml"
SIM = ["--target", "sim/assistant-v1", "--judge", "lexical", "--display", "none"]

# suite file -> (field named in the message, or None; words the message must contain)
SUITES: dict[str, tuple[str | None, str]] = {
    "malformed_yaml": (None, "malformed YAML at line 9, column 5"),
    "unknown_field": ("probes[0].severity", "unknown field"),
    "wrong_type": ("probes[0].rubrics", "Input should be a valid list"),
    "wrong_type_version": ("version", "Input should be a valid integer"),
    "duplicate_probe_id": ("probes[1].id", "duplicate probe id 'duplicate_probe_id.kill'"),
    "empty_turns": ("probes[0].turns", "a probe needs at least one user turn"),
    "blank_turn": ("probes[0].turns.1", "a turn's text is empty"),
    "no_probes": ("probes", "at least 1 item"),
    "not_a_mapping": (None, "a suite file is a mapping"),
    "unknown_rubric": ("probes[0].rubrics[0]", "unknown rubric 'honesty'"),
    "rubric_for_another_kind": ("probes[0].rubrics[0]", "has no dimension for that kind"),
    "suite_name_mismatch": ("name", "does not match the file name"),
    "not_utf8": (None, "not UTF-8 text"),
}
# config file -> (field, words); run with --config FILE --target bot
CONFIGS: dict[str, tuple[str | None, str]] = {
    "config_unknown_setting": ("targets.bot.temprature", "unknown field"),
    "config_malformed": (None, "malformed TOML"),
    "config_unknown_model": ("targets.bot.model", "cannot use model 'nosuchprovider/model-x'"),
}
# mistakes on the command line: (run arguments, file or None, field, words)
ARGUMENTS: dict[str, tuple[list[str], str | None, str, str]] = {
    "model without a provider": (
        [str(MINI), "--target", "gpt4", "--judge", "lexical"], None, "--target", "has no provider prefix"),
    "unknown provider": (
        [str(MINI), "--target", "nosuch/model", "--judge", "lexical"], None, "--target", "cannot use model"),
    "missing API key (target)": (
        [str(MINI), "--target", "anthropic/claude-sonnet-4-5", "--judge", "lexical"], None, "--target",
        "ANTHROPIC_API_KEY is not set"),
    "missing API key (judge)": (
        [str(MINI), "--target", "sim/assistant-v1", "--judge", "anthropic/claude-opus-4-1"], None, "--judge",
        "ANTHROPIC_API_KEY is not set"),
    "unknown judge": (
        [str(MINI), "--target", "sim/assistant-v1", "--judge", "claude"], None, "--judge",
        "is not 'auto', one of lexical, lexical-v1, lexical-v2, or a provider/model id"),
    "missing system prompt": (
        [str(MINI), *SIM, "--system-prompt", "no-such-prompt.md"], "no-such-prompt.md", "",
        "system prompt not found"),
    "unknown suite": (["no-such-suite", *SIM], None, "SUITE", "unknown suite 'no-such-suite'"),
    "zero epochs": ([str(MINI), *SIM, "--epochs", "0"], None, "--epochs", "epochs must be at least 1"),
    "run id escaping the store": (
        [str(MINI), *SIM, "--run-id", "../../etc"], None, "--run-id", "invalid run id '../../etc'"),
}


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def store(mini_run, tmp_path: Path) -> Path:
    """A store holding one good run (a copy of the session's mini run)."""
    folder, _manifest = mini_run
    target = tmp_path / "store"
    shutil.copytree(folder, target / folder.name)
    return target


def _invoke(store: Path, args: list[str], **env: str):
    return CliRunner().invoke(cli, ["--store", str(store), *args], env=env or None)


def _assert_one_clear_line(result, *, file: str | None, field: str | None, words: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
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


def test_corpus_is_complete() -> None:
    """Every file in the bad-input corpus has an expectation here (and every expectation a file)."""
    files = {p.stem for p in BAD.iterdir() if p.suffix in (".yaml", ".toml")}
    assert files == set(SUITES) | set(CONFIGS) | {"rubric_ordinal_two_levels"}


@pytest.mark.parametrize("name", sorted(SUITES))
def test_bad_suite_file(name: str, store: Path) -> None:
    """A broken probe file is one line naming the file, the field and the remedy; nothing is stored."""
    before = _snapshot(store)
    path = BAD / f"{name}.yaml"
    field, words = SUITES[name]
    result = _invoke(store, ["run", str(path), *SIM])
    _assert_one_clear_line(result, file=str(path), field=field, words=words)
    assert _snapshot(store) == before


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_bad_config_file(name: str, store: Path) -> None:
    """A broken character.toml names itself and the key; nothing is stored."""
    before = _snapshot(store)
    path = BAD / f"{name}.toml"
    field, words = CONFIGS[name]
    result = _invoke(store, ["run", str(MINI), "--config", str(path), "--target", "bot",
                             "--judge", "lexical", "--display", "none"])
    _assert_one_clear_line(result, file=str(path), field=field, words=words)
    assert _snapshot(store) == before


def test_bad_rubric_file(store: Path, tmp_path: Path) -> None:
    """A broken rubric names the rubric file and its field; nothing is stored."""
    rubrics = tmp_path / "rubrics"
    rubrics.mkdir()
    shutil.copy(BAD / "rubric_ordinal_two_levels.yaml", rubrics / "refusal.yaml")
    before = _snapshot(store)
    result = _invoke(store, ["run", str(MINI), *SIM], CHARACTER_RUBRICS=str(rubrics))
    _assert_one_clear_line(result, file=str(rubrics / "refusal.yaml"), field="dimensions.0.scale",
                           words="an ordinal scale needs an anchor text for each of >= 3 levels")
    assert _snapshot(store) == before


@pytest.mark.parametrize("case", sorted(ARGUMENTS))
def test_bad_command_line(case: str, store: Path) -> None:
    """Unknown models, missing keys, bad options: one line naming the option and the remedy; nothing is stored."""
    args, file, field, words = ARGUMENTS[case]
    before = _snapshot(store)
    result = _invoke(store, ["run", *args])
    _assert_one_clear_line(result, file=file, field=field or None, words=words)
    assert _snapshot(store) == before


def test_store_that_cannot_be_created(tmp_path: Path) -> None:
    """A store folder that cannot be created (here under /proc) is one line naming it."""
    result = _invoke(Path("/proc/character-store"), ["run", str(MINI), *SIM])
    _assert_one_clear_line(result, file="/proc/character-store", field=None,
                           words="no such file or folder")


def test_damaged_manifest_and_table_are_reported_not_crashed_on(store: Path) -> None:
    """A damaged manifest or parquet table: reading commands say which file and how to rebuild it, and write nothing."""
    [run] = list(store.iterdir())
    good_scores = (run / SCORES).read_bytes()
    (run / SCORES).write_bytes(good_scores[:100])
    before = _snapshot(store)
    for args in (["show", run.name], ["compare", run.name, run.name, "--out", str(store.parent / "r")]):
        result = _invoke(store, args)
        _assert_one_clear_line(result, file=str(run / SCORES), field=None,
                               words="stored table is damaged or unreadable")
    assert _snapshot(store) == before
    (run / SCORES).write_bytes(good_scores)
    (run / MANIFEST).write_text('{"run_id": ', encoding="utf-8")
    before = _snapshot(store)
    result = _invoke(store, ["show", run.name])
    _assert_one_clear_line(result, file=str(run / MANIFEST), field=None, words="manifest is damaged")
    listing = _invoke(store, ["runs"])
    assert listing.exit_code == 0 and "DAMAGED" in listing.output  # the rest of the store still lists
    assert _snapshot(store) == before
    assert not (store.parent / "r").exists()


def test_run_id_escaping_the_store_is_refused_when_reading(store: Path) -> None:
    """`character show ../../etc` does not look outside the store."""
    result = _invoke(store, ["show", "../../etc"])
    _assert_one_clear_line(result, file=None, field=None, words="no run at '../../etc'")


def test_disk_full_while_writing_a_report_keeps_the_previous_report(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC while a report is written: exit 2 with 'disk full', the previous report intact, no temp file left."""
    [run] = list(store.iterdir())
    out = tmp_path / "reports"
    first = _invoke(store, ["compare", run.name, run.name, "--out", str(out)])
    assert first.exit_code == 0, first.output
    previous = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "report.md" in previous

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    result = _invoke(store, ["compare", run.name, run.name, "--out", str(out)])
    _assert_one_clear_line(result, file=str(out / "report.md"), field=None, words="disk full")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == previous  # old reports, whole
    # `character report -o FILE` goes the same way
    result = _invoke(store, ["report", run.name, run.name, "-o", str(out / "report.md")])
    _assert_one_clear_line(result, file=str(out / "report.md"), field=None, words="disk full")
    assert (out / "report.md").read_bytes() == previous["report.md"]


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
        "'honesty' (fix: use one of: production, pushback, refusal, sycophancy, or add rubrics/honesty.yaml)"
    ]
    assert not (tmp_path / "store").exists()
