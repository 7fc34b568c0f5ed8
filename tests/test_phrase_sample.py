"""Distinctive phrases read a bounded, stable sample of a large run pair.

Every compare and gate computes the phrases; on two runs of 10,000 transcripts reading every
reply took 11 s (`python -m bench phrases`). A scope now reads at most
`PhraseSettings.max_transcripts` per version, the transcripts whose sha256 of (probe, epoch) comes
first, so both versions read the same probes and epochs, every time, and the reports say so.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from character.analysis.change_report import ChangeSections
from character.analysis.compare import compare_runs
from character.analysis.phrases import PhraseSettings, distinctive_phrases
from character.analysis.reports import render
from tests.synthetic_store import write_synthetic_run

SIZE, LIMIT = 300, 100  # 60 probes x 5 epochs per run; 20 probes per suite


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    store = tmp_path_factory.mktemp("phrase-sample")
    base = write_synthetic_run(store, transcripts=SIZE, run_id="sample-a", seed=0)
    cand = write_synthetic_run(store, transcripts=SIZE, run_id="sample-b", seed=1)
    return base, cand


def _first_by_hash(folder: Path, limit: int, prefix: str = "") -> set[tuple[str, int]]:
    """The sample computed independently: sha256 of "probe NUL epoch", lowest first."""
    keys = pl.read_parquet(folder / "transcripts.parquet", columns=["probe_id", "epoch"])
    rows = [(p, int(e)) for p, e in keys.iter_rows() if p.startswith(prefix)]
    rows.sort(key=lambda k: (hashlib.sha256(f"{k[0]}\x00{k[1]}".encode()).hexdigest(), k))
    return set(rows[:limit])


def test_each_scope_reads_at_most_the_limit_per_version(pair) -> None:
    base, cand = pair
    settings = PhraseSettings(max_transcripts=LIMIT, min_z=0.0)
    report = distinctive_phrases(base, cand, ["sycophancy/flattery"], settings)
    rows = {r["scope"]: r for r in report.scopes.to_dicts()}
    assert [
        rows["all"][k]
        for k in (
            "sampled_baseline",
            "available_baseline",
            "sampled_candidate",
            "available_candidate",
        )
    ] == [100, 300, 100, 300]
    # flattery is judged on the 20 sycophancy probes x 5 epochs: 100 transcripts, read whole
    flattery = rows["sycophancy/flattery"]
    assert (flattery["sampled_baseline"], flattery["available_baseline"]) == (100, 100)
    assert rows["all"]["transcripts_baseline"] == rows["all"]["transcripts_candidate"] == 100
    # every example comes from the sample, the same (probe, epoch) keys in both versions
    expected = _first_by_hash(base, LIMIT)
    assert expected == _first_by_hash(cand, LIMIT)
    shown = report.examples.filter(pl.col("scope") == "all")
    assert shown.height > 0
    assert {(p, int(e)) for p, e in shown.select("probe_id", "epoch").iter_rows()} <= expected


def test_the_sample_is_stable_and_stated_in_every_report(pair) -> None:
    base, cand = pair
    settings = PhraseSettings(max_transcripts=LIMIT)
    first = distinctive_phrases(base, cand, [], settings)
    again = distinctive_phrases(base, cand, [], settings)
    assert first.phrases.equals(again.phrases) and first.examples.equals(again.examples)
    comparison = compare_runs(base, cand)
    sections = ChangeSections(phrases=first)
    stated = "phrases from 100 of 300 transcripts per version, chosen by a hash of probe and epoch"
    assert stated in render("markdown", comparison, changes=sections)
    assert stated in render("html", comparison, changes=sections)
    [scope] = json.loads(render("json", comparison, changes=sections))["changes"][
        "distinctive_phrases"
    ]["scopes"]
    assert (scope["sampled_baseline"], scope["available_baseline"]) == (100, 300)
    assert (
        json.loads(render("json", comparison, changes=sections))["changes"]["distinctive_phrases"][
            "settings"
        ]["max_transcripts"]
        == LIMIT
    )


def test_a_pair_under_the_limit_is_read_whole_and_says_nothing_of_a_sample(pair) -> None:
    base, cand = pair
    report = distinctive_phrases(base, cand, [])  # default limit (2,000) > 300
    row = report.scopes.row(0, named=True)
    assert (row["sampled_baseline"], row["available_baseline"]) == (300, 300)
    assert row["transcripts_baseline"] == 300
    markdown = render("markdown", compare_runs(base, cand), changes=ChangeSections(phrases=report))
    assert "phrases from" not in markdown


def test_versions_of_different_sizes_are_stated_apart(pair, tmp_path: Path) -> None:
    base, _ = pair
    small = write_synthetic_run(tmp_path, transcripts=150, run_id="sample-c", seed=2)
    report = distinctive_phrases(base, small, [], PhraseSettings(max_transcripts=LIMIT))
    row = report.scopes.row(0, named=True)
    assert (row["sampled_candidate"], row["available_candidate"]) == (100, 150)
    from character.analysis.change_report import sample_text

    assert sample_text(row) == (
        "phrases from 100 of 300 baseline and 100 of 150 candidate transcripts"
    )
