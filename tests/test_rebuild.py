"""`character rebuild RUN`: a run's tables written again from its log, an import's from the
conversations stored with it, after a table was lost, damaged or written by an older version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import FIXTURES, MINI_SUITE, make_run
from polars.testing import assert_frame_equal

from character.cli.main import cli
from character.importers import generic
from character.importers.source_record import SOURCE
from character.importers.store_writer import write_import
from character.store.layout import LABELS, SCORES, TRANSCRIPTS
from character.store.manifest import read_manifest


def _rebuild(store: Path, run: str):
    return CliRunner().invoke(cli, ["--store", str(store), "rebuild", run])


@pytest.fixture(scope="module")
def run_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    store = tmp_path_factory.mktemp("rebuild-store")
    folder, _ = make_run(store, "sim/assistant-v1", [str(MINI_SUITE)], epochs=2, seed=0)
    return store, folder


def test_run_tables_rebuilt_from_the_log(run_store, tmp_path: Path) -> None:
    """An older table (a column missing, another all-null with the wrong type) and a deleted one
    are written again from the .eval log, equal to the originals; the manifest counts match."""
    store, folder = run_store
    copy = store / "copy"
    shutil.copytree(folder, copy)
    original_scores = pl.read_parquet(copy / SCORES)
    original_transcripts = pl.read_parquet(copy / TRANSCRIPTS)
    counts = read_manifest(copy).counts
    original_scores.drop("cause").with_columns(
        pl.lit(None, dtype=pl.String).alias("turn")
    ).write_parquet(copy / SCORES)
    (copy / TRANSCRIPTS).unlink()

    result = _rebuild(store, str(copy))
    assert result.exit_code == 0, result.output
    log = read_manifest(copy).logs[0]
    assert result.output == (
        f"rebuilt {read_manifest(copy).run_id} from {log}: {counts.samples} transcripts, "
        f"{counts.verdicts} verdicts ({counts.unscored} unscored)\n"
    )
    # the folder is the run's identity: the copy's rows carry its own id, everything else is equal
    renamed = pl.col("run_id").str.replace(folder.name, "copy", literal=True)
    assert_frame_equal(pl.read_parquet(copy / SCORES), original_scores.with_columns(renamed))
    assert_frame_equal(pl.read_parquet(copy / TRANSCRIPTS), original_transcripts.with_columns(renamed))
    assert read_manifest(copy).counts == counts


def test_import_tables_rebuilt_from_its_stored_conversations(tmp_path: Path) -> None:
    """An import (judge labels and human labels) is rebuilt from conversations.jsonl: the same
    tables, the labels untouched."""
    store = tmp_path / "store"
    results = [write_import(store, b) for b in generic.load(FIXTURES / "import_generic.jsonl")]
    folder = results[0].run_dir
    assert (folder / SOURCE).is_file()
    scores, transcripts = pl.read_parquet(folder / SCORES), pl.read_parquet(folder / TRANSCRIPTS)
    labels = (folder / LABELS).read_bytes() if (folder / LABELS).exists() else b""
    (folder / SCORES).write_bytes(b"PAR1 not a table")

    result = _rebuild(store, folder.name)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"rebuilt {folder.name} from {SOURCE}: ")
    assert_frame_equal(pl.read_parquet(folder / SCORES), scores)
    assert_frame_equal(pl.read_parquet(folder / TRANSCRIPTS), transcripts)
    assert ((folder / LABELS).read_bytes() if (folder / LABELS).exists() else b"") == labels


def test_import_stored_before_its_conversations_were_kept_says_what_to_do(tmp_path: Path) -> None:
    """No conversations.jsonl: exit 2, one line naming the file and the fix; nothing changed."""
    store = tmp_path / "store"
    [result, *_] = [write_import(store, b) for b in generic.load(FIXTURES / "import_generic.jsonl")]
    (result.run_dir / SOURCE).unlink()
    before = (result.run_dir / SCORES).read_bytes()
    outcome = _rebuild(store, result.run_dir.name)
    assert outcome.exit_code == 2
    assert outcome.output == (
        f"error: {result.run_dir / SOURCE}: this import was stored before character kept its "
        "conversations, so its tables cannot be rebuilt from the store alone (fix: import the "
        "original file again into an empty store (character --store NEW import FILE); copy "
        "labels.jsonl across to keep the human labels)\n"
    )
    assert (result.run_dir / SCORES).read_bytes() == before


def test_run_without_a_log_cannot_be_rebuilt(run_store, tmp_path: Path) -> None:
    """A run folder whose logs are gone: exit 2, naming the logs folder and the fix."""
    store, folder = run_store
    copy = store / "nolog"
    shutil.copytree(folder, copy)
    shutil.rmtree(copy / "logs")
    outcome = _rebuild(store, str(copy))
    assert outcome.exit_code == 2
    assert outcome.output == (
        f"error: {copy / 'logs'}: the run has no inspect log to rebuild its tables from (fix: run "
        "the command that made the run again: it resumes and writes them)\n"
    )


def test_damaged_stored_conversations_are_named(tmp_path: Path) -> None:
    store = tmp_path / "store"
    [result, *_] = [write_import(store, b) for b in generic.load(FIXTURES / "import_generic.jsonl")]
    path = result.run_dir / SOURCE
    header, first, *rest = path.read_text(encoding="utf-8").split("\n")
    row = json.loads(first)
    del row["messages"]
    path.write_text("\n".join([header, json.dumps(row), *rest]), encoding="utf-8")
    outcome = _rebuild(store, result.run_dir.name)
    assert outcome.exit_code == 2
    assert outcome.output.startswith(
        f"error: {path}: stored conversations are damaged ('messages')"
    )
