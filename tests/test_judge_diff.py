"""`character judge-diff`: a new judge on stored transcripts, its flips, and stored conclusions.

The new judge is a scripted Claude judge on the fake Anthropic API (real SDK and inspect
provider); the old one is the lexical judge that made the stored runs. Expected flips are counted
from the stored scores and the script, never written into the test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from character.analysis import stats
from character.analysis.compare import compare_runs
from character.analysis.judge_diff import dimension_table, verdict_pairs
from character.analysis.nightly import canary_keys
from character.analysis.reports import write_reports
from character.cli.main import cli
from character.store.layout import list_run_dirs
from character.store.manifest import read_manifest
from character.testing.fake_anthropic import FakeAnthropic, Reply, has_tools, scripted_responder
from tests.conftest import SHARED_DATA, make_run

JUDGE = "anthropic/claude-haiku-5-5"
# What the scripted judge says, per pushback dimension, whatever the transcript.
SCRIPT = {"capitulation": 0, "stubbornness": 0, "challenges_false_premise": 1, "firmness_tone": 4}


def _judge_reply(body: dict) -> Reply:
    """Score every requested dimension by SCRIPT, quoting the first assistant reply verbatim."""
    dimensions = body["tools"][0]["input_schema"]["properties"]["verdicts"]["items"]["properties"][
        "dimension"
    ]["enum"]
    case = json.dumps(body["messages"])
    first_reply = re.search(r"\[turn 1 assistant[^\]]*\]\\n(.{1,20})", case).group(1)
    verdicts = [
        {
            "dimension": name,
            "evidence": [{"turn": 1, "role": "assistant", "quote": first_reply}],
            "reasoning": f"scripted {name}",
            "insufficient_evidence": False,
            "score": SCRIPT[name],
            "turn": None,
        }
        for name in dimensions
    ]
    return Reply(tool_use=("submit_verdicts", {"verdicts": verdicts}))


@pytest.fixture
def fake_judge(monkeypatch: pytest.MonkeyPatch):
    with FakeAnthropic(
        responder=scripted_responder([(has_tools, _judge_reply)], default=None)
    ) as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        yield server


@pytest.fixture(scope="module")
def pushback_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """v1 and v2 on the first 20 pushback probes, 2 epochs, lexical judge."""
    store = tmp_path_factory.mktemp("judge-diff")
    v1, _ = make_run(store, "sim/assistant-v1", ["pushback"], epochs=2, seed=0, limit=20, name="v1")
    v2, _ = make_run(store, "sim/assistant-v2", ["pushback"], epochs=2, seed=0, limit=20, name="v2")
    return v1, v2


@pytest.fixture
def store_copy(pushback_pair, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A fresh copy of the pair's store (re-judged runs are written into it) and a reports folder
    holding the stored comparison v1 vs v2."""
    import shutil

    v1, v2 = pushback_pair
    store = tmp_path / "store"
    shutil.copytree(v1.parent, store)
    reports = tmp_path / "reports"
    comparison = compare_runs(store / v1.name, store / v2.name)
    write_reports(comparison, reports / f"{v1.name}__vs__{v2.name}")
    return store, reports, store / v1.name


def _expected_flips(run: Path) -> dict[str, int]:
    scores = pl.read_parquet(run / "scores.parquet").filter(
        (pl.col("rubric") == "pushback") & (pl.col("status") == "scored")
    )
    return {
        dim: scores.filter((pl.col("dimension") == dim) & (pl.col("value") != value)).height
        for dim, value in SCRIPT.items()
        if scores.filter(pl.col("dimension") == dim).height
    }


def _saved_diff(reports: Path) -> dict:
    """The judge_diff.json of the one judge-diff report under `reports`."""
    [out] = list((reports / "judge-diff").iterdir())
    return json.loads((out / "judge_diff.json").read_text())


def _invoke(store: Path, *args: str):
    return CliRunner().invoke(cli, ["--store", str(store), "judge-diff", *args])


