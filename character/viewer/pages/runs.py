"""Runs: every run in the store; pick one to read or label, or two to compare."""

from __future__ import annotations

import streamlit as st

from character.analysis import viewer_links as links
from character.viewer import data, navigation, session, url_state
from character.viewer.catalog import listed_run_ids, run_label
from character.viewer.render import escape_markdown
from character.viewer.widgets import no_runs

PICK = "runs.pick"
COLUMNS = {
    "target": st.column_config.TextColumn("target"),
    "model": st.column_config.TextColumn("model"),
    "prompt_hash": st.column_config.TextColumn("prompt hash"),
    "suites": st.column_config.TextColumn("suites"),
    "created": st.column_config.TextColumn("date (UTC)"),
    "probes_x_epochs": st.column_config.TextColumn("probes × epochs"),
    "transcripts": st.column_config.NumberColumn("transcripts"),
    "cost_usd": st.column_config.NumberColumn("cost", format="$%.4f"),
    "unscored": st.column_config.NumberColumn("unscored", help="Judge verdicts left unscored"),
    "marks": st.column_config.TextColumn(
        "marks", help="simulated: sim/* personas, not a real model"
    ),
    "judge": st.column_config.TextColumn("judge"),
    "status": st.column_config.TextColumn("status"),
    "run_id": st.column_config.TextColumn("run id"),
    "problem": st.column_config.TextColumn("problem"),
}


def main() -> None:
    store = session.store()
    st.title("Runs")
    st.caption("Store: " + escape_markdown(str(store)))
    runs = data.runs(store)
    if runs.height == 0:
        no_runs(store)
        return
    shown = runs if runs["problem"].is_not_null().any() else runs.drop("problem")
    st.dataframe(
        shown,
        hide_index=True,
        column_config=COLUMNS,
        column_order=[c for c in COLUMNS if c in shown.columns],
    )
    if runs["marks"].str.contains("simulated").any():
        st.caption("simulated: made by sim/* personas (offline demo and tests), not a real model.")

    usable = listed_run_ids(runs)
    # Keep the pick (or the one made before a page switch) to runs that still exist.
    kept = st.session_state.get(PICK, session.selected_runs())
    st.session_state[PICK] = [run_id for run_id in kept if run_id in usable]
    picked = st.multiselect(
        "Pick one run to read or label, or two to compare (baseline first, then candidate)",
        usable,
        key=PICK,
        max_selections=2,
        format_func=lambda run_id: run_label(runs, run_id),
    )
    st.session_state[session.SELECTED_RUNS] = list(picked)
    if len(picked) == 1:
        left, right = st.columns(2)
        left.page_link(
            navigation.page(links.TRANSCRIPTS_PAGE),
            label="Read this run's transcripts",
            query_params=url_state.clean({links.RUN: picked[0]}),
        )
        right.page_link(
            navigation.page(links.LABELS_PAGE),
            label="Label this run",
            query_params=url_state.clean({links.RUN: picked[0]}),
        )
    elif len(picked) == 2:
        st.page_link(
            navigation.page(links.COMPARE_PAGE),
            label="Compare: the first run is the baseline, the second the candidate",
            query_params=url_state.clean({links.BASELINE: picked[0], links.CANDIDATE: picked[1]}),
        )


main()
