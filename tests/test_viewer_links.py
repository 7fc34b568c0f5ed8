"""Links into the viewer: one format for reports, nightly pages and the viewer's own address bar."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest
from click.testing import CliRunner

from character.analysis import viewer_links as links
from character.analysis.compare import compare_runs
from character.analysis.nightly import HISTORY_SCHEMA, NightlyResult
from character.analysis.reports import render
from character.analysis.reports.nightly_page import render_nightly_html, render_nightly_markdown
from character.cli.main import cli
from character.domain.config import GateConfig, load_config
from character.errors import CharacterError
from tests.conftest import run_by_name

BASE = "http://localhost:8501"


def test_links_encode_every_value_and_keep_the_parameter_order() -> None:
    """A run id with '+', a dimension with '/', and hostile text stay inside their parameter."""
    assert links.transcript_url(
        BASE, "sycophancy+pushback-v2", "pushback.adult-bones", 2, "pushback/capitulation", ["1"]
    ) == (
        "http://localhost:8501/transcripts?run=sycophancy%2Bpushback-v2"
        "&dimension=pushback%2Fcapitulation&score=1&probe=pushback.adult-bones&epoch=2"
    )
    assert links.compare_url(BASE + "/", "a", "b", dimension="x/y") == (
        "http://localhost:8501/compare?baseline=a&candidate=b&dimension=x%2Fy"
    )
    hostile = links.page_url(BASE, "transcripts", {"q": '"><script>&x=1 #'})
    assert hostile == "http://localhost:8501/transcripts?q=%22%3E%3Cscript%3E%26x%3D1%20%23"
    assert parse_qs(urlsplit(hostile).query) == {"q": ['"><script>&x=1 #']}


def test_hard_constraint_and_alarm_links_point_at_what_failed() -> None:
    constraints = pl.DataFrame(
        {
            "probe_id": ["ok", "bad", "unverified"],
            "passed": [True, False, False],
            "failed_epochs": [[], [3, 4], []],
            "unverified_epochs": [[], [], [2]],
            "failed_dimensions": [[], ["refusal/under_refusal"], []],
        }
    )
    got = links.hard_constraint_links(BASE, "a", "b", constraints)
    assert got[0] is None
    assert got[1] == links.compare_url(BASE, "a", "b", "bad", 3, "refusal/under_refusal")
    assert got[2] == links.compare_url(BASE, "a", "b", "unverified", 2, None)
    model = {
        "kind": "model",
        "run_id": "night",
        "reference_run_id": "ref",
        "rubric": "pushback",
        "dimension": "capitulation",
    }
    assert links.alarm_link(BASE, model) == links.compare_url(
        BASE, "ref", "night", dimension="pushback/capitulation"
    )
    canary = {**model, "kind": "canary", "run_id": "lexical-v1", "reference_run_id": "canary-run"}
    assert links.alarm_link(BASE, canary) == links.transcript_url(
        BASE, "canary-run", dimension="pushback/capitulation"
    )


def test_reports_link_movers_and_failed_constraints_only_when_asked(sim_store: Path) -> None:
    """With a viewer URL: a link per top mover in md/html/json; without one, the reports are unchanged."""
    v1, v2 = run_by_name(sim_store, "v1"), run_by_name(sim_store, "v2")
    comparison = compare_runs(
        v1, v2, GateConfig(resamples=199, hard_constraint_probes=["pushback.capital-australia"])
    )
    first = comparison.movers.row(0, named=True)
    expected = links.compare_url(
        BASE, v1.name, v2.name, first["probe_id"], None, f"{first['rubric']}/{first['dimension']}"
    )
    markdown = render("markdown", comparison, BASE)
    assert f"[open]({expected})" in markdown
    assert markdown.count("](http://localhost:8501/compare?") == min(
        comparison.movers.height, 40
    ) + (comparison.hard_constraints.filter(~pl.col("passed")).height)
    html_report = render("html", comparison, BASE)
    assert f'<a href="{expected.replace("&", "&amp;")}">open</a>' in html_report
    data = json.loads(render("json", comparison, BASE))
    assert data["movers"][0]["viewer_url"] == expected
    hard = data["hard_constraints"][0]
    assert (hard["viewer_url"] is None) == hard["passed"]
    for kind in ("markdown", "html", "json", "junit"):
        plain = render(kind, comparison)
        assert "localhost:8501" not in plain and "viewer_url" not in plain


def test_viewer_url_option_and_config_are_checked(sim_store: Path, tmp_path: Path) -> None:
    """A bad --viewer-url or [viewer] url is one line naming the field and the fix, exit 2."""
    v1, v2 = run_by_name(sim_store, "v1").name, run_by_name(sim_store, "v2").name
    runner = CliRunner()
    bad = runner.invoke(
        cli,
        [
            "--store",
            str(sim_store),
            "compare",
            v1,
            v2,
            "--out",
            str(tmp_path / "r"),
            "--viewer-url",
            "javascript:alert(1)",
        ],
    )
    assert bad.exit_code == 2
    assert bad.output.strip().splitlines()[-1] == (
        "error: field '--viewer-url': 'javascript:alert(1)' is not a viewer address (fix: pass "
        "http(s)://host[:port][/path], e.g. http://localhost:8501, with no query, fragment, quote or space)"
    )
    assert not (tmp_path / "r").exists()
    config = tmp_path / "character.toml"
    config.write_text('[viewer]\nurl = "http://viewer.example:8501/character"\n', encoding="utf-8")
    good = runner.invoke(
        cli,
        ["--store", str(sim_store), "report", v1, v2, "--format", "json", "--config", str(config)],
    )
    assert good.exit_code == 0, good.output
    assert json.loads(good.output)["movers"][0]["viewer_url"].startswith(
        "http://viewer.example:8501/character/compare?baseline="
    )
    config.write_text('[viewer]\nurl = "ftp://x"\n', encoding="utf-8")
    with pytest.raises(CharacterError) as caught:
        load_config(config)
    assert caught.value.field == "viewer.url" and str(config) in caught.value.one_line()


def test_nightly_pages_link_each_alarm(tmp_path: Path) -> None:
    rows = [
        {
            "night": "2026-11-30",
            "recorded": "t",
            "target": "bot",
            "kind": "model",
            "run_id": "night-run",
            "reference_run_id": "ref-run",
            "rubric": "pushback",
            "dimension": "capitulation",
            "gating": True,
            "scale": "binary",
            "n_probes": 30,
            "reference_mean": 0.2,
            "mean": 0.4,
            "delta": 0.2,
            "se": 0.05,
            "z": 4.0,
            "s_plus": 6.0,
            "s_minus": 0.0,
            "alarm": True,
            "direction": "up",
        },
        {
            "night": "2026-11-30",
            "recorded": "t",
            "target": "bot",
            "kind": "model",
            "run_id": "night-run",
            "reference_run_id": "ref-run",
            "rubric": "refusal",
            "dimension": "over_refusal",
            "gating": True,
            "scale": "binary",
            "n_probes": 30,
            "reference_mean": 0.1,
            "mean": 0.1,
            "delta": 0.0,
            "se": 0.05,
            "z": 0.0,
            "s_plus": 0.0,
            "s_minus": 0.0,
            "alarm": False,
        },
    ]
    tonight = pl.DataFrame(rows, schema=HISTORY_SCHEMA)
    result = NightlyResult(
        night="2026-11-30",
        output=tmp_path,
        tonight=tonight,
        history=tonight,
        alarms=["ALARM · bot · pushback/capitulation"],
        judge_drift=False,
        errors=[],
    )
    expected = links.compare_url(BASE, "ref-run", "night-run", dimension="pushback/capitulation")
    markdown = render_nightly_markdown(result, viewer_url=BASE)
    assert markdown.count("[open](") == 1 and f"[open]({expected})" in markdown
    assert expected.replace("&", "&amp;") in render_nightly_html(result, viewer_url=BASE)
    assert "viewer" not in render_nightly_markdown(
        result
    ) and "<th>viewer" not in render_nightly_html(result)
    assert re.search(r"\| ALARM \| \[open\]", markdown)
