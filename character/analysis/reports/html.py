"""Self-contained HTML report: opens offline, no scripts, no external URLs.

A forest plot of each dimension's paired difference (95% CI thin, 90% CI thick, the equivalence
margin shaded) drawn as inline SVG, one panel per unit (rates in percentage points, scales in
points), and a small forest plot of the per-category differences for each dimension. Every piece
of text from runs, probes or targets passes through `html.escape`.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from character.analysis import survival_report
from character.analysis.compare import Comparison
from character.analysis.reports.markdown import headline, samples_text
from character.analysis.viewer_links import ReportLinks
from character.boundary.text import mark_hidden

if TYPE_CHECKING:
    from character.analysis.change_report import ChangeSections

COLOURS = {
    "REGRESSION": "#c0392b",
    "IMPROVEMENT": "#1e8449",
    "NO DRIFT BEYOND MARGIN": "#2e86c1",
    "INCONCLUSIVE": "#b9770e",
    None: "#7f8c8d",
}
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222;max-width:1200px}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}
.verdict{font-size:1.3rem;font-weight:700;padding:.5rem 1rem;border-radius:6px;display:inline-block}
.PASS{background:#d5f5e3}.WARN{background:#fdebd0}.FAIL{background:#fadbd8}
.NOT-GATED,.CANNOT-FAIL{background:#e8daef}
.sim{background:#fcf3cf;border:1px solid #d4ac0d;padding:.4rem .8rem;border-radius:4px}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f6f7}li{margin:.2rem 0}svg text{font-size:11px;font-family:inherit}
"""
ROW_HEIGHT = 22
LABEL_WIDTH = 300
PLOT_WIDTH = 520


def esc(value: Any) -> str:
    # hidden characters (bidi overrides, zero-width) shown as markers, then HTML-escaped
    return html.escape(mark_hidden("" if value is None else str(value)), quote=True)


def _finite(*values: Any) -> bool:
    return all(isinstance(v, int | float) and math.isfinite(v) for v in values)


def forest_svg(rows: Sequence[dict[str, Any]], *, label_key: str, unit_scale: float, unit: str,
               title: str) -> str:
    """A forest plot: one row per entry with diff, ci95_lo/hi, optional ci90 and margin."""
    rows = [r for r in rows if _finite(r.get("diff"), r.get("ci95_lo"), r.get("ci95_hi"))]
    if not rows:
        return ""
    extent = max(
        max(abs(r["ci95_lo"]), abs(r["ci95_hi"]), abs(r.get("margin") or 0)) for r in rows
    ) * unit_scale
    extent = extent * 1.1 if extent > 0 else 1.0
    height = ROW_HEIGHT * len(rows) + 60  # title (20) + rows + tick labels and axis title (40)
    width = LABEL_WIDTH + PLOT_WIDTH + 20

    def x(value: float) -> float:
        return LABEL_WIDTH + (value * unit_scale + extent) / (2 * extent) * PLOT_WIDTH

    parts = [f'<svg width="{width}" height="{height}" '
             f'role="img" aria-label="{esc(title)}">']
    parts.append(f'<text x="{LABEL_WIDTH}" y="12" font-weight="bold">{esc(title)}</text>')
    top = 20
    for i, row in enumerate(rows):
        y = top + i * ROW_HEIGHT + ROW_HEIGHT / 2
        margin = row.get("margin")
        if _finite(margin) and margin:
            parts.append(f'<rect x="{x(-margin):.1f}" y="{y - 8:.1f}" width="{x(margin) - x(-margin):.1f}" '
                         'height="16" fill="#eaf2f8"/>')
        colour = COLOURS.get(row.get("class"), COLOURS[None])
        parts.append(f'<text x="{LABEL_WIDTH - 6}" y="{y + 4:.1f}" text-anchor="end">{esc(row[label_key])}</text>')
        parts.append(f'<line x1="{x(row["ci95_lo"]):.1f}" x2="{x(row["ci95_hi"]):.1f}" y1="{y:.1f}" '
                     f'y2="{y:.1f}" stroke="{colour}" stroke-width="1.5"/>')
        if _finite(row.get("ci90_lo"), row.get("ci90_hi")):
            parts.append(f'<line x1="{x(row["ci90_lo"]):.1f}" x2="{x(row["ci90_hi"]):.1f}" y1="{y:.1f}" '
                         f'y2="{y:.1f}" stroke="{colour}" stroke-width="4" opacity="0.6"/>')
        parts.append(f'<circle cx="{x(row["diff"]):.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
                     f'<title>{esc(row.get("sentence") or row[label_key])}</title></circle>')
    bottom = top + len(rows) * ROW_HEIGHT
    parts.append(f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{top}" y2="{bottom}" stroke="#555" '
                 'stroke-dasharray="3,3"/>')
    for tick in (-extent, -extent / 2, 0.0, extent / 2, extent):
        tx = LABEL_WIDTH + (tick + extent) / (2 * extent) * PLOT_WIDTH
        parts.append(f'<text x="{tx:.1f}" y="{bottom + 14}" text-anchor="middle">{tick:+.2g}</text>')
    parts.append(f'<text x="{LABEL_WIDTH + PLOT_WIDTH / 2}" y="{bottom + 28}" text-anchor="middle">'
                 f'candidate - baseline ({esc(unit)})</text></svg>')
    return "".join(parts)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}g}" if math.isfinite(value) else "n/a"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _frame_table(frame: pl.DataFrame, columns: Sequence[str]) -> str:
    present = [c for c in columns if c in frame.columns]
    rows = [[_fmt(row[c]) for c in present] for row in frame.select(present).iter_rows(named=True)]
    return _table(present, rows)


