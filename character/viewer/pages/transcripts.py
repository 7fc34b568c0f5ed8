"""Transcripts: filter a run's transcripts, then read one as chat turns beside the judge's verdicts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import streamlit as st

from character.viewer import data, widgets
from character.viewer.exports import rows_csv
from character.viewer.render import escape_markdown
from character.viewer.transcript_index import (
    UNSCORED_CHOICES,
    TranscriptFilters,
    apply_filters,
    filter_options,
    score_options,
)

KEY = "transcripts."
TABLE_COLUMNS = [
    "probe_id",
    "epoch",
    "suite",
    "category",
    "kind",
    "tags",
    "n_turns",
    "unscored",
    "error",
]


def filters_form(index: pl.DataFrame, verdicts: pl.DataFrame) -> TranscriptFilters:
    options = filter_options(index, verdicts)
    first, second = st.columns(3), st.columns(3)
    suites = first[0].multiselect("Suite", options.suites, key=KEY + "suites")
    categories = first[1].multiselect("Category", options.categories, key=KEY + "categories")
    tags = first[2].multiselect("Tag", options.tags, key=KEY + "tags")
    dimension = second[0].selectbox(
        "Dimension",
        [None, *options.dimensions],
        key=KEY + "dimension",
        format_func=lambda d: "any dimension" if d is None else d,
    )
    scores = second[1].multiselect(
        "Score",
        score_options(verdicts, dimension),
        key=KEY + "scores",
        disabled=dimension is None,
        help="Pick a dimension first; 1 = yes on binary dimensions",
    )
    unscored = second[2].selectbox(
        "Unscored",
        list(UNSCORED_CHOICES),
        key=KEY + "unscored",
        format_func=UNSCORED_CHOICES.get,
        help="With a dimension chosen: that dimension's verdict; otherwise any verdict",
    )
    query = st.text_input(
        "Search the conversations", key=KEY + "query", placeholder="words to find"
    )
    return TranscriptFilters(suites, categories, tags, dimension, scores, unscored, query)


def open_probe(rows: pl.DataFrame, table_event: object) -> tuple[str, int] | None:
    """The probe to read and the epoch to show first: a row clicked in the table, else the
    picker's probe at its first epoch that passes the filters."""
    probes = rows["probe_id"].unique(maintain_order=True).to_list()
    if not probes:
        return None
    clicked = getattr(getattr(table_event, "selection", None), "rows", None) or []
    row = rows.row(clicked[0], named=True) if clicked and clicked[0] < rows.height else None
    if row is not None and st.session_state.get(KEY + "clicked") != (row["probe_id"], row["epoch"]):
        st.session_state[KEY + "clicked"] = (row["probe_id"], row["epoch"])
        st.session_state[KEY + "probe"] = row["probe_id"]
    if st.session_state.get(KEY + "probe") not in probes:
        st.session_state[KEY + "probe"] = probes[0]
    probe_id = st.selectbox("Open transcript", probes, key=KEY + "probe")
    if row is not None and row["probe_id"] == probe_id:
        return probe_id, row["epoch"]
    return probe_id, rows.filter(pl.col("probe_id") == probe_id)["epoch"][0]


def show_probe(run_dir: Path, probe_id: str, epochs: list[int], first: int, judge: str) -> None:
    widgets.gave_in_legend()
    tabs = st.tabs([f"epoch {epoch}" for epoch in epochs], default=f"epoch {first}")
    for tab, epoch in zip(tabs, epochs, strict=True):
        with tab:
            body = data.transcript(run_dir, probe_id, epoch)
            if body is None:
                st.warning("This transcript is missing from the run's index.")
                continue
            verdicts = data.transcript_verdicts(run_dir, probe_id, epoch)
            st.caption(
                escape_markdown(
                    f"{body.suite} · {body.kind} · {body.category} · tags: {body.tags or '-'}"
                )
            )
            talk, scores = st.columns([3, 2])
            with talk:
                widgets.conversation(body, verdicts)
            with scores:
                widgets.verdict_panel(verdicts, judge)


def main() -> None:
    st.title("Transcripts")
    picked = widgets.pick_one_run(KEY + "run")
    if picked is None:
        return
    run_dir, manifest = picked
    if manifest.simulated:
        st.caption("SIMULATED run: sim/* personas, not real model output.")
    verdicts, index = data.verdicts(run_dir), data.index(run_dir)
    filters = filters_form(index, verdicts)
    rows = apply_filters(index, verdicts, filters, data.search(run_dir, filters.query))
    st.caption(f"{rows.height:,} of {index.height:,} transcripts")
    columns = [*TABLE_COLUMNS, *([filters.dimension] if filters.dimension else [])]
    # A new table key per filter set: a row clicked under other filters must not open a probe.
    table_key = f"{KEY}table.{hashlib.sha1(repr(filters).encode()).hexdigest()[:12]}"
    event = st.dataframe(
        rows.select(columns),
        hide_index=True,
        key=table_key,
        on_select="rerun",
        selection_mode="single-row",
    )
    st.download_button(
        f"Download these {rows.height:,} rows (CSV)",
        rows_csv(rows.select(columns)),
        file_name=f"{manifest.run_id}-transcripts.csv",
        mime="text/csv",
        key=KEY + "download",
    )
    opened = open_probe(rows, event)
    if opened is None:
        st.info("No transcript matches these filters.")
        return
    probe_id, first = opened
    epochs = index.filter(pl.col("probe_id") == probe_id)["epoch"].to_list()
    show_probe(run_dir, probe_id, epochs, first, manifest.judge.id)


main()