def test_judge_diff_reports_the_flips_and_the_conclusions(store_copy, fake_judge) -> None:
    """Every stored lexical verdict the scripted judge disagrees with is a flip; the stored
    comparison is re-run with both runs judged by the new judge and its classes compared."""
    store, reports, run = store_copy
    viewer = "http://localhost:8501"
    result = _invoke(
        store, run.name, "--judge", JUDGE, "--reports", str(reports), "--viewer-url", viewer
    )
    assert result.exit_code == 0, result.output
    [out] = list((reports / "judge-diff").iterdir())
    diff = json.loads((out / "judge_diff.json").read_text())
    assert (
        diff["old"]["judge"] == read_manifest(run).judge.id
        and diff["old"]["how"] == "stored scores"
    )
    assert diff["new"]["judge"] == JUDGE and diff["new"]["how"] == "re-judged now"
    # the default sample is the run's judge canaries; 50 of them cover these 40 transcripts
    assert diff["sample"] == (
        "whole run: the judge canaries of this run ([nightly] canary_size = 50) cover all 40 "
        "transcripts"
    )
    assert diff["transcripts"] == 40

    expected = _expected_flips(run)
    flips = {f"{d['dimension']}": d["flips"] for d in diff["dimensions"]}
    assert flips == expected
    assert sum(expected.values()) > 0
    assert len(diff["flips"]) == sum(expected.values())
    capitulation = next(d for d in diff["dimensions"] if d["dimension"] == "capitulation")
    assert capitulation["flip_rate"] == pytest.approx(
        expected["capitulation"] / capitulation["transcripts"]
    )
    assert capitulation["new_mean"] == 0.0 and capitulation["shift"] == pytest.approx(
        -capitulation["old_mean"]
    )
    # a judge that never says "gave in" agrees with the old one no better than chance
    assert capitulation["agreement"] == pytest.approx(1 - capitulation["flip_rate"])
    assert capitulation["kappa"] == 0.0 and capitulation["kappa_kind"] == "Cohen"
    # the shift is paired by probe, with a 95% CI that here excludes 0
    assert capitulation["probes"] == 20
    assert capitulation["shift_ci_lo"] <= capitulation["shift"] <= capitulation["shift_ci_hi"] < 0
    assert capitulation["flip_ci_lo"] < capitulation["flip_rate"] < capitulation["flip_ci_hi"]
    flip = next(f for f in diff["flips"] if f["dimension"] == "capitulation")
    assert (flip["old"], flip["new"]) == ("1", "0")
    assert (
        flip["transcript"]["run_id"] == run.name
        and flip["new_reasoning"] == "scripted capitulation"
    )
    # each flip links to its transcript in the viewer, in the JSON and the Markdown
    url = flip["transcript"]["url"]
    assert url == (
        f"{viewer}/transcripts?run={run.name}&probe={flip['probe_id']}&epoch={flip['epoch']}"
    )
    assert f"](<{url}>)" in (out / "judge_diff.md").read_text()

    # the other run of the stored comparison was judged by the new judge too
    rejudged = {
        read_manifest(f).source_run: f
        for f in list_run_dirs(store)
        if read_manifest(f).kind == "rejudge"
    }
    assert set(rejudged) == {p.name for p in list_run_dirs(store) if read_manifest(p).kind == "run"}
    [check] = diff["comparisons"]
    stored = compare_runs(
        run,
        next(
            p for p in list_run_dirs(store) if p.name != run.name and read_manifest(p).kind == "run"
        ),
    )
    fresh = compare_runs(rejudged[stored.baseline.run_id], rejudged[stored.candidate.run_id])
    assert (check["verdict_old"], check["verdict_new"]) == (stored.verdict, fresh.verdict)
    classes = {d["dimension"]: (d["class_old"], d["class_new"]) for d in check["dimensions"]}
    expected_classes = {
        r["dimension"]: (r["class"], n["class"])
        for r, n in zip(
            stored.dimensions.iter_rows(named=True),
            fresh.dimensions.iter_rows(named=True),
            strict=True,
        )
    }
    assert classes == expected_classes
    # the stored capitulation regression disappears when the judge never sees giving in
    assert classes["capitulation"] == ("REGRESSION", "NO DRIFT BEYOND MARGIN")
    assert check["changed"] is (stored.verdict != fresh.verdict)
    markdown = (out / "judge_diff.md").read_text()
    assert "pushback/capitulation REGRESSION -> NO DRIFT BEYOND MARGIN" in markdown.replace(
        "\\_", "_"
    )
    assert f"Verdicts that flip ({sum(expected.values())})" in markdown


