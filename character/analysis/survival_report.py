"""How the long-conversation survival comparison reads: a sentence, a Markdown table, an SVG chart.

The compare reports (Markdown, HTML, JSON), the standalone `survival-*.svg` files beside them and
the viewer's Compare page all render `survival.SurvivalComparison` through this module, so they
say the same thing. Text from runs passes through `html.escape` in SVG and HTML.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from character.analysis.survival import ArmSurvival, SurvivalComparison
from character.store.files import atomic_write_text

COLOURS = {"baseline": "#2e86c1", "candidate": "#c0392b"}
WIDTH, HEIGHT = 620, 260
LEFT, RIGHT, TOP, BOTTOM = 50, 180, 30, 40


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def _median(arm: ArmSurvival) -> str:
    return (
        f"turn {arm.median_flip_turn}"
        if arm.median_flip_turn
        else f"not reached by turn {arm.followed_to}"
    )


def common_turn(s: SurvivalComparison) -> int:
    """The last turn both versions' curves are defined at: where "still holding" is compared."""
    return min(s.baseline.followed_to, s.candidate.followed_to)


def _reach(s: SurvivalComparison) -> str:
    """Why the comparison stops before the longest probe's last turn ("" when it does not)."""
    turn = common_turn(s)
    if turn >= s.horizon:
        return ""
    b, c = s.baseline.followed_to, s.candidate.followed_to
    who = "" if b == c else ("baseline " if b < c else "candidate ")
    return f" (no {who}conversation reached turn {turn + 1})"


def curve_rows(s: SurvivalComparison) -> list[dict[str, object]]:
    """Turn by turn to the last turn either version's curve is defined at. A version's
    holding share is None past its own last defined turn (Kaplan-Meier says nothing there)."""
    rows: list[dict[str, object]] = []
    for turn in range(1, max(s.baseline.followed_to, s.candidate.followed_to) + 1):
        row: dict[str, object] = {"turn": turn}
        for name, arm in (("baseline", s.baseline), ("candidate", s.candidate)):
            point = arm.curve[turn - 1] if turn <= len(arm.curve) else None
            row[f"{name} holding"] = arm.holding_at(turn)
            row[f"{name} at risk"] = point.at_risk if point else 0
            row[f"{name} first flips"] = point.flipped if point else 0
        rows.append(row)
    return rows


def table_notes(s: SurvivalComparison) -> list[str]:
    """What the turn-by-turn table leaves out, and why."""
    last = max(s.baseline.followed_to, s.candidate.followed_to)
    notes = []
    if last < s.horizon:
        notes.append(
            f"no conversation reached turn {last + 1}: the table stops at turn {last} "
            "(Kaplan-Meier is not defined past the last turn with a conversation at risk)"
        )
    if s.baseline.followed_to != s.candidate.followed_to:
        notes.append("\u2014: no conversation of that version reached the turn")
    return notes


def _p(value: float) -> str:
    return f"{value:.3f}" if value >= 0.001 else "< 0.001"


def sentence(s: SurvivalComparison) -> str:
    """One line a reader can act on, in the compare wording's style."""
    b, c = s.baseline, s.candidate
    turn = common_turn(s)
    text = (
        f"{s.key} in long conversations ({s.n_probes} probes x {s.epochs} epoch(s), up to "
        f"{s.horizon} turns): still holding at turn {turn} {_pct(b.holding_at(turn) or 0.0)} -> "
        f"{_pct(c.holding_at(turn) or 0.0)}{_reach(s)}; turns held (RMST) {b.rmst:.1f} -> {c.rmst:.1f} "
        f"({s.rmst_diff:+.1f} turns, 95% CI {s.ci95[0]:+.1f} to {s.ci95[1]:+.1f}; {s.test}, "
        f"one-sided p = {_p(s.p_worse)} for fewer turns held); median turn of first flip "
        f"{_median(b)} -> {_median(c)}"
    )
    if b.mean_flips is not None and c.mean_flips is not None and s.flips_diff is not None:
        text += (
            f"; flips per conversation {b.mean_flips:.2f} -> {c.mean_flips:.2f} "
            f"(p = {_p(s.flips_p_two_sided or 1.0)})"
        )
    return text + ". Exploratory: not gated."


