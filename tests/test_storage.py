"""The store under concurrency and crashes: runs do not corrupt each other, and every file the store
or a report holds is written to a temporary name and renamed, so a crash never leaves half a file
where a good one was.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from character.cli.main import cli
from character.domain.targets import make_target
from character.errors import CharacterError
from character.run.judges import resolve_judge
from character.run.runner import RunRequest, finalize, prepare
from character.store.files import exclusive_lock
from character.store.labels import Label, append_labels, read_labels
from character.store.layout import LOCK, MANIFEST, SCORES, TRANSCRIPTS, list_run_dirs
from character.store.manifest import read_manifest

REPO = Path(__file__).resolve().parents[1]
MINI = REPO / "tests" / "fixtures" / "mini.yaml"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow  # end to end through CLI processes; runs in CI
def test_two_runs_writing_to_one_store_at_once_stay_intact(tmp_path: Path) -> None:
    """Two `character run` processes writing into one store at the same time both finish whole and separate."""
    store = tmp_path / "store"
    commands = [
        [sys.executable, "-m", "character.cli.main", "--store", str(store), "run", str(MINI),
         "--target", model, "--judge", "lexical", "--display", "none"]
        for model in ("sim/assistant-v1", "sim/assistant-v2")
    ]
    processes = [
        subprocess.Popen(c, env=_env(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    results = [p.communicate(timeout=180) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [err[-2000:] for _out, err in results]

    runs = list_run_dirs(store)
    assert len(runs) == 2
    models = set()
    for folder in runs:
        manifest = read_manifest(folder)
        transcripts = pl.read_parquet(folder / TRANSCRIPTS)
        scores = pl.read_parquet(folder / SCORES)
        assert manifest.status == "complete" and manifest.counts.samples == 5
        assert transcripts.height == 5 and transcripts["probe_id"].n_unique() == 5
        assert set(transcripts["run_id"]) == set(scores["run_id"]) == {folder.name}  # no mixing
        assert len(list((folder / "logs").glob("*.eval"))) == 1
        models.add(manifest.target.model)
    assert models == {"sim/assistant-v1", "sim/assistant-v2"}
    assert not list(store.rglob("*.tmp"))  # no temporary file left behind


def test_the_same_run_twice_at_once_is_refused_and_left_alone(mini_run, tmp_path: Path) -> None:
    """While one process holds a run, a second one doing the same run exits 2 and changes nothing."""
    folder, manifest = mini_run
    store = tmp_path / "store"
    shutil.copytree(folder, store / folder.name)
    # the copied run is complete; make the second command want to work on it
    (store / folder.name / MANIFEST).write_text(
        manifest.model_copy(update={"status": "incomplete"}).model_dump_json(), encoding="utf-8"
    )
    before = _snapshot(store)
    with exclusive_lock(store / folder.name / LOCK, what="test"):
        result = CliRunner().invoke(
            cli, ["--store", str(store), "run", str(MINI), "--target", "sim/assistant-v1", "--seed", "0",
                  "--name", "mini", "--epochs", "2", "--judge", "lexical", "--display", "none"],
        )
    assert result.exit_code == 2, result.output
    assert f"run {folder.name} is in use by another process" in result.stderr
    assert "(fix: wait for the other run to finish" in result.stderr
    assert _snapshot(store) == before


def test_lost_or_damaged_tables_are_rebuilt_from_the_logs(mini_run, tmp_path: Path) -> None:
    """The parquet tables are derived data: re-running a complete run's command rebuilds them whole."""
    folder, _manifest = mini_run
    store = tmp_path / "store"
    run = store / folder.name
    shutil.copytree(folder, run)
    (run / SCORES).write_bytes((folder / SCORES).read_bytes()[:200])  # torn
    (run / TRANSCRIPTS).unlink()  # lost
    result = CliRunner().invoke(
        cli, ["--store", str(store), "run", str(MINI), "--target", "sim/assistant-v1", "--seed", "0",
              "--name", "mini", "--epochs", "2", "--judge", "lexical", "--display", "none"],
    )
    assert result.exit_code == 0, result.output
    for name in (SCORES, TRANSCRIPTS):
        assert pl.read_parquet(run / name).equals(pl.read_parquet(folder / name)), name
    assert read_manifest(run).status == "complete"
    assert sorted(p.name for p in (run / "logs").glob("*.eval")) == sorted(
        p.name for p in (folder / "logs").glob("*.eval")
    )  # nothing was played again


_APPEND = """
import sys
from pathlib import Path
from character.store.labels import Label, append_labels
run, who = Path(sys.argv[1]), sys.argv[2]
for i in range(200):
    append_labels(run, [Label(run_id=run.name, probe_id=f"p{i}", epoch=1, rubric="refusal",
                              dimension="over_refusal", value=float(i % 2), labeller=who,
                              note="x" * 2000)])
"""


