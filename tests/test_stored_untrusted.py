"""Stored tables are untrusted input too (issue 13; the boundary tester's findings 3, 4, 8, 9, 11).

A table edited by hand or written by another tool reaches every reader: a JSON cell that is not
its column's shape, a number no writer makes (NaN, 1e300, epoch -5). Each reader names the
table, the column, the probe and epoch and the `character rebuild RUN` fix, never a traceback
or a `nan%`. Also: ids and --name values that lose characters in their slug stay distinct, and
a crash inside `gate` / `nightly` keeps its traceback like every other internal error.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from character.boundary.ids import distinct_slug
from character.cli.main import cli
from character.errors import CharacterError
from character.importers.generic import _probe_id
from character.store.layout import SCORES, TRANSCRIPTS, check_tables, list_run_dirs
from character.store.manifest import read_manifest

FIX = "(fix: run `character rebuild {run}`: it rebuilds the tables from the stored logs (runs) or the stored source (imports))"
PROBE = "mini.capital-australia"
MINI = Path(__file__).parent / "fixtures" / "mini.yaml"


@pytest.fixture
def run(mini_run, tmp_path: Path) -> Path:
    """A store of its own holding a copy of the session's mini run (2 epochs, lexical judge)."""
    folder, _manifest = mini_run
    copy = tmp_path / "store" / folder.name
    shutil.copytree(folder, copy)
    return copy


def _set(folder: Path, table: str, column: str, value, *, where: pl.Expr | None = None) -> None:
    """Overwrite `column` (keeping its type) on the rows `where` picks (default: every row)."""
    frame = pl.read_parquet(folder / table)
    dtype = frame.schema[column]
    chosen = pl.lit(True) if where is None else where
    frame.with_columns(
        pl.when(chosen).then(pl.lit(value).cast(dtype)).otherwise(pl.col(column)).alias(column)
    ).write_parquet(folder / table)


def _one_row(dimension: str = "capitulation", epoch: int = 1) -> pl.Expr:
    return (
        (pl.col("probe_id") == PROBE)
        & (pl.col("epoch") == epoch)
        & (pl.col("dimension") == dimension)
    )


def _invoke(store: Path, args: list[str]):
    return CliRunner().invoke(cli, ["--store", str(store), *args])


def _error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    [line] = result.stderr.strip().splitlines()
    return line


# --------------------------------------------------------------------------------------------
# Finding 4: numbers analysis uses, range-checked when a run's tables are opened


def test_show_names_a_nan_value_instead_of_printing_nan_percent(run: Path) -> None:
    _set(run, SCORES, "value", math.nan, where=_one_row())
    line = _error_line(_invoke(run.parent, ["show", run.name]))
    assert line == (
        f"error: {run / SCORES}: field 'value': stored table is damaged: probe {PROBE} epoch 1: "
        f"value should be a finite number (got nan) {FIX.format(run=run.name)}"
    )
    assert "nan%" not in line


def test_compare_calls_a_huge_value_a_damaged_table_not_a_statistic(run: Path) -> None:
    _set(run, SCORES, "value", 1e300, where=_one_row())
    line = _error_line(_invoke(run.parent, ["compare", run.name, run.name]))
    assert line == (
        f"error: {run / SCORES}: field 'value': stored table is damaged: probe {PROBE} epoch 1: "
        f"value should be a number on the dimension's scale (got 1e+300) {FIX.format(run=run.name)}"
    )