def markdown_lines(results: list[SurvivalComparison]) -> list[str]:
    """The Markdown section (empty when no long conversation was compared)."""
    if not results:
        return []
    lines = ["### Long conversations: still holding, by turn (exploratory)", ""]
    for s in results:
        lines += [f"- {sentence(s)}", ""]
        lines.append("| turn | baseline holding | candidate holding | at risk (b / c) |")
        lines.append("|---|---|---|---|")
        for row in curve_rows(s):
            held = [row[f"{arm} holding"] for arm in ("baseline", "candidate")]
            shown = [_pct(v) if isinstance(v, float) else "\u2014" for v in held]
            lines.append(
                f"| {row['turn']} | {shown[0]} | {shown[1]} | "
                f"{row['baseline at risk']} / {row['candidate at risk']} |"
            )
        lines += [f"- note: {note}" for note in [*table_notes(s), *s.notes]]
        lines.append("")
    return lines


def survival_svg(s: SurvivalComparison, *, baseline_label: str, candidate_label: str) -> str:
    """Kaplan-Meier step curves of both versions, 0-100% over turns 0..horizon."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(turn: float) -> float:
        return LEFT + turn / max(s.horizon, 1) * plot_w

    def y(value: float) -> float:
        return TOP + (1.0 - value) * plot_h

    title = f"{s.key}: still holding, by turn"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{html.escape(title)}" font-family="sans-serif" font-size="11">',
        f'<text x="{LEFT}" y="16" font-weight="bold">{html.escape(title)}</text>',
    ]
    for level in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(level):.1f}" y2="{y(level):.1f}" '
            'stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(level) + 4:.1f}" text-anchor="end">{level:.0%}</text>'
        )
    step = max(1, s.horizon // 10)
    for turn in range(0, s.horizon + 1, step):
        parts.append(
            f'<text x="{x(turn):.1f}" y="{TOP + plot_h + 15}" text-anchor="middle">{turn}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle">turn '
        "(user message)</text>"
    )
    for index, (arm, arm_name, label, colour) in enumerate(
        (
            (s.baseline, "baseline", baseline_label, COLOURS["baseline"]),
            (s.candidate, "candidate", candidate_label, COLOURS["candidate"]),
        )
    ):
        points = [(0.0, 1.0)]
        level = 1.0
        for point in arm.curve:
            points.append((point.turn - 0.5, level))  # the flip happens during turn t
            level = point.surviving
            points.append((point.turn - 0.5, level))
        points.append((float(arm.followed_to), level))  # the curve ends where it is defined
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
        dash = ' stroke-dasharray="6 3"' if index else ""
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        legend_y = TOP + 14 + index * 48
        shown = label if len(label) <= 26 else label[:25] + "\u2026"
        parts.append(
            f'<line x1="{LEFT + plot_w + 8}" x2="{LEFT + plot_w + 28}" y1="{legend_y}" '
            f'y2="{legend_y}" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        for line, (text, extra) in enumerate(
            (
                (arm_name, ' font-weight="bold"'),
                (shown, ""),
                (f"RMST {arm.rmst:.1f} turns", ' fill="#555"'),
            )
        ):
            parts.append(
                f'<text x="{LEFT + plot_w + 32}" y="{legend_y + 4 + line * 13}"{extra}>'
                f"{html.escape(text)}</text>"
            )
    parts.append("</svg>")
    return "\n".join(parts)


def html_section(
    results: list[SurvivalComparison], *, baseline_label: str, candidate_label: str
) -> str:
    if not results:
        return ""
    out = ["<h2>Long conversations: still holding, by turn (exploratory)</h2>"]
    for s in results:
        out.append(survival_svg(s, baseline_label=baseline_label, candidate_label=candidate_label))
        out.append(f"<p>{html.escape(sentence(s))}</p>")
        out += [f"<p><i>{html.escape(note)}</i></p>" for note in s.notes]
    return "\n".join(out)


def svg_file_name(s: SurvivalComparison) -> str:
    return "survival-" + re.sub(r"[^a-z0-9_]+", "-", f"{s.rubric}-{s.dimension}".lower()) + ".svg"


def write_svgs(
    results: list[SurvivalComparison], out_dir: Path, *, baseline_label: str, candidate_label: str
) -> dict[str, Path]:
    """One `survival-<rubric>-<dimension>.svg` per result beside the reports."""
    written: dict[str, Path] = {}
    for s in results:
        path = Path(out_dir) / svg_file_name(s)
        atomic_write_text(
            path,
            survival_svg(s, baseline_label=baseline_label, candidate_label=candidate_label) + "\n",
        )
        written[f"survival:{s.key}"] = path
    return written
