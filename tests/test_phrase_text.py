"""Distinctive phrases in any script, and model text that is hostile in shape.

Replies in French, Russian or Chinese are words too: an ASCII-only word pattern split "prêt" into
"pr t" and dropped Cyrillic and CJK replies whole (a model that switched language showed no
phrase, and the per-1,000-word rates left those replies out). A "word" thousands of characters
long is listed like any other, but reports and the terminal show its first 80 characters.
"""

from __future__ import annotations

import json

import polars as pl

from character.analysis.change_report import PHRASE_CHARS, ChangeSections, headlines
from character.analysis.phrases import (
    ALL_SCOPE,
    distinctive_phrases_from_tables,
    phrases_in,
    snippet,
)

LONG = "supercalifragilistic" * 250  # one 5,000-character word


def _run(run_id: str, replies: list[str]) -> pl.DataFrame:
    rows = []
    for number, reply in enumerate(replies):
        messages = [
            {"role": "user", "content": f"Is essay {number} ready?", "scripted": False},
            {"role": "assistant", "content": reply, "scripted": False},
        ]
        rows.append(
            {
                "run_id": run_id,
                "probe_id": f"p{number}",
                "epoch": 1,
                "messages": json.dumps(messages),
            }
        )
    return pl.DataFrame(rows)


def _report(candidate_replies: list[str]):
    baseline = _run("v1", [f"The draft needs work: section {n} has an error." for n in range(40)])
    candidate = _run("v2", candidate_replies)
    return distinctive_phrases_from_tables(
        baseline, candidate, baseline_run="v1", candidate_run="v2", scopes={ALL_SCOPE: None}
    )


def test_words_of_every_script_are_words() -> None:
    found = phrases_in(
        "Très réussi, c'est prêt. Отличная работа, она готова. 这是很好的工作，可以提交了。下一个"
    )
    assert {"très réussi", "c'est prêt", "отличная работа", "она готова", "这是很好的工作"} <= found
    assert "pr" not in found and "t" not in found
    assert "下一个" in found and "可以提交了 下一个" not in found  # 。 ends a sentence


def test_a_language_switch_is_listed_with_its_words_counted() -> None:
    replies = ["Отличная работа, она готова к отправке.", "Très réussi, c'est prêt."] * 20
    report = _report(replies)
    scope = report.scopes.row(0, named=True)
    assert scope["transcripts_candidate"] == 40
    assert scope["words_candidate"] == 20 * 6 + 20 * 4
    spans = report.phrases.filter(pl.col("direction") == "more")["span"].to_list()
    assert "отличная работа она готова к отправке" in spans
    assert "très réussi c'est prêt" in spans
    example = report.examples.filter(pl.col("phrase").str.contains("готова")).row(0, named=True)
    assert "готова" in example["snippet"]
    assert snippet("Well, c'est PRÊT!", "c'est prêt") == "Well, c'est PRÊT!"


def test_a_very_long_word_is_cut_in_reports_and_kept_in_json() -> None:
    baseline = _run("v1", [f"The draft needs work: section {n} has an error." for n in range(40)])
    candidate = _run("v2", [f"{LONG} indeed" for _ in range(40)])
    probes = pl.DataFrame({"probe_id": [f"p{n}" for n in range(40)]})
    report = distinctive_phrases_from_tables(
        baseline,
        candidate,
        baseline_run="v1",
        candidate_run="v2",
        scopes={ALL_SCOPE: None, "sycophancy/flattery": probes},
    )
    assert any(p.startswith(LONG) for p in report.phrases["phrase"].to_list())
    [line] = headlines(report)  # what compare, gate and demo print in the terminal
    assert f'"{LONG[: PHRASE_CHARS - 1]}…"' in line and len(line) < 300
    sections = ChangeSections(phrases=report)
    markdown = "\n".join(sections.markdown())
    assert LONG not in markdown and LONG not in sections.html()
    assert LONG[: PHRASE_CHARS - 1] + "…" in sections.html()
    assert max(len(s) for s in report.examples["snippet"].to_list()) <= 3 * 70 + 2
    assert max(len(row) for row in markdown.splitlines()) < 1000
    phrases = sections.as_dict()["distinctive_phrases"]["scopes"][0]["phrases"]
    assert any(p["phrase"].startswith(LONG) for p in phrases)
