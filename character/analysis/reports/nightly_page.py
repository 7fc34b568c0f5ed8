"""The nightly report (one page per night) and the index page over all nights.

Both are offline HTML (no scripts, no external URLs, all text escaped); the nightly page also
comes as Markdown for a scheduled job's step summary.
"""

from __future__ import annotations

import html
from pathlib import Path

import polars as pl

from character.analysis.nightly import KIND_CANARY, NightlyResult
from character.analysis.reports.html import CSS, esc
from character.analysis.reports.markdown import table
from character.analysis.viewer_links import alarm_link
from character.store.files import atomic_write_text

INDEX_FILE = "index.html"


def _status(result: NightlyResult) -> str:
    if result.errors:
        return "ERROR"
    return "ALARM" if result.alarms else "QUIET"


def render_nightly_markdown(result: NightlyResult, *, viewer_url: str | None = None) -> str:
    """Tonight's alarms and table; with `viewer_url`, each alarming row links into the viewer."""
    lines = [f"## character nightly {result.night}: {_status(result)}", ""]
    lines += [f"- {m}" for m in result.errors + result.alarms] or ["- no CUSUM alarm on any gating dimension."]
    if result.judge_drift:
        lines += ["", "**The judge canaries moved: treat model alarms on those dimensions as judge drift.**"]
    lines += [f"- note: {n}" for n in result.notes]
    lines.append("")
    rows = []
    for row in result.tonight.filter(pl.col("rubric") != "").iter_rows(named=True):
        rows.append([row["target"], f"{row['rubric']}/{row['dimension']}", "yes" if row["gating"] else "",
                     _num(row["reference_mean"]), _num(row["mean"]), _num(row["delta"]),
                     _num(row["z"], 2), _num(row["s_plus"], 2), _num(row["s_minus"], 2),
                     "ALARM" if row["alarm"] else "",
                     *([_md_link(viewer_url, row)] if viewer_url else [])])
    if rows:
        lines += table(["target", "dimension", "gating", "reference", "tonight", "delta", "z", "S+", "S-",
                        "alarm", *(["viewer"] if viewer_url else [])], rows)
    for name, folder in result.comparisons.items():
        lines.append(f"\n{name}: full comparison in {folder}/report.html")
    return "\n".join(lines) + "\n"


def _md_link(viewer_url: str, row: dict) -> str:
    link = alarm_link(viewer_url, row) if row["alarm"] else None
    return f"[open]({link})" if link else ""


def _num(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}g}" if digits != 2 else f"{value:+.2f}"


def render_nightly_html(result: NightlyResult, *, viewer_url: str | None = None) -> str:
    body = [f"<h1>character nightly {esc(result.night)}: {esc(_status(result))}</h1><ul>"]
    body += [f"<li>{esc(m)}</li>" for m in result.errors + result.alarms] or ["<li>no CUSUM alarm on any gating dimension.</li>"]
    body += [f"<li>note: {esc(n)}</li>" for n in result.notes]
    body.append("</ul>")
    for name, folder in result.comparisons.items():
        rel = f"{folder.name}/report.html"
        body.append(f'<p>{esc(name)}: <a href="{esc(rel)}">comparison with the reference</a></p>')
    columns = ["target", "kind", "rubric", "dimension", "gating", "reference_mean", "mean", "delta", "se",
               "z", "s_plus", "s_minus", "alarm", "direction", "note"]
    head = "".join(f"<th>{esc(c)}</th>" for c in columns) + ("<th>viewer</th>" if viewer_url else "")
    rows = "".join(
        "<tr>" + "".join(f"<td>{esc(_cell(row[c]))}</td>" for c in columns)
        + (f"<td>{_html_link(viewer_url, row)}</td>" if viewer_url else "") + "</tr>"
        for row in result.tonight.iter_rows(named=True)
    )
    body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    return _page(f"character nightly {result.night}", "".join(body))


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


def render_index(history: pl.DataFrame) -> str:
    """One row per night: targets, alarms (model and canary), link to that night's page."""
    nights = (
        history.group_by("night")
        .agg(
            pl.col("target").filter(pl.col("kind") != KIND_CANARY).unique().sort().str.join(", ").alias("targets"),
            (pl.col("alarm") & pl.col("gating") & (pl.col("kind") != KIND_CANARY)).sum().alias("model_alarms"),
            (pl.col("alarm") & pl.col("gating") & (pl.col("kind") == KIND_CANARY)).sum().alias("canary_alarms"),
        )
        .sort("night", descending=True)
    )
    rows = "".join(
        f'<tr><td><a href="{esc(r["night"])}/nightly.html">{esc(r["night"])}</a></td><td>{esc(r["targets"])}</td>'
        f'<td>{r["model_alarms"]}</td><td>{r["canary_alarms"]}</td></tr>'
        for r in nights.iter_rows(named=True)
    )
    body = ("<h1>character nightly runs</h1><table><thead><tr><th>night</th><th>targets</th>"
            "<th>dimension alarms</th><th>judge-canary alarms</th></tr></thead>"
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
