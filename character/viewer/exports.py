"""Downloads: the rows on screen as CSV, and transcripts (one or a filtered set) as Markdown or JSONL.

CSV cells that a spreadsheet would run as a formula (starting with = + - @ or a tab / carriage
return) get a leading apostrophe: the table can hold error messages and imported text, and
opening a download must not execute anything. (A comparison's reports are downloaded as the
files `character compare` writes: comparing.report_downloads.)

Markdown follows the reports' rules (character.analysis.reports.markdown): short fields go through
its `cell`, which neutralises table pipes and HTML tags; model, user and judge text goes into
fenced blocks longer than any fence inside it, where no Markdown or HTML is interpreted. JSONL
holds one JSON object per transcript (non-finite numbers as null, as the JSON report writes them).
"""

from __future__ import annotations

import json
import re
from typing import Any

import polars as pl

from character.analysis.json_values import json_safe
from character.store.layout import MARKERS_RUBRIC
from character.viewer.conversation import numbered_messages

_FENCE_RUN = re.compile(r"`{3,}|~{3,}")

FORMULA_START = r"^[=+\-@\t\r]"


def rows_csv(frame: pl.DataFrame) -> bytes:
    """The frame as UTF-8 CSV: lists joined with '; ', formula-like text neutralised."""
    cells = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.List):
            column = column.cast(pl.List(pl.String)).list.join("; ")
        elif dtype != pl.String:
            cells.append(column)
            continue
        text = column.cast(pl.String)
        cells.append(
            pl.when(text.str.contains(FORMULA_START))
            .then(pl.lit("'") + text)
            .otherwise(text)
            .alias(name)
        )
    return frame.select(cells).write_csv().encode("utf-8")


def fenced(text: str) -> str:
    """`text` as a fenced block no line of it can close: nothing in it renders as Markdown or HTML."""
    longest = max((len(run) for run in _FENCE_RUN.findall(text)), default=2)
    fence = "~" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _verdict_rows(verdicts: pl.DataFrame) -> list[dict[str, Any]]:
    judged = verdicts.filter(pl.col("rubric") != MARKERS_RUBRIC).sort("rubric", "dimension")
    rows = []
    for row in judged.iter_rows(named=True):
        rows.append(
            {
                "rubric": row["rubric"],
                "dimension": row["dimension"],
                "status": row["status"],
                "value": row["value"],
                "label": row["label"],
                "turn": row["turn"],
                "reason": row.get("reason"),
                "judge": row.get("judge"),
                "reasoning": row.get("reasoning"),
                "evidence": json.loads(row.get("evidence") or "[]"),
            }
        )
    return rows


def transcript_records(
    run_id: str, target: str, bodies: pl.DataFrame, verdicts: pl.DataFrame
) -> list[dict[str, Any]]:
    """One dict per transcript: its fields, messages and the judge's verdicts (markers left out).

    `bodies` are transcript rows (transcript_index.load_bodies), `verdicts` score rows of the same
    transcripts with evidence and reasoning (load_verdict_details); those loaders check the JSON
    cells (`cells.check_cells`), so a damaged one is named there with the `rebuild` fix.
    """
    records = []
    for body in bodies.iter_rows(named=True):
        mine = verdicts.filter(
            (pl.col("probe_id") == body["probe_id"]) & (pl.col("epoch") == body["epoch"])
        )
        records.append(
            {
                "run_id": run_id,
                "target": target,
                "probe_id": body["probe_id"],
                "epoch": body["epoch"],
                "suite": body["suite"],
                "kind": body["kind"],
                "category": body["category"],
                "tags": [t.strip() for t in (body["tags"] or "").split(",") if t.strip()],
                "error": body["error"],
                "messages": json.loads(body["messages"] or "[]"),
                "verdicts": _verdict_rows(mine),
            }
        )
    return records


def transcripts_jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(
        json.dumps(json_safe(record), ensure_ascii=False, allow_nan=False) + "\n"
        for record in records
    )


def _score(verdict: dict[str, Any]) -> str:
    if verdict["status"] != "scored":
        return "unscored"
    if verdict["label"] is not None:
        return str(verdict["label"])
    value = verdict["value"]
    return "n/a" if value is None else f"{value:g}"


def transcripts_markdown(records: list[dict[str, Any]], title: str) -> str:
    """The transcripts as one Markdown document: a heading, a verdict table and the turns each."""
    # The reports' escaping; imported here because the reports package loads the statistics stack.
    from character.analysis.reports.markdown import cell, table

    lines = [f"# {cell(title)}", "", f"{len(records)} transcript(s).", ""]
    for record in records:
        lines += [
            f"## {cell(record['probe_id'])} · epoch {record['epoch']}",
            "",
            f"run {cell(record['run_id'])} · target {cell(record['target'])} · suite "
            f"{cell(record['suite'])} · kind {cell(record['kind'])} · category "
            f"{cell(record['category'])} · tags {cell(', '.join(record['tags']) or '-')}",
            "",
        ]
        if record["verdicts"]:
            rows = [
                [
                    f"{v['rubric']}/{v['dimension']}",
                    _score(v),
                    "" if v["turn"] is None else v["turn"],
                    v["reason"] or "",
                ]
                for v in record["verdicts"]
            ]
            lines += [*table(["dimension", "score", "turn", "unscored reason"], rows), ""]
        for message in numbered_messages(record["messages"]):
            who = (
                "system prompt"
                if message.role == "system"
                else f"turn {message.turn} · {message.role}"
            )
            scripted = " (scripted)" if message.scripted else ""
            lines += [f"**{cell(who)}{scripted}**", "", fenced(message.content), ""]
        if record["error"]:
            lines += ["**the target failed on this sample**", "", fenced(record["error"]), ""]
        for verdict in record["verdicts"]:
            if verdict["reasoning"]:
                lines += [
                    f"**judge on {cell(verdict['rubric'] + '/' + verdict['dimension'])}**",
                    "",
                    fenced(verdict["reasoning"]),
                    "",
                ]
    return "\n".join(lines) + "\n"
