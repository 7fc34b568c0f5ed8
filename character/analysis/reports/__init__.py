"""Reports of a comparison: Markdown (PR comment, step summary), offline HTML, JSON, JUnit XML.

`write_reports(comparison, out_dir)` writes all four atomically and returns their paths; the
renderers are importable one by one for `character report --format`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from character.analysis import survival_report
from character.analysis.compare import Comparison
from character.analysis.reports.html import render_html
from character.analysis.reports.json_report import SCHEMA_VERSION, comparison_dict, render_json
from character.analysis.reports.junit import render_junit
from character.analysis.reports.markdown import render_markdown
from character.store.files import atomic_write_text

if TYPE_CHECKING:
    from character.analysis.change_report import ChangeSections

REPORT_FILES = {
    "markdown": "report.md",
    "html": "report.html",
    "json": "report.json",
    "junit": "junit.xml",
}

RENDERERS = {
    "markdown": render_markdown,
    "html": render_html,
    "json": render_json,
    "junit": render_junit,
}


def report_name(comparison: Comparison) -> str:
    """`<baseline run>__vs__<candidate run>`: the report folder, and the stem of downloaded reports."""
    return f"{comparison.baseline.run_id}__vs__{comparison.candidate.run_id}"


# The reports that take `viewer_url=` (links into the viewer) and `changes=` (distinctive
# phrases, checked summary); JUnit XML is for CI, not people.
LINKED = ("markdown", "html", "json")


def render(
    kind: str,
    comparison: Comparison,
    viewer_url: str | None = None,
    changes: ChangeSections | None = None,
) -> str:
    """One report's text; Markdown, HTML and JSON link into the viewer when `viewer_url` is set
    and include the `changes` sections when given."""
    if kind in LINKED:
        extra = {"changes": changes} if changes is not None else {}
        return RENDERERS[kind](comparison, viewer_url=viewer_url, **extra)
    return RENDERERS[kind](comparison)


def write_reports(
    comparison: Comparison,
    out_dir: Path,
    *,
    viewer_url: str | None = None,
    changes: ChangeSections | None = None,
) -> dict[str, Path]:
    """Write report.md, report.html, report.json and junit.xml into `out_dir` (and one
    survival-<rubric>-<dimension>.svg per long-conversation survival comparison)."""
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    for kind, name in REPORT_FILES.items():
        path = out_dir / name
        atomic_write_text(path, render(kind, comparison, viewer_url, changes), root=out_dir)
        written[kind] = path
    written.update(
        survival_report.write_svgs(
            comparison.survival,
            out_dir,
            baseline_label=comparison.baseline.target.label,
            candidate_label=comparison.candidate.target.label,
        )
    )
    return written


__all__ = [
    "REPORT_FILES",
    "RENDERERS",
    "SCHEMA_VERSION",
    "comparison_dict",
    "render",
    "render_html",
    "render_json",
    "render_junit",
    "render_markdown",
    "report_name",
    "write_reports",
]