def _forests(comparison: Comparison) -> str:
    rows = comparison.dimensions.with_columns(
        label=pl.concat_str([pl.col("rubric"), pl.lit("/"), pl.col("dimension"),
                             pl.when(pl.col("gating")).then(pl.lit("")).otherwise(pl.lit(" (expl.)"))])
    )
    rates = rows.filter(pl.col("scale") == "binary").to_dicts()
    scales = rows.filter(pl.col("scale") != "binary").to_dicts()
    return (forest_svg(rates, label_key="label", unit_scale=100, unit="percentage points",
                       title="Rates: paired difference, 95% CI (thin) and 90% CI (thick); shaded: margin")
            + forest_svg(scales, label_key="label", unit_scale=1, unit="scale points",
                         title="Scales: paired difference, 95% CI (thin) and 90% CI (thick); shaded: margin"))


def _category_charts(comparison: Comparison) -> str:
    parts = []
    for (rubric, dimension), group in comparison.categories.group_by(["rubric", "dimension"], maintain_order=True):
        rate = group["scale"][0] == "binary"
        rows = group.with_columns(label=pl.concat_str([pl.col("category"), pl.lit(" (n="),
                                                       pl.col("n_probes").cast(pl.String), pl.lit(")")]),
                                  **{"class": pl.when(pl.col("discovery")).then(pl.lit("REGRESSION"))
                                     .otherwise(pl.lit(None))}).to_dicts()
        parts.append(forest_svg(rows, label_key="label", unit_scale=100 if rate else 1,
                                unit="percentage points" if rate else "scale points",
                                title=f"{rubric}/{dimension} by category (red: flagged at BH q)"))
    return "".join(parts)


def _link(url: str | None, text: str) -> str:
    return f'<a href="{esc(url)}">{esc(text)}</a>' if url else ""


