"""The API key never reaches disk: a canary key goes through the whole flow and every file is scanned.

Run, judge, re-judge, compare, gate, report and a viewer label write, against the fake Anthropic
API, with HOME and every XDG folder inside the test's folder so that inspect's own data (sample
buffers, traces) is scanned too. Compressed containers (.eval zips, parquet, gzip) are opened.
"""

from __future__ import annotations

import gzip
import io
import secrets
import sqlite3
import zipfile
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from reliability_support import JUDGE, TARGET, cli_env, responder, run_cli, write_suite

from character.cli.main import cli
from character.store.labels import Label, append_labels
from character.store.layout import list_run_dirs
from character.store.manifest import read_manifest
from character.testing.fake_anthropic import FakeAnthropic

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CANARY = f"sk-ant-api03-CANARY{secrets.token_hex(20)}"


def _texts(path: Path) -> list[bytes]:
    """Every readable form of a file: its bytes, zip members, gunzipped bytes, parquet cells."""
    data = path.read_bytes()
    found = [data]
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            found += [archive.read(name) for name in archive.namelist()]
    if data[:2] == b"\x1f\x8b":
        found.append(gzip.decompress(data))
    if data[:4] == b"PAR1":
        frame = pl.read_parquet(io.BytesIO(data))
        found.append(str(frame.rows()).encode() + str(frame.columns).encode())
    if data[:16] == b"SQLite format 3\x00":
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            for (table,) in db.execute("select name from sqlite_master where type='table'"):
                found.append(str(db.execute(f'select * from "{table}"').fetchall()).encode())
    return found


def leaks(root: Path, secret: str) -> list[str]:
    """Files under root in which the secret (or its first 24 characters) appears."""
    needles = (secret.encode(), secret[:24].encode())
    hits = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if any(n in text for text in _texts(path) for n in needles):
            hits.append(str(path.relative_to(root)))
    return hits


def test_scanner_sees_through_compression(tmp_path: Path) -> None:
    """The control: a canary hidden in a zip, a parquet file, gzip and sqlite is found."""
    secret = f"sk-ant-api03-PLANTED{secrets.token_hex(8)}"
    with zipfile.ZipFile(tmp_path / "a.eval", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("samples/1.json", f'{{"header": "{secret}"}}' * 50)
    pl.DataFrame({"x": [secret] * 100}).write_parquet(tmp_path / "b.parquet", compression="zstd")
    (tmp_path / "c.gz").write_bytes(gzip.compress(secret.encode() * 10))
    with sqlite3.connect(tmp_path / "d.db") as db:
        db.execute("create table t (v text)")
        db.execute("insert into t values (?)", (secret,))
    (tmp_path / "clean.txt").write_text("nothing here")
    assert leaks(tmp_path, secret) == ["a.eval", "b.parquet", "c.gz", "d.db"]


@pytest.mark.slow  # end to end through CLI processes; runs in CI
def test_canary_key_is_written_nowhere(tmp_path: Path) -> None:
    """With a canary ANTHROPIC_API_KEY, run, judge, re-judge, compare, gate, report and label: the key is in no file written."""
    work = tmp_path / "work"
    work.mkdir()
    suite = write_suite(work, 3)
    (work / "base.md").write_text("You are the baseline assistant.", encoding="utf-8")
    (work / "cand.md").write_text("You are the candidate assistant.", encoding="utf-8")
    outputs: list[str] = []
    with FakeAnthropic(responder()) as fake:
        env = cli_env(fake.base_url, CANARY, tmp_path, CHARACTER_STORE=str(work / "transcripts"))
        gate = run_cli(
            ["gate", "--baseline-target", TARGET, "--baseline-prompt", "base.md",
             "--candidate-prompt", "cand.md", "--suites", str(suite), "--epochs", "1",
             "--judge", JUDGE, "--reports", "reports/gate", "--display", "plain"],
            env, cwd=work, timeout=300,
        )
        outputs += [gate.stdout, gate.stderr]
        # 3 probes x 1 epoch cannot reach alpha: the gate says CANNOT FAIL (exit 2) after comparing
        assert gate.returncode in (0, 1) or "## character: CANNOT FAIL" in gate.stdout, gate.stderr[-3000:]
        runs = list_run_dirs(work / "transcripts")
        assert len(runs) == 2
        baseline, candidate = sorted(runs, key=lambda r: read_manifest(r).created)
        rejudge = run_cli(
            ["judge", baseline.name, "--judge", "anthropic/claude-haiku-4-5"], env, cwd=work, timeout=300
        )
        outputs += [rejudge.stdout, rejudge.stderr]
        assert rejudge.returncode == 0, rejudge.stderr[-3000:]
        assert fake.message_requests()  # the key really was used

        runner = CliRunner()
        for args in (
            ["compare", baseline.name, candidate.name, "--out", str(work / "reports" / "compare")],
            ["report", baseline.name, candidate.name, "--format", "html", "-o", str(work / "report.html")],
            ["report", baseline.name, candidate.name, "--format", "json", "-o", str(work / "report.json")],
            ["runs"],
            ["show", candidate.name, "reliab.p000"],
        ):
            result = runner.invoke(cli, args, env=env)
            outputs.append(result.output)
            assert result.exit_code == 0, (args, result.output)
    # the viewer's one write: a human label
    append_labels(candidate, [Label(run_id=candidate.name, probe_id="reliab.p000", epoch=1,
                                    rubric="refusal", dimension="over_refusal", value=0.0,
                                    labeller="tester")])

    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".eval" for p in written) and any(p.suffix == ".parquet" for p in written)
    assert (work / "reports" / "gate" / "junit.xml").is_file()
    assert leaks(tmp_path, CANARY) == []
    assert not any(CANARY[:24] in text for text in outputs)
