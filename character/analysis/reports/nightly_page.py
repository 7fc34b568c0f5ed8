"""The nightly report (one page per night) and the index page over all nights.

Both are offline HTML (no scripts, no external URLs, all text escaped); the nightly page also
comes as Markdown for a scheduled job's step summary. The index draws one sparkline per series
(the nightly mean against the reference's, alarms red, improvements green) as inline SVG. Nights
are UTC dates.
"""

from __future__ import annotations

import html
import math
from operator import itemgetter
from pathlib import Path
from typing import Any

import polars as pl

from character.analysis.nightly import (
    KIND_CANARY,
    NightlyResult,
    history_file,
    judged_against,
    output_dir,
    read_history,
    row_state,
)
from character.analysis.reports.html import CSS, esc
from character.analysis.reports.markdown import table
from character.analysis.viewer_links import alarm_link
from character.boundary.text import Markdown
from character.domain.config import Config
from character.store.files import atomic_write_text

INDEX_FILE = "index.html"
SPARK_WIDTH, SPARK_HEIGHT, SPARK_NIGHTS = 180, 34, 60


def _status(result: NightlyResult) -> str:
    if result.errors:
        return "ERROR"
    return "ALARM" if result.alarms else "QUIET"


def render_nightly_markdown(result: NightlyResult, *, viewer_url: str | None = None) -> str:
    """Tonight's alarms, improvements and table; with `viewer_url`, each alarming row links into the viewer."""
    lines = [f"## character nightly {result.night} (UTC): {_status(result)}", ""]
    lines += [f"- {m}" for m in result.errors + result.alarms] or ["- no CUSUM or one-night alarm on any gating dimension."]
    lines += [f"- {m}" for m in result.improvements]
    if result.judge_drift:
        lines += ["", "**The judge canaries moved: treat model alarms on those dimensions as judge drift.**"]
    lines += [f"- note: {n}" for n in result.notes]
    lines.append("")
    rows = []
    for row in result.tonight.filter(pl.col("rubric") != "").iter_rows(named=True):
        level, delta, z = judged_against(row)
        rows.append([row["target"], f"{row['rubric']}/{row['dimension']}", "yes" if row["gating"] else "",
                     _num(row["reference_mean"]), _level(row, level), _num(row["mean"]), _num(delta),
                     _num(z, 2), _num(row["s_plus"], 2), _num(row["s_minus"], 2), row_state(row),
                     *([_md_link(viewer_url, row)] if viewer_url else [])])
    if rows:
        lines += table(["target", "dimension", "gating", "reference", "judged against", "tonight", "delta",
                        "z", "S+", "S-", "signal", *(["viewer"] if viewer_url else [])], rows)
        lines += ["", "delta and z are tonight against the level the CUSUM judges (the reference's mean "
                  "until someone accepts a new level with `character nightly ack`)."]
    for name, folder in result.comparisons.items():
        lines.append(f"\n{name}: full comparison in {folder}/report.html")
    return "\n".join(lines) + "\n"


def _level(row: dict, level: float | None) -> str:
    """The level tonight is judged against: the reference, or the accepted level after an ack."""
    if level is None:
        return ""
    return f"{_num(level)} (accepted)" if row.get("level") else f"{_num(level)} (reference)"


def _md_link(viewer_url: str, row: dict) -> str:
    link = alarm_link(viewer_url, row) if row["alarm"] else None
    return Markdown(f"[open]({link})") if link else ""  # built here: passes the cell escaping


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "" if value is None else str(value)
    return f"{value:.{digits}g}" if digits != 2 else f"{value:+.2f}"


