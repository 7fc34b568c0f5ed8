"""The Compare page shows the distinctive phrases the reports list, and opens their examples."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from character.analysis.change_report import ChangeSections
from character.analysis.compare import compare_runs
from character.analysis.phrases import distinctive_phrases, moved_dimensions
from character.analysis.reports import write_reports
from character.domain.config import GateConfig
from character.viewer.comparing import report_downloads
from character.viewer.render import WORD_JOINER
from tests.conftest import run_by_name

APP = Path(__file__).resolve().parents[1] / "app.py"


def test_downloads_hold_the_phrases_character_compare_writes(
    sim_store: Path, tmp_path: Path
) -> None:
    v1, v2 = run_by_name(sim_store, "v1"), run_by_name(sim_store, "v2")
    comparison = compare_runs(v1, v2, GateConfig())
    changes = ChangeSections(
        phrases=distinctive_phrases(v1, v2, moved_dimensions(comparison.dimensions))
    )
    written = write_reports(comparison, tmp_path, changes=changes)
    downloads = {
        d.file_name.rsplit(".", 1)[1]: d.data for d in report_downloads(comparison, "x", changes)
    }
    for kind, suffix in (("markdown", "md"), ("html", "html"), ("json", "json")):
        assert downloads[suffix] == written[kind].read_bytes()
    assert b"What changed in the wording" in downloads["md"]


def test_compare_page_lists_phrases_and_opens_an_example(
    sim_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The phrases of each moved dimension are on the Drift tab; picking an example opens that
    probe and epoch side by side in the changed-verdicts tab."""
    v1, v2 = run_by_name(sim_store, "v1"), run_by_name(sim_store, "v2")
    monkeypatch.setenv("CHARACTER_STORE", str(sim_store))
    app = AppTest.from_file(str(APP), default_timeout=120).run()
    app.multiselect(key="runs.pick").set_value([v1.name, v2.name]).run()
    app.switch_page("character/viewer/pages/compare.py").run()
    app.session_state["compare.tab"] = "Drift and top movers"
    app.run()
    assert not app.exception
    assert "What changed in the wording (exploratory, not gated)" in [
        s.value for s in app.subheader
    ]
    comparison = compare_runs(v1, v2, GateConfig())
    moved = moved_dimensions(comparison.dimensions)
    report = distinctive_phrases(v1, v2, moved)
    labels = [e.label for e in app.expander]
    for scope in moved:
        listed = report.phrases.filter(report.phrases["scope"] == scope).height
        assert f"{scope}: {listed} phrases" in labels
    scope = next(s for s in moved if report.examples.filter(report.examples["scope"] == s).height)
    example = report.examples.filter(report.examples["scope"] == scope).row(0, named=True)
    app.selectbox(key=f"compare.changes.{scope}.open").set_value(
        f"{example['probe_id']} · epoch {example['epoch']}"
    ).run()
    assert not app.exception
    assert app.session_state["compare.tab"] == "Verdicts that changed"
    opened = f"{example['probe_id']} · epoch {example['epoch']} · {scope}"
    assert any(plain(s.value) == opened for s in app.subheader)


def plain(markdown: str) -> str:
    """What a reader sees of the viewer's escaped Markdown."""
    return html.unescape(re.sub(r"\\(.)", r"\1", markdown)).replace(WORD_JOINER, "")
