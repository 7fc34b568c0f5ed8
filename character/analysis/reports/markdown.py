"""Markdown report: the verdict first, worded as docs/methods.md, then the tables.

Order: the headline (for CANNOT FAIL and NOT GATED it says why), the verdict's reasons (missing
probe x epoch samples last), the exploratory findings that survived BH, then the tables.

Sized for a pull-request comment (GitHub caps a comment at 65,536 characters) and for
$GITHUB_STEP_SUMMARY. Long sections are folded in <details> blocks; the HTML and JSON reports
hold everything.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from character.analysis import survival_report
from character.analysis.compare import Comparison
from character.analysis.gate import CANNOT_FAIL, NOT_GATED
from character.analysis.viewer_links import ReportLinks
from character.analysis.wording import fmt_mean, fmt_signed, scope
from character.boundary.text import Markdown, markdown_text

if TYPE_CHECKING:
    from character.analysis.change_report import ChangeSections

MAX_CHARS = 60_000  # below GitHub's 65,536-character comment limit, with room for a header
MAX_ROWS = 40


def cell(value: Any) -> str:
    """Table-safe text: shows literally, forms no link, image, tag or emphasis, splits no cell
    (the boundary's one Markdown escape, shared with the calibration report)."""
    return markdown_text(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def _num(value: float | None, rate: bool) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return fmt_mean(value, rate)


def _diff_ci(row: dict[str, Any]) -> str:
    if row["diff"] is None:
        return "n/a"
    rate = row["scale"] == "binary"
    unit = " pp" if rate else ""
    lo, hi = row["ci95_lo"], row["ci95_hi"]
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{fmt_signed(row['diff'], rate)}{unit} (CI not estimable)"
    return f"{fmt_signed(row['diff'], rate)}{unit} ({fmt_signed(lo, rate)} to {fmt_signed(hi, rate)})"


def _p(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _mde(row: dict[str, Any]) -> str:
    if row["mde"] is None:
        return "n/a"
    rate = row["scale"] == "binary"
    return f"{row['mde'] * 100:.1f} pp" if rate else f"{row['mde']:.2f}"


def _length(row: dict[str, Any]) -> str:
    before, after = row["length_baseline"], row["length_candidate"]
    if before is None or after is None or before <= 0:
        return "n/a"
    return f"{before:.0f} -> {after:.0f} ({(after / before - 1) * 100:+.0f}%)"


def headline(comparison: Comparison) -> str:
    """The first line: the verdict, and for CANNOT FAIL / NOT GATED why, in a few words."""
    simulated = " (SIMULATED)" if comparison.simulated else ""
    if not comparison.valid:
        return f"## character: FAIL — invalid comparison{simulated}"
    if comparison.verdict == CANNOT_FAIL:
        cannot = comparison.dimensions.filter(pl.col("gating") & ~pl.col("can_fail").fill_null(False))
        first = cannot.row(0, named=True)
        more = f" (and {cannot.height - 1} more)" if cannot.height > 1 else ""
        return (f"## character: CANNOT FAIL — {first['rubric']}/{first['dimension']}: "
                f"{first['note'] or 'not tested'}{more}{simulated}")
    if comparison.verdict == NOT_GATED:
        found = len(comparison.findings)
        return (f"## character: NOT GATED — no dimension gates this comparison; "
                f"{found or 'no'} exploratory finding{'' if found == 1 else 's'} survived BH{simulated}")
    return f"## character: {comparison.verdict}{simulated}"


def findings_section(comparison: Comparison) -> list[str]:
    """Exploratory findings that survived Benjamini-Hochberg: at the top of every report.

    Under NOT GATED they are already the verdict's reasons, so they are not listed twice.
    """
    if not comparison.findings or comparison.verdict == NOT_GATED:
        return []
    q = comparison.settings.exploratory_q
    return [f"**Exploratory findings (not gated; survived BH at q = {q:g}):**", "",
            *[f"- {cell(f)}" for f in comparison.findings], ""]


def render_markdown(
    comparison: Comparison,
    *,
    viewer_url: str | None = None,
    changes: ChangeSections | None = None,
) -> str:
    """The report; with `viewer_url`, each top mover and failed hard constraint links to the
    viewer; with `changes`, the distinctive phrases and checked summary are included."""
    lines = [headline(comparison), ""]
    b, c = comparison.baseline, comparison.candidate
    # escaped text, not code spans: inside a code span a backslash escape would show literally
    lines.append(f"Baseline **{cell(b.target.label)}** ({cell(b.run_id)}) vs candidate "
                 f"**{cell(c.target.label)}** ({cell(c.run_id)}); judge {cell(c.judge.id)}.")
    lines.append("")
    if comparison.simulated:
        lines += ["> **SIMULATED**: at least one run used a sim/* persona, not a real model.", ""]
    if not comparison.valid:
        lines.append("The runs cannot be compared:")
        lines += [f"- {cell(problem)}" for problem in comparison.problems]
        lines += ["", *_runs(comparison)]
        return _fit("\n".join(lines) + "\n")

    lines += [f"- {reason}" for reason in comparison.verdict_reasons] or ["- (no gating dimension)"]
    lines.append("")
    lines += findings_section(comparison)
    dims = comparison.dimensions
    gating = dims.filter(pl.col("gating"))
    explore = dims.filter(~pl.col("gating"))
    lines += _dimension_section("Gating dimensions", gating, "Holm")
    if explore.height:
        lines += _dimension_section(
            f"Exploratory dimensions (not gated; BH q = {comparison.settings.exploratory_q:g})",
            explore, "BH",
        )
    links = ReportLinks.of(comparison, viewer_url)
    lines += _hard_constraints(comparison.hard_constraints, links.hard_constraints)
    lines += _movers(comparison.movers, links.movers)
    lines += _markers(comparison.markers)
    lines += _categories(comparison.categories)
    lines += survival_report.markdown_lines(comparison.survival)
    lines += changes.markdown() if changes is not None else []  # exploratory: phrases, summary
    lines += _runs(comparison)
    return _fit("\n".join(lines) + "\n")


def _dimension_section(title: str, frame: pl.DataFrame, adjustment: str) -> list[str]:
    if frame.height == 0:
        return []
    rows = []
    for row in frame.iter_rows(named=True):
        rate = row["scale"] == "binary"
        rows.append([
            f"{row['rubric']}/{row['dimension']}",
            row["class"] or "n/a",
            _num(row["baseline_mean"], rate),
            _num(row["candidate_mean"], rate),
            _diff_ci(row),
            _p(row["p_worse"] if adjustment == "Holm" else row["p_two_sided"]),
            _p(row["p_adjusted"]),
            _mde(row),
            _design(row),
            scope(row) if row["population"] else "n/a",
            f"{row['baseline_unscored']}/{row['candidate_unscored']}",
            _length(row),
        ])
    p_head = "p (one-sided, worse)" if adjustment == "Holm" else "p (two-sided)"
    headers = ["dimension", "class", "baseline", "candidate", "diff (95% CI)", p_head,
               f"{adjustment} p", "MDE", "probes x epochs", "inference", "unscored b/c",
               "length (chars)"]
    return [f"### {title}", "", *table(headers, rows), ""]


def _design(row: dict[str, Any]) -> str:
    """'4 x 2', and the scored samples of an arm that has fewer than probes x epochs."""
    text = f"{row['n_probes']} x {row['epochs'] or 'n/a'}"
    for arm in ("baseline", "candidate"):
        cells, expected = row.get(f"{arm}_cells"), row.get(f"{arm}_expected_cells")
        if cells is not None and expected and cells < expected:
            text += f"; {arm} {cells} of {expected}"
    return text


def _hard_constraints(frame: pl.DataFrame, links: list[str | None] | None = None) -> list[str]:
    if frame.height == 0:
        return []
    failed = frame.filter(~pl.col("passed"))
    lines = [f"### Hard constraints ({frame.height} probes, every epoch must pass)", ""]
    failed_links = [link for link, passed in zip(links or [], frame["passed"], strict=False) if not passed]
    lines += [f"- {row}" + (f" [open in viewer]({failed_links[i]})" if links else "")
              for i, row in enumerate(failed["sentence"].to_list())]
    passed = frame.height - failed.height
    lines += [f"- {passed} of {frame.height} passed in every epoch.", ""]
    return lines


def _movers(frame: pl.DataFrame, links: list[str] | None = None) -> list[str]:
    if frame.height == 0:
        return []
    rows = []
    for i, row in enumerate(frame.head(MAX_ROWS).iter_rows(named=True)):
        rows.append([row["probe_id"], f"{row['rubric']}/{row['dimension']}", f"{row['baseline']:.2f}",
                     f"{row['candidate']:.2f}", f"{row['d']:+.2f}",
                     "worse" if row["worse_direction"] else "better",
                     *([Markdown(f"[open]({links[i]})")] if links else [])])
    headers = ["probe", "dimension", "baseline", "candidate", "d", "direction"]
    return ["<details><summary>Probes that moved most</summary>", "",
            *table(headers + (["viewer"] if links else []), rows),
            "", "</details>", ""]


def _markers(frame: pl.DataFrame) -> list[str]:
    if frame.height == 0:
        return []
    rows = []
    for row in frame.iter_rows(named=True):
        rate = row["scale"] == "binary"
        rows.append([row["marker"], _num(row["baseline_mean"], rate), _num(row["candidate_mean"], rate),
                     _diff_ci({**row, "scale": row["scale"]}), row["test"], scope(row), _p(row["p_two_sided"]),
                     _p(row["p_adjusted"]), "yes" if row["discovery"] else ""])
    return ["<details><summary>Lexical markers and response length (exploratory)</summary>", "",
            *table(["marker", "baseline", "candidate", "diff (95% CI)", "test", "inference", "p",
                    "BH p", "flagged"], rows),
            "", "</details>", ""]


def _categories(frame: pl.DataFrame) -> list[str]:
    if frame.height == 0:
        return []
    flagged = frame.filter(pl.col("discovery"))
    rows = []
    for row in flagged.head(MAX_ROWS).iter_rows(named=True):
        rate = row["scale"] == "binary"
        rows.append([row["category"], f"{row['rubric']}/{row['dimension']}", row["n_probes"],
                     _num(row["baseline_mean"], rate), _num(row["candidate_mean"], rate),
                     _diff_ci(row), scope(row), _p(row["p_adjusted"])])
    lines = [f"### Categories (exploratory): {flagged.height} of {frame.height} cuts flagged at BH q", ""]
    if rows:
        lines += table(["category", "dimension", "probes", "baseline", "candidate", "diff (95% CI)",
                        "inference", "BH p"], rows)
        lines.append("")
    return lines


def _runs(comparison: Comparison) -> list[str]:
    rows = []
    for arm, manifest in (("baseline", comparison.baseline), ("candidate", comparison.candidate)):
        counts = comparison.unscored[arm]
        rows.append([
            arm, manifest.run_id, manifest.target.model, (manifest.target.system_prompt_hash or "none")[:10],
            f"{manifest.judge.id}", manifest.epochs,
            ", ".join(f"{s.name}@{s.hash[:8]}" for s in manifest.suites),
            samples_text(comparison, arm),
            f"{counts['unscored']} of {counts['verdicts']} ({counts['judge_error']} judge errors)",
        ])
    lines = ["<details><summary>Runs</summary>", "",
             *table(["arm", "run", "model", "prompt hash", "judge", "epochs", "suites",
                     "probe x epoch samples", "unscored verdicts"], rows), ""]
    lines += [f"- {cell(note)}" for note in comparison.notes]
    lines += ["", "</details>", ""]
    return lines


def samples_text(comparison: Comparison, arm: str) -> str:
    """'8 of 8', or '7 of 8 (missing: pushback.b epoch 2)' (every report format names them)."""
    info = comparison.coverage.get(arm)
    if not info:
        return "n/a"
    text = f"{info['present']} of {info['expected']}"
    if info["missing"]:
        named = ", ".join(f"{m['probe_id']} epoch {m['epoch']}" for m in info["missing"][:MAX_ROWS])
        more = f" and {len(info['missing']) - MAX_ROWS} more" if len(info["missing"]) > MAX_ROWS else ""
        text += f" (missing: {named}{more})"
    return text


def _fit(text: str) -> str:
    if len(text) <= MAX_CHARS:
        return text
    cut = text[:MAX_CHARS].rsplit("\n", 1)[0]
    unclosed = cut.count("<details>") - cut.count("</details>")
    return cut + "\n" + "\n</details>" * unclosed + (
        "\n\n_(report truncated to fit a comment; see report.html / report.json)_\n"
    )