def render_nightly_html(result: NightlyResult, *, viewer_url: str | None = None) -> str:
    body = [f"<h1>character nightly {esc(result.night)} (UTC): {esc(_status(result))}</h1><ul>"]
    body += [f"<li>{esc(m)}</li>" for m in result.errors + result.alarms] or [
        "<li>no CUSUM or one-night alarm on any gating dimension.</li>"]
    body += [f"<li>{esc(m)}</li>" for m in result.improvements]
    body += [f"<li>note: {esc(n)}</li>" for n in result.notes]
    body.append("</ul>")
    for name, folder in result.comparisons.items():
        rel = f"{folder.name}/report.html"
        body.append(f'<p>{esc(name)}: <a href="{esc(rel)}">comparison with the reference</a></p>')
    head = "".join(f"<th>{esc(name)}</th>" for name, _ in HTML_COLUMNS) + ("<th>viewer</th>" if viewer_url else "")
    rows = "".join(
        "<tr>" + "".join(f"<td>{esc(_cell(value(row)))}</td>" for _, value in HTML_COLUMNS)
        + (f"<td>{_html_link(viewer_url, row)}</td>" if viewer_url else "") + "</tr>"
        for row in result.tonight.iter_rows(named=True)
    )
    body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    return _page(f"character nightly {result.night}", "".join(body))


# The nightly page's table: the level the CUSUM judges tonight against, and delta and z from it,
# beside the reference's; after an ack the two differ, and the alarm lines use the level.
HTML_COLUMNS: list[tuple[str, Any]] = [
    *((name, itemgetter(name)) for name in ("target", "kind", "rubric", "dimension", "gating")),
    ("reference", itemgetter("reference_mean")),
    ("judged against", lambda row: judged_against(row)[0]),
    ("level", lambda row: "accepted" if row.get("level") else ("reference" if row.get("z") is not None else None)),
    ("tonight", itemgetter("mean")),
    ("delta vs level", lambda row: judged_against(row)[1]),
    ("z vs level", lambda row: judged_against(row)[2]),
    ("delta vs reference", itemgetter("delta")),
    ("z vs reference", itemgetter("z")),
    ("se", itemgetter("se")),
    ("S+", itemgetter("s_plus")),
    ("S-", itemgetter("s_minus")),
    ("state", row_state),
    *((name, itemgetter(name)) for name in ("direction", "target_change", "acknowledged", "note")),
]


def _html_link(viewer_url: str, row: dict) -> str:
    link = alarm_link(viewer_url, row) if row["alarm"] else None
    return f'<a href="{esc(link)}">open</a>' if link else ""


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "" if value is None else str(value)


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body>{body}</body></html>\n")


def sparkline(series: pl.DataFrame) -> str:
    """Inline SVG: the nightly mean (line), the reference mean (dashed), alarms red, improvements green.

    `series` holds one series' rows (night, mean, reference_mean, alarm, signal) in night order;
    the last `SPARK_NIGHTS` nights are drawn. The title attribute lists every point for readers
    without a mouse-over.
    """
    frame = series.filter(pl.col("mean").is_not_null()).tail(SPARK_NIGHTS)
    if frame.height == 0:
        return ""
    means = frame["mean"].to_list()
    reference = [v for v in frame["reference_mean"].to_list() if v is not None]
    values = means + reference
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    pad = 3

    def point(i: int, value: float) -> tuple[float, float]:
        x = pad + (i * (SPARK_WIDTH - 2 * pad) / max(1, frame.height - 1))
        y = SPARK_HEIGHT - pad - (value - low) / span * (SPARK_HEIGHT - 2 * pad)
        return x, y

    coords = [point(i, v) for i, v in enumerate(means)]
    parts = [f'<svg width="{SPARK_WIDTH}" height="{SPARK_HEIGHT}" role="img" '
             f'aria-label="nightly mean over {frame.height} nights">']
    title = "; ".join(f"{n}: {m:.3g}" for n, m in zip(frame["night"].to_list(), means, strict=True))
    parts.append(f"<title>{esc(title)}</title>")
    if reference:
        _, y = point(0, reference[-1])
        parts.append(f'<line x1="{pad}" x2="{SPARK_WIDTH - pad}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#999" stroke-dasharray="3,3"/>')
    parts.append('<polyline fill="none" stroke="#2e86c1" stroke-width="1.5" points="'
                 + " ".join(f"{x:.1f},{y:.1f}" for x, y in coords) + '"/>')
    for (x, y), alarm, signal in zip(coords, frame["alarm"].to_list(), frame["signal"].to_list(), strict=True):
        if alarm:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#c0392b"/>')
        elif signal == "improvement":
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#1e8449"/>')
    parts.append("</svg>")
    return "".join(parts)