def test_judge_diff_reuses_stored_rejudges(store_copy, fake_judge) -> None:
    """A second judge-diff with the same judge makes no judge call: the re-judged runs are reused."""
    store, reports, run = store_copy
    assert _invoke(store, run.name, "--judge", JUDGE, "--reports", str(reports)).exit_code == 0
    calls = len(fake_judge.message_requests())
    assert calls == 80  # 40 transcripts of each run, one pushback rubric call each
    again = _invoke(store, run.name, "--judge", JUDGE, "--reports", str(reports))
    assert again.exit_code == 0, again.output
    assert len(fake_judge.message_requests()) == calls
    assert "reusing stored re-judge" in again.output


@pytest.mark.parametrize("canary_run", [False, True], ids=["any run", "the canary run"])
def test_judge_canaries_are_the_default_sample(
    store_copy, fake_judge, tmp_path: Path, canary_run: bool
) -> None:
    """By default only RUN's judge canaries are judged: [nightly] canary_size transcripts chosen
    as nightly chooses them. With [nightly] canary_run set, RUN defaults to it."""
    store, reports, run = store_copy
    config = tmp_path / "character.toml"
    config.write_text(
        "[nightly]\ncanary_size = 6\n" + (f'canary_run = "{run.name}"\n' if canary_run else "")
    )
    given = [] if canary_run else [run.name]
    result = _invoke(
        store, *given, "--judge", JUDGE, "--reports", str(reports), "--config", str(config)
    )
    assert result.exit_code == 0, result.output
    diff = _saved_diff(reports)
    whose = "the nightly canary run" if canary_run else "this run"
    assert diff["sample"] == (
        f"judge canaries of {whose}: 6 of 40 transcripts, chosen as nightly chooses them "
        "([nightly] canary_size = 6; --all for every transcript)"
    )
    canaries = set(canary_keys(pl.read_parquet(run / "scores.parquet"), 6))
    assert diff["transcripts"] == 6
    assert {(f["probe_id"], f["epoch"]) for f in diff["flips"]} <= canaries
    [check] = diff["comparisons"]
    assert check["verdict_new"] is not None
    [stored] = [json.loads(p.read_text()) for p in reports.glob("*/report.json")]
    assert check["note"] == (
        f"on the {len({p for p, _ in canaries})} sampled probes only (the stored report, on all "
        f"its probes, says {stored['verdict']}); --all re-checks the whole comparison"
    )
    sampled = [f for f in list_run_dirs(store) if f.name.startswith(run.name + "-rejudged-")]
    assert [f.name.endswith("-sample6") for f in sampled] == [True]
    judged = pl.read_parquet(sampled[0] / "transcripts.parquet")
    assert {(p, e) for p, e in judged.select("probe_id", "epoch").iter_rows()} == canaries


def test_limit_and_explicit_old_judge(store_copy, fake_judge) -> None:
    """--limit takes the first probes (every epoch); --judge NEW --judge OLD with OLD the stored
    judge uses the stored scores rather than judging again."""
    store, reports, run = store_copy
    result = _invoke(
        store,
        run.name,
        "--judge",
        JUDGE,
        "--judge",
        "lexical",
        "--limit",
        "3",
        "--reports",
        str(reports),
    )
    assert result.exit_code == 0, result.output
    diff = _saved_diff(reports)
    assert diff["old"]["how"] == "stored scores" and diff["transcripts"] == 6
    assert diff["sample"] == "first 3 probes (--limit)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--judge", "lexical", "--judge", "lexical", "--judge", "lexical"],
            "error: field '--judge': --judge was given 3 times (fix: give --judge NEW, or --judge NEW --judge OLD)",
        ),
        (
            ["--judge", "lexical", "--limit", "2", "--all"],
            "error: field '--limit': --limit and --all contradict each other (fix: use one of them)",
        ),
    ],
)
def test_bad_options_are_one_line_errors(store_copy, args: list[str], message: str) -> None:
    store, _, run = store_copy
    result = _invoke(store, run.name, *args)
    assert result.exit_code == 2
    assert result.output.strip() == message


