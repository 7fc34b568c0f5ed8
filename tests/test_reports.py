"""Tests for the report writers: Markdown verdict first, offline HTML, versioned JSON, JUnit XML."""

from __future__ import annotations

import dataclasses
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import run_by_name
from test_compare import FAST, compare_frames, score_rows

from character.analysis.compare import Comparison, compare_runs
from character.analysis.reports import (
    SCHEMA_VERSION,
    render_html,
    render_junit,
    render_markdown,
    write_reports,
)
from character.cli.main import cli


@pytest.fixture(scope="module")
def ab(sim_store: Path) -> Comparison:
    """v1 vs v2 from the shared simulated store."""
    return compare_runs(run_by_name(sim_store, "v1"), run_by_name(sim_store, "v2"), FAST)


def test_write_reports_writes_all_four_formats(ab: Comparison, tmp_path: Path) -> None:
    """`write_reports` is what the demo calls: four files, named as documented."""
    paths = write_reports(ab, tmp_path / "out")
    assert {k: p.name for k, p in paths.items()} == {
        "markdown": "report.md", "html": "report.html", "json": "report.json", "junit": "junit.xml"}
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths.values())


def test_markdown_puts_the_verdict_first_and_fits_a_comment(ab: Comparison) -> None:
    """The first lines are the verdict and its reasons (PR comment, step summary), under 65,536 chars."""
    text = render_markdown(ab)
    lines = text.splitlines()
    assert lines[0] == "## character: FAIL (SIMULATED)"
    first_reason = next(line for line in lines if line.startswith("- "))
    assert first_reason.startswith("- FAIL · pushback/capitulation: ")
    assert "SIMULATED" in text and len(text) < 65_536
    assert "no regression" not in text.lower()
    assert "95% CI" in text and "MDE" in text


def test_html_is_self_contained_with_a_forest_plot(ab: Comparison) -> None:
    """Opens offline: no scripts, no external URLs; one forest-plot point per dimension with an interval."""
    page = render_html(ab)
    assert "<script" not in page.lower()
    assert not re.search(r"(src|href)\s*=\s*\"(https?:)?//", page)
    assert "http://" not in page and "https://" not in page
    finite = ab.dimensions.filter(pl.col("ci95_lo").is_not_null()).height
    category_points = ab.categories.filter(pl.col("ci95_lo").is_not_null()).height
    assert page.count("<circle") == finite + category_points
    assert "by category" in page and "SIMULATED" in page


def test_html_and_markdown_escape_untrusted_text(ab: Comparison) -> None:
    """A target label is user text: it must not become markup in either report."""
    evil = "<script>alert(1)</script>|x"
    target = ab.candidate.target.model_copy(update={"label": evil})
    hostile = dataclasses.replace(ab, candidate=ab.candidate.model_copy(update={"target": target}))
    page = render_html(hostile)
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    markdown = render_markdown(hostile)
    assert "<script>" not in markdown and "\\|x" in markdown


def test_json_has_a_schema_version_and_no_nan(ab: Comparison, tmp_path: Path) -> None:
    """The JSON report is strict JSON (no NaN) with schema_version and one row per dimension."""
    path = write_reports(ab, tmp_path)["json"]
    data = json.loads(path.read_text(encoding="utf-8"), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert data["schema_version"] == SCHEMA_VERSION == 2 and data["kind"] == "character.comparison"
    assert data["verdict"] == "FAIL" and data["exit_code"] == 1 and data["simulated"] is True
    assert len(data["dimensions"]) == ab.dimensions.height
    row = next(d for d in data["dimensions"] if d["dimension"] == "capitulation")
    assert row["ci95_lo"] < row["diff"] < row["ci95_hi"] and row["class"] == "REGRESSION"


def test_junit_has_one_case_per_gating_dimension(ab: Comparison) -> None:
    """JUnit: a test case per gating dimension, failures exactly for the REGRESSIONs."""
    root = ET.fromstring(render_junit(ab))
    gate = root.find("testsuite[@name='character.gate']")
    gating = ab.dimensions.filter(pl.col("gating"))
    assert len(gate.findall("testcase")) == gating.height
    failed = {c.get("name") for c in gate.findall("testcase") if c.find("failure") is not None}
    assert failed == set(gating.filter(pl.col("class") == "REGRESSION")["dimension"].to_list())
    hard = root.find("testsuite[@name='character.hard_constraints']")
    assert (0 if hard is None else len(hard.findall("testcase"))) == ab.hard_constraints.height


def test_invalid_comparison_reports_the_problems_everywhere() -> None:
    """An invalid comparison: Markdown lists the fixes, JUnit has one error case, no dimension rows."""
    rows = score_rows([{"probe_id": f"synthetic.p{i}", "dimension": "d", "epoch": 1, "value": 0.0} for i in range(5)])
    invalid = compare_frames(rows, rows, rubric_hash="other")
    markdown = render_markdown(invalid)
    assert markdown.startswith("## character: FAIL — invalid comparison (SIMULATED)")
    assert "character judge base" in markdown
    root = ET.fromstring(render_junit(invalid))
    assert root.get("errors") == "1" and root.get("tests") == "1"


def test_report_command_renders_one_format(sim_store: Path, tmp_path: Path) -> None:
    """`character report A B --format junit -o FILE` writes just that format."""
    out = tmp_path / "junit.xml"
    result = CliRunner().invoke(cli, ["--store", str(sim_store), "report", run_by_name(sim_store, "v1").name,
                                      run_by_name(sim_store, "v2").name, "--format", "junit", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert ET.parse(out).getroot().tag == "testsuites"