def _series_table(history: pl.DataFrame) -> str:
    """One row per series of the current references: sparkline, latest values, state."""
    observed = history.filter(pl.col("dimension") != "").sort("night", "recorded")
    if observed.height == 0:
        return ""
    latest_reference = observed.group_by("target", "kind").agg(pl.col("reference_run_id").last())
    current = observed.join(latest_reference, on=["target", "kind", "reference_run_id"], how="semi")
    rows = []
    for (target, kind, rubric, dimension), series in current.group_by(
        ["target", "kind", "rubric", "dimension"], maintain_order=True
    ):
        last = series.tail(1).row(0, named=True)
        state = row_state(last) or "quiet"
        level, _delta, z = judged_against(last)
        acked = series.filter(pl.col("acknowledged").is_not_null())
        ack_text = acked["acknowledged"][-1] if acked.height else ""
        rows.append(
            f"<tr><td>{esc(target)}</td><td>{esc(rubric)}/{esc(dimension)}{'' if last['gating'] else ' (expl.)'}</td>"
            f"<td>{sparkline(series)}</td><td>{esc(_cell(last['reference_mean']))}</td>"
            f"<td>{esc(_level(last, level))}</td>"
            f"<td>{esc(_cell(last['mean']))}</td><td>{esc(_cell(z))}</td>"
            f"<td>{esc(_cell(last['s_plus']))} / {esc(_cell(last['s_minus']))}</td><td>{esc(state)}</td>"
            f"<td>{esc(ack_text)}</td></tr>"
        )
        del kind
    return ("<h2>Series (current references): nightly mean, reference dashed, alarms red, improvements "
            "green</h2><table><thead><tr><th>target</th><th>dimension</th><th>last nights</th>"
            "<th>reference</th><th>judged against</th><th>latest</th><th>z vs level</th><th>S+ / S-</th>"
            "<th>state</th>"
            "<th>acknowledged</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def render_index(history: pl.DataFrame) -> str:
    """Sparklines per series, then one row per night: targets, alarms, link to that night's page."""
    nights = (
        history.group_by("night")
        .agg(
            pl.col("target").filter(pl.col("kind") != KIND_CANARY).unique().sort().str.join(", ").alias("targets"),
            (pl.col("alarm") & pl.col("gating") & (pl.col("kind") != KIND_CANARY)).sum().alias("model_alarms"),
            (pl.col("alarm") & pl.col("gating") & (pl.col("kind") == KIND_CANARY)).sum().alias("canary_alarms"),
            ((pl.col("signal") == "improvement") & pl.col("gating")).sum().alias("improvements"),
        )
        .sort("night", descending=True)
    )
    rows = "".join(
        f'<tr><td><a href="{esc(r["night"])}/nightly.html">{esc(r["night"])}</a></td><td>{esc(r["targets"])}</td>'
        f'<td>{r["model_alarms"]}</td><td>{r["canary_alarms"]}</td><td>{r["improvements"]}</td></tr>'
        for r in nights.iter_rows(named=True)
    )
    body = ("<h1>character nightly runs</h1><p>Nights are UTC dates.</p>" + _series_table(history)
            + "<h2>Nights</h2><table><thead><tr><th>night (UTC)</th><th>targets</th>"
            "<th>dimension alarms</th><th>judge-canary alarms</th><th>improvements</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")
    return _page("character nightly runs", body)


def write_nightly_pages(result: NightlyResult, *, viewer_url: str | None = None) -> dict[str, Path]:
    folder = result.output / result.night
    paths = {
        "markdown": folder / "nightly.md",
        "html": folder / "nightly.html",
        "index": result.output / INDEX_FILE,
    }
    atomic_write_text(paths["markdown"], render_nightly_markdown(result, viewer_url=viewer_url))
    atomic_write_text(paths["html"], render_nightly_html(result, viewer_url=viewer_url))
    atomic_write_text(paths["index"], render_index(result.history))
    return paths


def write_index(config: Config, store: Path) -> Path | None:
    """Rewrite the index from the stored history (after an acknowledgement); None without history."""
    history = read_history(history_file(store))
    if history.height == 0:
        return None
    path = output_dir(config) / INDEX_FILE
    atomic_write_text(path, render_index(history))
    return path