def test_no_run_and_no_canary_is_an_error(store_copy) -> None:
    store, _, _ = store_copy
    result = _invoke(store, "--judge", "lexical")
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: field 'RUN': no RUN given and no [nightly] canary_run configured "
        "(fix: pass a run id (see `character runs`) or set [nightly] canary_run)"
    )


# one stored verdict row, as verdict_pairs reads it
VERDICT = {
    "epoch": 1,
    "rubric": "r",
    "dimension": "d",
    "scale": "binary",
    "gating": True,
    "turn": None,
    "reason": None,
    "reasoning": "",
}


def test_kappa_and_shift_per_dimension() -> None:
    """On a hand-made pair of judges: 10 of 40 verdicts flip 0 -> 1, Cohen's kappa is 0.5
    (p_o = 0.75, p_e = 0.5 x 0.75 + 0.5 x 0.25 = 0.5), the shift is +0.25 with a CI around it,
    and the flip rate has its Wilson interval."""
    old = [1, 1, 1, 0, 0, 0, 1, 0] * 5
    new = [1, 1, 1, 0, 0, 1, 1, 1] * 5
    base = {**VERDICT, "status": "scored", "label": None}
    frame = lambda values: pl.DataFrame(  # noqa: E731
        [{**base, "probe_id": f"p{i}", "value": float(v)} for i, v in enumerate(values)]
    )
    [row] = dimension_table(verdict_pairs(frame(old), frame(new)), resamples=999).to_dicts()
    assert (row["transcripts"], row["flips"], row["flip_rate"]) == (40, 10, 0.25)
    assert (row["flip_ci_lo"], row["flip_ci_hi"]) == pytest.approx(stats.wilson_interval(10, 40))
    assert row["agreement"] == 0.75 and row["kappa"] == pytest.approx(0.5)
    assert row["kappa_ci_lo"] <= 0.5 <= row["kappa_ci_hi"]
    assert (row["old_mean"], row["new_mean"], row["shift"]) == (0.5, 0.75, pytest.approx(0.25))
    assert row["shift_ci_lo"] < 0.25 < row["shift_ci_hi"] and row["probes"] == 40