@pytest.mark.parametrize(
    ("table", "column", "value", "where", "expected"),
    [
        (SCORES, "epoch", -5, _one_row(), "epoch should be a whole number >= 1 (got -5)"),
        (
            SCORES,
            "value",
            7.0,
            _one_row(),
            "value should be a number on the dimension's scale (got 7.0)",
        ),
        (SCORES, "value", -math.inf, _one_row(), "value should be a finite number (got -inf)"),
        (
            SCORES,
            "spread",
            math.inf,
            _one_row(),
            "spread should be a finite number from 0 to 200 (got inf)",
        ),
        (SCORES, "turn", -1, _one_row(), "turn should be a turn number >= 1 (got -1)"),
        (
            SCORES,
            "status",
            "bogus",
            _one_row(),
            "status should be scored or unscored (got 'bogus')",
        ),
        (SCORES, "value", None, _one_row(), "value should be a number on a scored row (got None)"),
        (
            SCORES,
            "scale",
            "percent",
            _one_row(),
            "scale should be one of binary, ordinal, categorical, continuous (got 'percent')",
        ),
        (
            TRANSCRIPTS,
            "epoch",
            0,
            pl.col("probe_id") == PROBE,
            "epoch should be a whole number >= 1 (got 0)",
        ),
        (
            TRANSCRIPTS,
            "response_chars",
            math.nan,
            pl.col("probe_id") == PROBE,
            "response_chars should be a finite number >= 0 (got nan)",
        ),
    ],
)
def test_impossible_numbers_are_named_with_their_column(
    run: Path, table: str, column: str, value, where: pl.Expr, expected: str
) -> None:
    _set(run, table, column, value, where=where)
    with pytest.raises(CharacterError) as exc:
        check_tables(run)
    assert exc.value.file == str(run / table) and exc.value.field == column
    assert exc.value.one_line().endswith(f": {expected} {FIX.format(run=run.name)}")
    assert f"probe {PROBE} epoch " in exc.value.message


def test_a_verdict_stored_twice_is_damage_not_a_second_vote(run: Path) -> None:
    """A copied row would count twice in every rate (62.5% of 60 transcripts from 120 verdicts)."""
    scores = pl.read_parquet(run / SCORES)
    pl.concat([scores, scores.filter(_one_row())]).write_parquet(run / SCORES)
    with pytest.raises(CharacterError) as exc:
        check_tables(run)
    assert exc.value.field == "dimension"
    assert exc.value.message == (
        f"stored table is damaged: probe {PROBE} epoch 1: "
        "dimension should be one row per probe, epoch, rubric and dimension"
    )


def test_a_good_run_and_a_null_value_pass_the_check(run: Path) -> None:
    """Unscored verdicts have no value, categorical ones no spread: nulls are not damage."""
    _set(run, SCORES, "value", None, where=_one_row())
    _set(run, SCORES, "status", "unscored", where=_one_row())
    check_tables(run)
    result = _invoke(run.parent, ["show", run.name])
    assert result.exit_code == 0, result.output


# --------------------------------------------------------------------------------------------
# Finding 3: JSON cells, through store/cells.py wherever they are read


def _damaged_cell(column: str) -> str:
    return f"field '{column}': stored table is damaged: probe {PROBE} epoch 1: the cell is not valid JSON"


def test_the_viewer_loaders_name_a_damaged_evidence_or_by_turn_cell(run: Path) -> None:
    from character.viewer.transcript_index import (
        load_bodies,
        load_transcript_verdicts,
        load_verdict_details,
    )

    keys = pl.DataFrame({"probe_id": [PROBE], "epoch": [1]})
    assert load_transcript_verdicts(run, PROBE, 1).height > 0  # good cells pass
    _set(run, SCORES, "evidence", "{{bad", where=_one_row())
    for load in (
        lambda: load_transcript_verdicts(run, PROBE, 1),
        lambda: load_verdict_details(run, keys),
    ):
        with pytest.raises(CharacterError) as exc:
            load()
        assert exc.value.one_line() == (
            f"{run / SCORES}: {_damaged_cell('evidence')} {FIX.format(run=run.name)}"
        )
    _set(run, SCORES, "evidence", "[]")
    _set(run, SCORES, "by_turn", '[["1", 0]]', where=_one_row())
    with pytest.raises(CharacterError, match="not a list of \\[turn, value\\] pairs"):
        load_transcript_verdicts(run, PROBE, 1)
    _set(run, TRANSCRIPTS, "messages", "[{", where=pl.col("probe_id") == PROBE)
    with pytest.raises(CharacterError) as exc:
        load_bodies(run, keys)
    assert exc.value.field == "messages" and exc.value.file == str(run / TRANSCRIPTS)


def test_survival_names_a_damaged_by_turn_cell(run: Path) -> None:
    from character.analysis.survival import _tables

    _set(run, SCORES, "by_turn", "[[1, 0], [2", where=_one_row())
    with pytest.raises(CharacterError) as exc:
        _tables(run, [("pushback", "capitulation")])
    assert (
        exc.value.one_line()
        == f"{run / SCORES}: {_damaged_cell('by_turn')} {FIX.format(run=run.name)}"
    )


