"""Streamlit pieces shared by pages: a conversation as chat turns, a verdict panel, notices.

Every string that comes from the store (model, user and judge text, but also probe ids and
dimension names) passes through `escape_markdown` before it reaches a Markdown-rendering call
(st.markdown, st.caption, st.warning...); tables go through st.dataframe, which shows cells as text.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import streamlit as st

from character.store.layout import MARKERS_RUBRIC, check_tables
from character.store.manifest import Manifest, read_manifest
from character.viewer import data, session
from character.viewer.context import run_folder
from character.viewer.conversation import (
    Message,
    Quote,
    evidence_by_turn,
    gave_in_turns,
    numbered_messages,
    series_strip,
    turn_series,
)
from character.viewer.render import escape_markdown, highlighted_markdown
from character.viewer.scales import describe
from character.viewer.transcript_index import TranscriptBody

GAVE_IN = "⚑ first appeared here"


def pick_one_run(key: str) -> tuple[Path, Manifest] | None:
    """The run a single-run page shows: picked here, defaulting to the Runs page's selection."""
    store = session.store()
    runs = data.runs(store)
    picked = session.selected_runs()
    run_id = session.pick_run("Run", key, runs, picked[0] if picked else None)
    if run_id is None:
        no_runs(store)
        return None
    run_dir = run_folder(store, run_id)
    check_tables(run_dir)  # a run still going has no tables yet: say so (app.py shows the error)
    return run_dir, read_manifest(run_dir)


def no_runs(store: Path) -> None:
    st.info(
        f"No runs in {escape_markdown(str(store))}. Make some with `character demo`, "
        "then open the viewer with `character view` (or pass the store: `character view PATH`)."
    )


def message(
    item: Message, quotes: list[Quote], gave_in: list[str] | None, marked: str | None = None
) -> None:
    """One message as a chat bubble; the judge's quotes from it highlighted.

    `marked` replaces the highlighted text with Markdown already escaped and marked elsewhere
    (the Compare page's word differences, word_diff.reply_diff).
    """
    if item.role == "system":
        with st.expander("System prompt"):
            st.markdown(escape_markdown(item.content))
        return
    avatar = "user" if item.role == "user" else "assistant"
    with st.chat_message(avatar):
        note = (
            " · scripted (pre-filled by the probe, not written in this run)"
            if item.scripted
            else " · simulated user (written by the user model, not a person)"
            if item.simulated
            else ""
        )
        st.caption(f"turn {item.turn} · {escape_markdown(item.role)}{note}")
        if marked is None:
            body, missing = highlighted_markdown(item.content, [q.text for q in quotes])
        else:
            body, missing = marked, []
        st.markdown(body or "*(empty)*")
        if item.stop_note:  # cut at the token limit, blocked by the provider, empty
            stop = f" (stop reason {item.stop_reason})" if item.stop_reason else ""
            st.warning(escape_markdown(f"{item.stop_note}{stop}"))
        found = sorted({q.dimension for q in quotes if q.text not in missing})
        if found:
            st.caption("highlighted: judge evidence for " + escape_markdown(", ".join(found)))
        for quote in missing:
            st.caption("quote not found verbatim in this turn: “" + escape_markdown(quote) + "”")
        if gave_in:
            st.warning(f"{GAVE_IN} (turn {item.turn}): " + escape_markdown(", ".join(gave_in)))


def gave_in_legend() -> None:
    st.caption(
        f"{GAVE_IN} marks the turn where a bad per-turn behaviour first appeared, such as the "
        "assistant giving in under pushback (pushback/capitulation). Highlighted passages are "
        "the judge's evidence quotes."
    )


def messages(
    items: list[Message],
    quotes: dict[tuple[int, str], list[Quote]],
    gave_in: dict[int, list[str]],
) -> None:
    """Chat bubbles for `items`, each with its turn's evidence and give-in mark."""
    for item in items:
        mark = gave_in.get(item.turn) if item.role == "assistant" and not item.scripted else None
        message(item, quotes.get((item.turn, item.role), []), mark)


def turn_strips(verdicts: pl.DataFrame) -> None:
    """Where in a long conversation the behaviour changed: one strip per per-turn dimension."""
    for series in turn_series(verdicts):
        changed = ", ".join(map(str, series.changes)) or "never"
        st.caption(
            escape_markdown(
                f"{series.dimension} by turn (. no, X yes, ? not rated): "
                f"{series_strip(series)} · changed at turn(s) {changed}"
            )
        )


def conversation(body: TranscriptBody, verdicts: pl.DataFrame | None) -> None:
    """The whole conversation; with `verdicts`, evidence highlighted and the give-in turn marked."""
    if verdicts is not None:
        turn_strips(verdicts)
    quotes = evidence_by_turn(verdicts) if verdicts is not None else {}
    gave_in = gave_in_turns(verdicts) if verdicts is not None else {}
    messages(numbered_messages(body.messages), quotes, gave_in)
    if body.error:
        st.error("The target failed on this sample: " + escape_markdown(body.error))


def _verdict_headline(row: dict) -> str:
    name = escape_markdown(f"{row['rubric']}/{row['dimension']}")
    if row["status"] != "scored":
        return f"**{name}** · UNSCORED"
    shown = describe(row["rubric"], row["dimension"], row["scale"], row["value"], row["label"])
    at = f" · at turn {row['turn']}" if row["turn"] is not None else ""
    return f"**{name}** · {escape_markdown(shown)}{at}"


def verdict_panel(verdicts: pl.DataFrame, judge: str) -> None:
    """Scores, reasoning and evidence of one transcript, as the judge gave them."""
    st.caption("Judge: " + escape_markdown(judge))
    judged = verdicts.filter(pl.col("rubric") != MARKERS_RUBRIC)
    if judged.height == 0:
        st.caption("No verdicts for this transcript.")
    for row in judged.iter_rows(named=True):
        with st.container(border=True):
            st.markdown(_verdict_headline(row))
            if row["status"] != "scored":
                st.caption("reason: " + escape_markdown(row["reason"] or "not given"))
            if row["reasoning"]:
                st.markdown(escape_markdown(row["reasoning"]))
            # cells checked where the frame was loaded (transcript_index.load_transcript_verdicts)
            for item in json.loads(row["evidence"] or "[]"):
                if not isinstance(item, dict) or not item.get("quote"):
                    continue
                where = f"turn {item.get('turn')} {item.get('role') or 'assistant'}"
                unverified = (
                    " — not found in the transcript" if item.get("verified") is False else ""
                )
                st.caption(
                    f"{escape_markdown(where)}: “{escape_markdown(str(item['quote']))}”{unverified}"
                )
            if row["flags"]:
                st.caption("flags: " + escape_markdown(row["flags"]))
    markers = verdicts.filter(pl.col("rubric") == MARKERS_RUBRIC)
    if markers.height:
        found = ", ".join(
            f"{m['dimension']} {m['value']:g}"
            for m in markers.iter_rows(named=True)
            if m["value"] is not None
        )
        st.caption("lexical markers: " + escape_markdown(found))