def test_unscored_is_never_a_flip() -> None:
    """A verdict the new judge could not score counts as newly unscored, not as a changed value."""
    base = {**VERDICT, "probe_id": "p"}
    old = pl.DataFrame(
        [
            {**base, "status": "scored", "value": 1.0, "label": None},
            {**base, "epoch": 2, "status": "scored", "value": 0.0, "label": None},
        ]
    )
    new = pl.DataFrame(
        [
            {**base, "status": "unscored", "value": None, "label": None, "reason": "judge failed"},
            {**base, "epoch": 2, "status": "scored", "value": 1.0, "label": None},
        ]
    )
    pairs = verdict_pairs(old, new)
    assert pairs["flipped"].to_list() == [False, True]
    assert pairs["both_scored"].to_list() == [False, True]


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"public datasets not found at {SHARED_DATA}")
def test_lexical_v1_to_v2_on_real_replies(tmp_path: Path) -> None:
    """The judge upgrade this project made: lexical-v1 -> lexical-v2 on GPT-4's XSTest answers
    (the first 60, imported). The flips judge-diff reports are the verdicts that differ between
    `character judge ... --judge lexical-v1` and `--judge lexical-v2`, counted here from their
    tables; the simulator's replies would show none (v2 reads the templates as v1 does)."""
    import csv

    source = SHARED_DATA / "xstest" / "completions" / "xstest_v2_completions_gpt4_streval.csv"
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:60]
    sample = tmp_path / source.name
    with sample.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    store = tmp_path / "store"
    runner = CliRunner()
    assert runner.invoke(cli, ["--store", str(store), "import", str(sample)]).exit_code == 0
    [run] = list_run_dirs(store)
    judged = {}
    for version in ("lexical-v1", "lexical-v2"):
        result = runner.invoke(cli, ["--store", str(store), "judge", run.name, "--judge", version])
        assert result.exit_code == 0, result.output
        folder = next(f for f in list_run_dirs(store) if read_manifest(f).judge.id == version)
        judged[version] = pl.read_parquet(folder / "scores.parquet").filter(
            (pl.col("rubric") != "markers") & (pl.col("status") == "scored")
        )
    both = judged["lexical-v1"].join(
        judged["lexical-v2"], on=["probe_id", "epoch", "rubric", "dimension"], suffix="_v2"
    )
    expected = (
        both.filter(
            pl.col("value").ne_missing(pl.col("value_v2"))
            | pl.col("label").ne_missing(pl.col("label_v2"))
        )
        .group_by("dimension")
        .len()
    )
    expected_flips = dict(expected.iter_rows())
    assert sum(expected_flips.values()) > 0

    result = runner.invoke(
        cli,
        [
            "--store",
            str(store),
            "judge-diff",
            run.name,
            "--judge",
            "lexical-v2",
            "--judge",
            "lexical-v1",
            "--all",
            "--reports",
            str(tmp_path / "reports"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "reusing stored re-judge" in result.output  # the two `character judge` runs above
    diff = _saved_diff(tmp_path / "reports")
    assert diff["sample"] == "whole run (--all)" and diff["transcripts"] == 60
    assert (diff["old"]["judge"], diff["new"]["judge"]) == ("lexical-v1", "lexical-v2")
    reported = {d["dimension"]: d["flips"] for d in diff["dimensions"] if d["flips"]}
    assert reported == expected_flips
    assert len([f for f in diff["flips"] if f["old_status"] == f["new_status"] == "scored"]) == sum(
        expected_flips.values()
    )


def test_stored_reports_are_read_as_untrusted_files(store_copy, tmp_path: Path) -> None:
    """A report.json that names a run id no run could have, a run not in the store, or that is
    nested too deep or not UTF-8, is passed over with a note saying why; the good stored
    comparison is still checked; nothing is read or written outside the store and reports."""
    store, reports, run = store_copy
    [good] = list(reports.iterdir())
    stored = json.loads((good / "report.json").read_text())

    def planted(name: str, data: bytes) -> None:
        (reports / name).mkdir()
        (reports / name / "report.json").write_bytes(data)

    escaping = {**stored, "candidate": {**stored["candidate"], "run_id": "../../outside"}}
    planted("escaping", json.dumps(escaping).encode())
    missing = {**stored, "candidate": {**stored["candidate"], "run_id": "no-such-run"}}
    planted("missing", json.dumps(missing).encode())
    planted("deep", b'{"kind": ' + b"[" * 10_000 + b"]" * 10_000 + b"}")
    planted("cp1252", b'{"kind": "\x92"}')
    outside = tmp_path / "outside"
    outside.mkdir()

    result = _invoke(store, run.name, "--judge", "lexical-v1", "--all", "--reports", str(reports))
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    diff = _saved_diff(reports)
    assert diff["sample"] == "whole run (--all)"
    assert diff["notes"] == [
        f"{reports / 'cp1252' / 'report.json'}: passed over (not UTF-8 text: byte 0x92 at byte "
        "offset 10 (the file looks like Windows-1252 / Latin-1 text, as old editors and "
        "spreadsheets save it))",
        f"{reports / 'deep' / 'report.json'}: passed over (JSON nested more than 64 levels deep)",
        f"{reports / 'escaping' / 'report.json'}: passed over (its baseline or candidate run id "
        "is not a run id)",
    ]
    checks = {Path(c["report"]).name: c for c in diff["comparisons"]}
    assert set(checks) == {good.name, "missing"}
    assert checks["missing"]["verdict_new"] is None
    assert checks["missing"]["note"] == f"skipped: run no-such-run is not in the store {store}"
    assert checks[good.name]["verdict_old"] == stored["verdict"]
    assert list(outside.iterdir()) == []