def test_calibrate_names_a_damaged_messages_cell(run: Path) -> None:
    from character.analysis.calibrate import lexical_ratings

    _set(
        run,
        TRANSCRIPTS,
        "messages",
        "{not json",
        where=(pl.col("probe_id") == PROBE) & (pl.col("epoch") == 1),
    )
    with pytest.raises(CharacterError) as exc:
        lexical_ratings(run, pl.read_parquet(run / TRANSCRIPTS))
    assert exc.value.one_line() == (
        f"{run / TRANSCRIPTS}: {_damaged_cell('messages')} {FIX.format(run=run.name)}"
    )


def test_judging_an_import_with_a_damaged_messages_cell_is_one_line(tmp_path: Path) -> None:
    """`character judge` of an imported run replays its stored conversations (run/replay.py)."""
    store = tmp_path / "store"
    lines = [
        {
            "id": f"t-{n}",
            "model": "acme/bot",
            "kind": "conversation",
            "rubrics": ["production"],
            "messages": [
                {"role": "user", "content": f"hi {n}"},
                {"role": "assistant", "content": "hello"},
            ],
        }
        for n in (1, 2)
    ]
    source = tmp_path / "tickets.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert _invoke(store, ["import", str(source)]).exit_code == 0
    [imported] = list_run_dirs(store)
    _set(
        imported,
        TRANSCRIPTS,
        "messages",
        '[{"role": "tool"}]',
        where=pl.col("probe_id") == "imported.t-2",
    )
    line = _error_line(_invoke(store, ["judge", imported.name, "--judge", "lexical"]))
    assert line == (
        f"error: {imported / TRANSCRIPTS}: field 'messages': stored table is damaged: probe "
        f"imported.t-2 epoch 1: not a list of {{role, content}} messages {FIX.format(run=imported.name)}"
    )
    assert len(list_run_dirs(store)) == 1  # no judged run was started