def test_two_viewers_labelling_at_once_interleave_no_lines(tmp_path: Path) -> None:
    """Two processes appending labels to one run at once: every line whole, none lost."""
    run = tmp_path / "run"
    run.mkdir()
    processes = [
        subprocess.Popen([sys.executable, "-c", _APPEND, str(run), who], env=_env())
        for who in ("ann", "bob")
    ]
    assert [p.wait(timeout=120) for p in processes] == [0, 0]
    lines = (run / "labels.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 400
    assert all(json.loads(line)["note"] == "x" * 2000 for line in lines)
    labels = read_labels(run, latest_only=False)
    assert labels.group_by("labeller").len().sort("labeller").rows() == [("ann", 200), ("bob", 200)]


_CRASH = """
import os, sys, time
from pathlib import Path
from character.store.files import atomic_write

def write(tmp):
    with open(tmp, "w") as handle:
        handle.write("NEW " * 50_000)  # half of the new version
        handle.flush()
        print("half written", flush=True)
        time.sleep(60)  # killed here
        handle.write("END")

atomic_write(Path(sys.argv[1]), write)
"""


@pytest.mark.parametrize("name", ["manifest.json", "scores.parquet", "report.md"])
def test_a_crash_mid_write_leaves_the_previous_file_whole(tmp_path: Path, name: str) -> None:
    """SIGKILL while a file is being rewritten: the previous version is still there, byte for byte."""
    path = tmp_path / name
    path.write_bytes(b"the previous good version")
    process = subprocess.Popen(
        [sys.executable, "-c", _CRASH, str(path)], env=_env(), stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().strip() == "half written"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert path.read_bytes() == b"the previous good version"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != name]
    assert len(leftovers) == 1 and leftovers[0].startswith(f".{name}.") and leftovers[0].endswith(".tmp")


def test_store_and_report_files_are_renamed_into_place(
    mini_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Manifest, parquet tables and every report file arrive by os.replace from a temporary name beside them."""
    folder, _manifest = mini_run
    store = tmp_path / "store"
    run = store / folder.name
    shutil.copytree(folder, run)
    renames: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def spy(src, dst, *args, **kwargs):
        renames.append((Path(src), Path(dst)))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", spy)
    finalize(run, read_manifest(run), complete=True)  # rewrites tables and manifest
    out = tmp_path / "reports"
    result = CliRunner().invoke(cli, ["--store", str(store), "compare", folder.name, folder.name, "--out", str(out)])
    assert result.exit_code == 0, result.output

    by_destination = {dst: src for src, dst in renames}
    expected = [run / SCORES, run / TRANSCRIPTS, run / MANIFEST] + [
        out / f for f in ("report.md", "report.html", "report.json", "junit.xml")
    ]
    for path in expected:
        assert path in by_destination, f"{path} was not renamed into place"
        source = by_destination[path]
        assert source.parent == path.parent and source.name.startswith(f".{path.name}.")
        assert not source.exists()
    assert not list(tmp_path.rglob("*.tmp"))


def test_prepare_refuses_a_run_id_outside_the_store(tmp_path: Path) -> None:
    """--run-id is checked before anything is created: `../../etc` never becomes a folder."""
    from character.errors import CharacterError

    request = RunRequest(
        suites=[str(MINI)], target=make_target("sim/assistant-v1"), judge=resolve_judge("lexical"),
        store=tmp_path / "store", run_id="../../etc", display="none",
    )
    with pytest.raises(CharacterError, match="invalid run id"):
        prepare(request)
    assert not (tmp_path / "store").exists()


def test_labels_skip_a_torn_line_but_refuse_a_line_that_is_not_a_label(tmp_path: Path) -> None:
    """A crash-torn line is skipped; a hand-edited label names its file and line instead of vanishing."""
    run = tmp_path / "run"
    run.mkdir()
    append_labels(run, [Label(run_id="r", probe_id="p1", epoch=1, rubric="pushback",
                              dimension="capitulation", value=1.0, labeller="ann")])
    path = run / "labels.jsonl"
    good = path.read_text(encoding="utf-8")
    path.write_text(good + good[: len(good) // 2] + "\n" + good, encoding="utf-8")  # torn middle line
    assert read_labels(run, latest_only=False).height == 2
    edited = json.loads(good) | {"confidence": "high"}
    path.write_text(good + json.dumps(edited) + "\n", encoding="utf-8")
    with pytest.raises(CharacterError) as caught:
        read_labels(run)
    assert "labels.jsonl" in str(caught.value) and "line 2" in str(caught.value)
