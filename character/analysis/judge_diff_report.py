"""`character judge-diff`'s report: Markdown for people, JSON for tools.

Judge ids, reasons and reasoning come from stored files and models: every such piece is escaped
for Markdown (`transcript_links.md_text`, the boundary's Markdown escape); a flipped verdict links
to its transcript in the viewer when its address is known, and names its turn otherwise.
"""

from __future__ import annotations

import json
import math
from typing import Any

import polars as pl

from character.analysis.json_values import json_safe
from character.analysis.judge_diff import JudgeDiff
from character.analysis.transcript_links import Linker, TranscriptRef, md_ref, md_text


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x * 100:.1f}%"


def _num(x: float | None, signed: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def _mean(x: float | None, scale: str) -> str:
    return _pct(x) if scale == "binary" else _num(x)


def _shift_text(row: dict[str, Any]) -> str:
    if row["shift"] is None:
        return row["note"] or "n/a"
    unit = 100 if row["scale"] == "binary" else 1
    suffix = " pp" if row["scale"] == "binary" else ""
    return (
        f"{row['shift'] * unit:+.1f}{suffix} ({row['shift_ci_lo'] * unit:+.1f} to "
        f"{row['shift_ci_hi'] * unit:+.1f}; p = {row['shift_p']:.3f})"
    )


def _kappa_text(row: dict[str, Any]) -> str:
    if row["kappa"] is None or not math.isfinite(row["kappa"]):
        return "n/a (one judge gave a single value)" if row["transcripts"] else "n/a"
    lo, hi = row["kappa_ci_lo"], row["kappa_ci_hi"]
    if lo is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{_num(row['kappa'])} (CI n/a: undefined in resamples)"
    return f"{_num(row['kappa'])} ({_num(lo)} to {_num(hi)})"


def _ref(diff: JudgeDiff, row: dict[str, Any]) -> TranscriptRef:
    return TranscriptRef(diff.run_id, row["probe_id"], row["epoch"], row["turn"])


def headline(diff: JudgeDiff) -> str:
    return (
        f"## character judge-diff: {md_text(diff.run_id)} · {md_text(diff.old.judge)} -> "
        f"{md_text(diff.new.judge)}"
    )


def render_markdown(diff: JudgeDiff, *, link: Linker | None = None, max_flips: int = 100) -> str:
    lines = [headline(diff), ""]
    lines.append(f"- Sample: {md_text(diff.sample)}.")
    lines.append(f"- Transcripts judged by both: {diff.transcripts}.")
    for side, name in ((diff.old, "Old"), (diff.new, "New")):
        lines.append(
            f"- {name} judge: {md_text(side.judge)} ({side.kind}; {md_text(side.how)}: {md_text(side.run_id)})."
        )
    lines += [f"- {md_text(note)}" for note in diff.notes]
    lines += [
        "",
        "### Per dimension",
        "",
        "| dimension | transcripts | flips | flip rate (95% CI) | agreement | kappa (95% CI) | "
        "mean old -> new | shift new - old (95% CI, paired by probe) | newly unscored |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in diff.dimensions.iter_rows(named=True):
        kappa = _kappa_text(row)
        lines.append(
            f"| {md_text(row['rubric'] + '/' + row['dimension'])}{' (gating)' if row['gating'] else ''} | "
            f"{row['transcripts']} | {row['flips']} | {_pct(row['flip_rate'])} ({_pct(row['flip_ci_lo'])} to "
            f"{_pct(row['flip_ci_hi'])}) | {_pct(row['agreement'])} | {kappa} | "
            f"{_mean(row['old_mean'], row['scale'])} -> {_mean(row['new_mean'], row['scale'])} | "
            f"{md_text(_shift_text(row))} | {row['newly_unscored']} |"
        )
    lines += [
        "",
        "### Conclusions of stored comparisons that used this run",
        "",
        f"Both runs of each comparison judged by {md_text(diff.old.judge)} -> both judged by "
        f"{md_text(diff.new.judge)}:",
        "",
    ]
    if not diff.comparisons:
        lines.append("No stored comparison report used this run.")
    for check in diff.comparisons:
        if check.verdict_new is None:
            lines.append(f"- {md_text(check.report)}: {md_text(check.note)}")
            continue
        changed = diff.conclusions.filter((pl.col("report") == check.report) & pl.col("changed"))
        verdict = f"verdict {check.verdict_old} -> {check.verdict_new}" + (
            " (CANNOT TELL: a side's comparison is invalid)"
            if check.changed is None
            else " (WOULD CHANGE)"
            if check.changed
            else " (unchanged)"
        )
        moves = (
            "; ".join(
                f"{md_text(r['rubric'] + '/' + r['dimension'])} {md_text(r['class_old'])} -> {md_text(r['class_new'])}"
                for r in changed.iter_rows(named=True)
            )
            or "no dimension changes class"
        )
        if check.changed is None:  # no class was computed on the invalid side
            moves = "classes not compared"
        lines.append(f"- {md_text(check.report)}: {verdict}; {moves}")
        if check.problems_new:
            lines.append(
                f"  - re-judged comparison invalid: {md_text('; '.join(check.problems_new))}"
            )
        if check.note:
            lines.append(f"  - {md_text(check.note)}")
    flips = diff.flips
    lines += ["", f"<details><summary>Verdicts that flip ({flips.height})</summary>", ""]
    if flips.height:
        lines += [
            "| transcript | dimension | old | new | new judge's reasoning |",
            "|---|---|---|---|---|",
        ]
        for row in flips.head(max_flips).iter_rows(named=True):
            lines.append(
                f"| {md_ref(_ref(diff, row), link)} | {md_text(row['rubric'] + '/' + row['dimension'])} | "
                f"{md_text(row['old'], limit=80)} | {md_text(row['new'], limit=80)} | "
                f"{md_text(row['new_reasoning'], limit=200)} |"
            )
        if flips.height > max_flips:
            lines.append(f"\n{flips.height - max_flips} more in judge_diff.json.")
    else:
        lines.append("No verdict flipped.")
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def as_dict(diff: JudgeDiff, *, link: Linker | None = None) -> dict[str, Any]:
    flips = []
    for row in diff.flips.iter_rows(named=True):
        flips.append({**row, "transcript": _ref(diff, row).as_dict(link)})
    return json_safe(
        {
            "kind": "character.judge_diff",
            "schema_version": 1,
            "run_id": diff.run_id,
            "old": diff.old.__dict__,
            "new": diff.new.__dict__,
            "sample": diff.sample,
            "transcripts": diff.transcripts,
            "dimensions": diff.dimensions.to_dicts(),
            "comparisons": [
                {
                    **c.__dict__,
                    "changed": c.changed,
                    "dimensions": diff.conclusions.filter(pl.col("report") == c.report)
                    .drop("report")
                    .to_dicts(),
                }
                for c in diff.comparisons
            ],
            "flips": flips,
            "notes": diff.notes,
        }
    )


def render_json(diff: JudgeDiff, *, link: Linker | None = None) -> str:
    return (
        json.dumps(as_dict(diff, link=link), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    )


def report_slug(diff: JudgeDiff) -> str:
    safe = lambda text: "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in text)  # noqa: E731
    return f"{diff.run_id}__{safe(diff.old.judge)}__to__{safe(diff.new.judge)}"[:200]
