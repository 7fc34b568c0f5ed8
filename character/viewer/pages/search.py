"""Search: words in the conversations, a probe id or a tag, across every run in the store.

Results are grouped by run (newest first); clicking a result opens it on the Transcripts page of
its run, filtered on the same search so Next / Previous walk the other matches of that run.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from character.analysis import viewer_links as links
from character.viewer import data, navigation, session, url_state
from character.viewer.catalog import listed_run_ids, run_label
from character.viewer.context import run_folder
from character.viewer.render import escape_markdown
from character.viewer.store_search import FIELDS
from character.viewer.widgets import no_runs

KEY = "search."
PAGE = links.SEARCH_PAGE
STATE_KEYS = [KEY + "query", KEY + "field", KEY + "runs"]
SHOWN_PER_RUN = 200


def open_params(run_id: str, row: dict, query: str, field: str) -> dict:
    """The Transcripts page's link for a result: the run, filtered like the search, at the match."""
    params: dict = {links.RUN: run_id, links.PROBE: row["probe_id"], links.EPOCH: row["epoch"]}
    if field == "text":
        params[links.QUERY] = query
    elif field == "tag":
        params[links.TAG] = [query]
    return url_state.clean(params)


def results(found: pl.DataFrame, runs: pl.DataFrame, query: str, field: str) -> None:
    by_run = found.partition_by("run_id", maintain_order=True, as_dict=False)
    st.caption(f"{found.height:,} transcripts in {len(by_run)} runs")
    for group in by_run:
        run_id = group["run_id"][0]
        st.markdown(f"**{escape_markdown(run_label(runs, run_id))}** · {group.height:,} matches")
        shown = group.head(SHOWN_PER_RUN).drop("run_id")
        if field != "text":
            shown = shown.drop("snippet")
        table_key = f"{KEY}table.{run_id}"
        state = st.session_state.get(table_key)
        clicked = list(state["selection"]["rows"]) if state and "selection" in state else []
        if clicked and clicked[0] < shown.height:
            st.session_state.pop(table_key, None)  # coming back to Search must not open it again
            st.switch_page(
                navigation.page(links.TRANSCRIPTS_PAGE),
                query_params=open_params(run_id, shown.row(clicked[0], named=True), query, field),
            )
        st.dataframe(
            shown,
            hide_index=True,
            key=table_key,
            on_select="rerun",
            selection_mode="single-row",
            column_config={"snippet": st.column_config.TextColumn("where", width="large")},
        )
        if group.height > SHOWN_PER_RUN:
            st.caption(
                f"First {SHOWN_PER_RUN} shown; open the run's Transcripts page to read all {group.height:,}."
            )
        st.page_link(
            navigation.page(links.TRANSCRIPTS_PAGE),
            label="Read these matches in order",
            query_params=open_params(run_id, shown.row(0, named=True), query, field),
        )


def main() -> None:
    st.title("Search")
    store = session.store()
    runs = data.runs(store)
    ids = listed_run_ids(runs)
    if not ids:
        no_runs(store)
        return
    link = url_state.incoming(PAGE, (links.QUERY,))
    session.restore(PAGE, STATE_KEYS)
    if link is not None:
        st.session_state[KEY + "query"] = url_state.first(link, links.QUERY) or ""
        field = url_state.first(link, links.FIELD)
        st.session_state[KEY + "field"] = field if field in FIELDS else "text"
        st.session_state[KEY + "runs"] = [r for r in link.get(links.RUN, []) if r in ids]
    st.session_state[KEY + "runs"] = [r for r in st.session_state.get(KEY + "runs", []) if r in ids]
    left, middle = st.columns([3, 2])
    query = left.text_input("Search", key=KEY + "query", placeholder="words, a probe id or a tag")
    field = middle.radio(
        "In", list(FIELDS), key=KEY + "field", format_func=FIELDS.get, horizontal=True
    )
    chosen = st.multiselect(
        "Runs (all when none picked)",
        ids,
        key=KEY + "runs",
        format_func=lambda run_id: run_label(runs, run_id),
    )
    session.remember(PAGE, STATE_KEYS)
    url_state.publish(PAGE, {links.QUERY: query.strip(), links.FIELD: field, links.RUN: chosen})
    if not query.strip():
        st.caption(
            "Finds transcripts in every run of the store. Words are matched as a phrase, ignoring "
            "case; a probe id on any part of it; a tag exactly."
        )
        return
    folders = {run_id: run_folder(store, run_id) for run_id in (chosen or ids)}
    found = data.search_store(folders, query, field)
    if found.height == 0:
        st.info("No transcript matches.")
        return
    results(found, runs, query.strip(), field)


main()