def test_the_viewer_shows_a_damaged_evidence_cell_as_one_error(
    run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    _set(run, SCORES, "evidence", "{{bad")
    monkeypatch.setenv("CHARACTER_STORE", str(run.parent))
    app = AppTest.from_file(str(Path(__file__).parents[1] / "app.py"), default_timeout=60)
    app.query_params = {"run": run.name, "probe": PROBE, "epoch": "1"}
    app.run()
    app.switch_page("character/viewer/pages/transcripts.py").run()
    assert not app.exception
    errors = [e.value for e in app.error]
    assert errors and all(
        "stored table is damaged" in e and "field 'evidence'" in e for e in errors
    ), errors
    assert f"character rebuild {run.name}" in errors[0]


# --------------------------------------------------------------------------------------------
# Findings 8 and 9: slugs that lose characters stay distinct


def test_valid_ids_keep_their_ids_and_lossy_ones_get_a_stable_tag() -> None:
    assert _probe_id("imported", "ticket-0042") == "imported.ticket-0042"
    assert _probe_id("imported", "T-1") == "imported.t-1"  # lower-casing alone is no loss
    assert _probe_id("imported", "日本") == "imported.conversation-cf2abf0c5b"
    assert _probe_id("imported", "한국") == "imported.conversation-1eb7da6d56"
    assert _probe_id("imported", "ünïcode") == "imported.unicode-b8be8967e4"
    assert _probe_id("imported", "a b") != _probe_id("imported", "a/b")
    assert distinct_slug("x", "x" * 50, kept="x" * 50, limit=32) == "x" * 21 + "-2d711642b7"


def test_two_non_latin_ticket_ids_import_as_two_probes(tmp_path: Path) -> None:
    store = tmp_path / "store"
    lines = [
        {
            "id": ticket,
            "model": "acme/bot",
            "kind": "conversation",
            "rubrics": ["production"],
            "messages": [
                {"role": "user", "content": f"about {ticket}"},
                {"role": "assistant", "content": "ok"},
            ],
        }
        for ticket in ("日本", "한국", "工单-7")
    ]
    source = tmp_path / "tickets.jsonl"
    source.write_text(
        "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8"
    )
    result = _invoke(store, ["import", str(source)])
    assert result.exit_code == 0, result.output
    [imported] = list_run_dirs(store)
    probes = sorted(pl.read_parquet(imported / TRANSCRIPTS)["probe_id"].to_list())
    assert probes == sorted(
        [
            "imported.conversation-cf2abf0c5b",
            "imported.conversation-1eb7da6d56",
            _probe_id("imported", "工单-7"),
        ]
    )
    assert len(set(probes)) == 3


def test_two_non_latin_names_give_two_runs(tmp_path: Path) -> None:
    store = tmp_path / "store"
    base = [
        "run",
        str(MINI),
        "--target",
        "sim/assistant-v1",
        "--judge",
        "lexical",
        "--display",
        "none",
        "--limit",
        "1",
    ]
    for name in ("日本", "한국"):
        result = _invoke(store, [*base, "--name", name])
        assert result.exit_code == 0, result.output
    runs = list_run_dirs(store)
    assert len(runs) == 2, [p.name for p in runs]
    assert sorted(read_manifest(p).target.name for p in runs) == sorted(["한국", "日本"])
    assert all(p.name.startswith("mini-run-") for p in runs)
    # a typed name equal to another's cleaned form maps to its id: refused, never reused
    [first] = [p for p in list_run_dirs(store) if read_manifest(p).target.name == "日本"]
    before = sorted((f.name, f.stat().st_mtime_ns) for f in first.iterdir())
    clash = first.name.rsplit("-", 1)[0].removeprefix("mini-")
    result = _invoke(store, [*base, "--name", clash])
    assert result.exit_code == 2, result.output
    assert (
        f"run id '{first.name}' already holds the run named '日本', not '{clash}'" in result.output
    )
    assert sorted((f.name, f.stat().st_mtime_ns) for f in first.iterdir()) == before
    # a name that is already a valid id keeps exactly the id it had
    result = _invoke(store, [*base, "--name", "v2"])
    assert result.exit_code == 0 and any(
        p.name.startswith("mini-v2-") and p.name.count("-") == 2 for p in list_run_dirs(store)
    )


# --------------------------------------------------------------------------------------------
# Finding 11: gate and nightly crashes take the internal-error path


@pytest.mark.parametrize("command", ["gate", "nightly"])
def test_a_crash_in_gate_or_nightly_keeps_its_traceback_and_exit_2(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from character.cli import compare_commands, nightly_command

    def broken(*args, **kwargs):
        raise RuntimeError("boom\x1b[2K")

    if command == "gate":
        monkeypatch.setattr(compare_commands, "_gate", broken)
        args = ["gate", "--baseline", "a", "--candidate", "b"]
    else:
        monkeypatch.setattr(nightly_command, "load_config", broken)
        (tmp_path / "character.toml").write_text("", encoding="utf-8")
        args = ["nightly", "--config", str(tmp_path / "character.toml")]
    store = tmp_path / "store"
    store.mkdir()
    result = _invoke(store, args)
    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        "internal error: RuntimeError: boom⟨U+001B⟩[2K (please report; details in "
    ), line
    assert "\x1b" not in result.stderr
    log = Path(line.split("details in ", 1)[1].rstrip(")"))
    assert log.parent == store / "_logs" and "Traceback" in log.read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Finding 10: an import error has one fix group; `meta` is any JSON value, as documented


def _ticket_line(**changes) -> str:
    line = {
        "id": "t-1",
        "model": "acme/bot",
        "kind": "conversation",
        "rubrics": ["production"],
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
    }
    return json.dumps(line | changes) + "\n"


def test_an_import_error_ends_in_one_fix_group(tmp_path: Path) -> None:
    source = tmp_path / "epoch.jsonl"
    source.write_text(_ticket_line(epoch=5000), encoding="utf-8")
    line = _error_line(_invoke(tmp_path / "store", ["import", str(source)]))
    assert line == (
        f"error: {source}: 1 problem(s), nothing was imported: line 1, field 'epoch': Input "
        "should be less than or equal to 1000; use a smaller value (fix: fix the lines listed "
        "(format: docs/importing.md) and import the file again)"
    )
    assert line.count("(fix: ") == 1


def test_meta_takes_any_json_value(tmp_path: Path) -> None:
    source = tmp_path / "meta.jsonl"
    source.write_text(
        _ticket_line(meta=["a", 1]) + _ticket_line(id="t-2", meta="x"), encoding="utf-8"
    )
    result = _invoke(tmp_path / "store", ["import", str(source)])
    assert result.exit_code == 0, result.output