def render_html(
    comparison: Comparison,
    *,
    viewer_url: str | None = None,
    changes: ChangeSections | None = None,
) -> str:
    """The report; with `viewer_url`, each top mover and failed hard constraint links to the
    viewer; with `changes`, the distinctive phrases and checked summary are included."""
    links = ReportLinks.of(comparison, viewer_url)
    b, c = comparison.baseline, comparison.candidate
    title = headline(comparison).lstrip("# ")
    out = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
           f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
           f"<h1>{esc(title)}</h1>",
           f"<p>Baseline <code>{esc(b.target.label)}</code> ({esc(b.run_id)}) vs candidate "
           f"<code>{esc(c.target.label)}</code> ({esc(c.run_id)}); judge {esc(c.judge.id)}; "
           f"created {esc(comparison.created)}.</p>"]
    if comparison.simulated:
        out.append('<p class="sim"><b>SIMULATED</b>: at least one run used a sim/* persona, not a real model.</p>')
    verdict_class = comparison.verdict.replace(" ", "-")
    out.append(f'<p class="verdict {esc(verdict_class)}">{esc(comparison.verdict)}</p>')
    if not comparison.valid:
        out.append("<h2>Invalid comparison</h2><ul>" + "".join(f"<li>{esc(p)}</li>" for p in comparison.problems) + "</ul>")
    else:
        out.append("<ul>" + "".join(f"<li>{esc(r)}</li>" for r in comparison.verdict_reasons) + "</ul>")
        if comparison.findings and comparison.verdict != "NOT GATED":
            out.append(f"<h2>Exploratory findings (not gated; survived BH at q = "
                       f"{comparison.settings.exploratory_q:g})</h2><ul>"
                       + "".join(f"<li>{esc(f)}</li>" for f in comparison.findings) + "</ul>")
        out.append("<h2>Differences by dimension</h2>" + _forests(comparison))
        out.append("<h2>All dimensions</h2><ul>" + "".join(
            f"<li>{esc(s)}</li>" for s in comparison.dimensions["sentence"].to_list()) + "</ul>")
        out.append(_frame_table(comparison.dimensions, [
            "rubric", "dimension", "gating", "class", "material", "population", "can_fail", "baseline_mean",
            "candidate_mean", "diff", "ci95_lo", "ci95_hi", "ci90_lo", "ci90_hi", "test", "ci_method",
            "p_worse", "p_two_sided", "adjustment", "p_adjusted", "p_floor", "p_needed", "mde", "margin",
            "se", "se_within", "n_probes", "n_units", "epochs", "baseline_cells", "baseline_expected_cells",
            "candidate_cells", "candidate_expected_cells", "correlation", "baseline_unscored",
            "candidate_unscored", "length_baseline", "length_candidate", "note"]))
        if comparison.hard_constraints.height:
            hard_links = links.hard_constraints or [None] * comparison.hard_constraints.height
            out.append("<h2>Hard constraints</h2><ul>" + "".join(
                f"<li>{esc(s)} {_link(link, 'open in viewer')}</li>"
                for s, link in zip(comparison.hard_constraints["sentence"].to_list(), hard_links, strict=True))
                + "</ul>")
        if comparison.categories.height:
            out.append("<h2>By category (exploratory)</h2>" + _category_charts(comparison))
            out.append(_frame_table(comparison.categories, list(comparison.categories.columns)))
        if comparison.movers.height:
            movers = _frame_table(comparison.movers, list(comparison.movers.columns))
            if links.movers:  # the escaped table, with one more cell per row: a link into the viewer
                rows = iter(links.movers)
                movers = movers.replace("</th></tr>", "</th><th>viewer</th></tr>", 1)
                movers = re.sub("</td></tr>", lambda _: f"</td><td>{_link(next(rows), 'open')}</td></tr>", movers)
            out.append("<h2>Probes that moved most</h2>" + movers)
        if comparison.markers.height:
            out.append("<h2>Lexical markers and response length</h2>"
                       + _frame_table(comparison.markers, list(comparison.markers.columns)))
        out.append(survival_report.html_section(
            comparison.survival, baseline_label=b.target.label, candidate_label=c.target.label))
        if changes is not None:  # exploratory: distinctive phrases, checked summary
            out.append(changes.html())
    runs = []
    for arm, m in (("baseline", b), ("candidate", c)):
        counts = comparison.unscored[arm]
        runs.append([arm, m.run_id, m.target.model, m.target.label, m.target.system_prompt_hash or "none",
                     m.judge.id, m.epochs, ", ".join(f"{s.name}@{s.hash[:8]}" for s in m.suites),
                     ", ".join(f"{r.name}@{r.hash[:8]}" for r in m.rubrics), samples_text(comparison, arm),
                     f"{counts['unscored']} of {counts['verdicts']} ({counts['judge_error']} judge errors)"])
    out.append("<h2>Runs</h2>" + _table(["arm", "run", "model", "label", "prompt hash", "judge", "epochs",
                                         "suites", "rubrics", "probe x epoch samples",
                                         "unscored verdicts"], runs))
    if comparison.notes:
        out.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in comparison.notes) + "</ul>")
    out.append("</body></html>\n")
    return "\n".join(out)
