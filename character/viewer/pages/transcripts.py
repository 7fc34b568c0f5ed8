"""Transcripts: filter a run's transcripts, then read them one after another.

The filtered list sits on the left, the open transcript on the right; a click opens the exact row
(probe and epoch) clicked, and Next / Previous (keys J / K) walk the list without losing the
filters. Run, filters and the open transcript are in the URL, so the view can be shared.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import streamlit as st

from character.analysis import viewer_links as links
from character.store.manifest import Manifest
from character.viewer import data, reading, session, url_state, widgets
from character.viewer.catalog import listed_run_ids
from character.viewer.exports import (
    rows_csv,
    transcript_records,
    transcripts_jsonl,
    transcripts_markdown,
)
from character.viewer.render import escape_markdown
from character.viewer.transcript_index import (
    UNSCORED_CHOICES,
    TranscriptFilters,
    apply_filters,
    filter_options,
    load_bodies,
    load_verdict_details,
    score_options,
)

KEY = "transcripts."
PAGE = links.TRANSCRIPTS_PAGE
TABLE = KEY + "table"
LIST_COLUMNS = ["probe_id", "epoch", "unscored"]
ROW_PIXELS = 35
CSV_COLUMNS = [
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
FILTER_KEYS = [
    KEY + name
    for name in ("suites", "categories", "tags", "dimension", "scores", "unscored", "query")
]
LIST_HEIGHT = 640
# Markdown and JSONL exports of a filtered set read every body: past this many, export in parts.
EXPORT_LIMIT = 2000
ANY = ""  # the Dimension picker's "any dimension" (None would show as an empty picker)


def seed_from_link(link: url_state.Params, index: pl.DataFrame, verdicts: pl.DataFrame) -> None:
    """Set the filters and the open transcript from a link (unknown values are left out)."""
    options = filter_options(index, verdicts)
    dimension = url_state.first(link, links.DIMENSION)
    dimension = dimension if dimension in options.dimensions else None
    st.session_state[KEY + "suites"] = [s for s in link.get(links.SUITE, []) if s in options.suites]
    st.session_state[KEY + "categories"] = [
        c for c in link.get(links.CATEGORY, []) if c in options.categories
    ]
    st.session_state[KEY + "tags"] = [t for t in link.get(links.TAG, []) if t in options.tags]
    st.session_state[KEY + "dimension"] = dimension or ANY
    scores = score_options(verdicts, dimension)
    st.session_state[KEY + "scores"] = [s for s in link.get(links.SCORE, []) if s in scores]
    unscored = url_state.first(link, links.UNSCORED)
    st.session_state[KEY + "unscored"] = unscored if unscored in UNSCORED_CHOICES else "all"
    st.session_state[KEY + "query"] = url_state.first(link, links.QUERY) or ""
    probe, epoch = url_state.first(link, links.PROBE), url_state.number(link, links.EPOCH)
    if probe is not None:
        epochs = index.filter(pl.col("probe_id") == probe)["epoch"].to_list()
        if epochs:
            st.session_state[KEY + "link_open"] = (probe, epoch if epoch in epochs else epochs[0])
        else:
            st.warning(
                "The link names probe " + escape_markdown(probe) + ", which is not in this run."
            )


def filters_form(index: pl.DataFrame, verdicts: pl.DataFrame) -> TranscriptFilters:
    options = filter_options(index, verdicts)
    # Choices kept from another run (or page visit) that this run does not have are dropped.
    for name, allowed in (
        ("suites", options.suites),
        ("categories", options.categories),
        ("tags", options.tags),
    ):
        kept = st.session_state.get(KEY + name)
        if kept:
            st.session_state[KEY + name] = [value for value in kept if value in allowed]
    first, second = st.columns(4), st.columns(4)
    suites = first[0].multiselect("Suite", options.suites, key=KEY + "suites")
    categories = first[1].multiselect("Category", options.categories, key=KEY + "categories")
    tags = first[2].multiselect("Tag", options.tags, key=KEY + "tags")
    query = first[3].text_input(
        "Search the conversations", key=KEY + "query", placeholder="words to find"
    )
    if st.session_state.get(KEY + "dimension") not in (ANY, *options.dimensions):
        st.session_state[KEY + "dimension"] = ANY
    dimension = (
        second[0].selectbox(
            "Dimension",
            [ANY, *options.dimensions],
            key=KEY + "dimension",
            format_func=lambda d: "any dimension" if d == ANY else d,
            help="Its score becomes a column, and its verdict is shown first",
        )
        or None
    )
    scores = score_options(verdicts, dimension)
    st.session_state[KEY + "scores"] = [
        s for s in st.session_state.get(KEY + "scores", []) if s in scores
    ]
    chosen_scores = second[1].multiselect(
        "Score",
        scores,
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
    return TranscriptFilters(suites, categories, tags, dimension, chosen_scores, unscored, query)


def filter_params(run_id: str, filters: TranscriptFilters) -> dict:
    return {
        links.RUN: run_id,
        links.SUITE: filters.suites,
        links.CATEGORY: filters.categories,
        links.TAG: filters.tags,
        links.DIMENSION: filters.dimension,
        links.SCORE: filters.scores,
        links.UNSCORED: None if filters.unscored == "all" else filters.unscored,
        links.QUERY: filters.query.strip() or None,
    }


def export_buttons(
    run_dir: Path, manifest: Manifest, keys: pl.DataFrame, stem: str, what: str
) -> None:
    """Markdown and JSONL downloads of the transcripts `keys`, built only when clicked."""

    def records() -> list[dict]:
        return transcript_records(
            manifest.run_id,
            manifest.target.label,
            load_bodies(run_dir, keys),
            load_verdict_details(run_dir, keys),
        )

    title = f"{manifest.target.label} · {manifest.run_id} · {what}"
    md, jsonl = st.columns(2)
    md.download_button(
        "Markdown",
        lambda: transcripts_markdown(records(), title).encode("utf-8"),
        file_name=f"{stem}.md",
        mime="text/markdown",
        key=f"{KEY}export.md.{stem}",
        on_click="ignore",
        width="stretch",
    )
    jsonl.download_button(
        "JSONL",
        lambda: transcripts_jsonl(records()).encode("utf-8"),
        file_name=f"{stem}.jsonl",
        mime="application/jsonl",
        key=f"{KEY}export.jsonl.{stem}",
        on_click="ignore",
        width="stretch",
    )


def list_panel(
    rows: pl.DataFrame, filters: TranscriptFilters, listing: str, run_dir: Path, manifest: Manifest
) -> None:
    columns = [
        *LIST_COLUMNS[:2],
        *([filters.dimension] if filters.dimension else []),
        *LIST_COLUMNS[2:],
    ]
    config = {
        "probe_id": st.column_config.TextColumn("probe", width="medium"),
        "epoch": st.column_config.NumberColumn("epoch", width="small"),
        "unscored": st.column_config.NumberColumn(
            "unscored", width="small", help="Unscored verdicts"
        ),
    }
    if filters.dimension:
        config[filters.dimension] = st.column_config.TextColumn(
            filters.dimension.split("/")[-1], width="small", help=filters.dimension
        )
    st.dataframe(
        rows.select(columns),
        hide_index=True,
        key=TABLE,
        on_select="rerun",
        selection_mode="single-row",
        height=min(LIST_HEIGHT, (rows.height + 1) * ROW_PIXELS + 3),
        column_config=config,
    )
    st.caption("Click a row to open it; Next / Previous (J / K) keep these filters.")
    with st.expander(f"Download these {rows.height:,}"):
        st.download_button(
            f"Rows as CSV ({rows.height:,})",
            rows_csv(rows.select(CSV_COLUMNS)),
            file_name=f"{manifest.run_id}-transcripts.csv",
            mime="text/csv",
            key=KEY + "download",
        )
        if rows.height > EXPORT_LIMIT:
            st.caption(
                f"Transcripts as Markdown or JSONL: narrow the filters to {EXPORT_LIMIT:,} or fewer."
            )
        elif rows.height:
            st.caption("Transcripts with the judge's verdicts:")
            export_buttons(
                run_dir,
                manifest,
                rows.select("probe_id", "epoch"),
                f"{manifest.run_id}-{listing}",
                "filtered set",
            )


def dimension_verdict(verdicts: pl.DataFrame, dimension: str | None) -> pl.DataFrame:
    """The transcript's verdicts with the filtered dimension first."""
    if dimension is None:
        return verdicts
    first = pl.col("dimension_key") == dimension
    return pl.concat([verdicts.filter(first), verdicts.filter(~first)])


def transcript_panel(
    run_dir: Path,
    manifest: Manifest,
    probe_id: str,
    epoch: int,
    filters: TranscriptFilters,
    index: pl.DataFrame,
) -> None:
    body = data.transcript(run_dir, probe_id, epoch)
    if body is None:
        st.warning("This transcript is missing from the run's index.")
        return
    verdicts = data.transcript_verdicts(run_dir, probe_id, epoch)
    st.subheader(escape_markdown(f"{probe_id} · epoch {epoch}"))
    st.caption(
        escape_markdown(f"{body.suite} · {body.kind} · {body.category} · tags: {body.tags or '-'}")
    )
    others = index.filter(pl.col("probe_id") == probe_id)["epoch"].to_list()
    if len(others) > 1:
        st.caption("Other epochs of this probe: " + ", ".join(str(e) for e in others if e != epoch))
    ordered = dimension_verdict(verdicts, filters.dimension)
    if filters.dimension is not None:
        chosen = ordered.filter(pl.col("dimension_key") == filters.dimension)
        if chosen.height:
            with st.container(border=True):
                widgets.verdict_panel(chosen, manifest.judge.id)
    widgets.gave_in_legend()
    widgets.conversation(body, verdicts)
    with st.expander("All verdicts of this transcript"):
        widgets.verdict_panel(ordered, manifest.judge.id)
    with st.expander("Download this transcript"):
        keys = pl.DataFrame({"probe_id": [probe_id], "epoch": [epoch]})
        export_buttons(
            run_dir, manifest, keys, f"{manifest.run_id}-{probe_id}-epoch{epoch}", probe_id
        )


def main() -> None:
    st.title("Transcripts")
    store = session.store()
    runs = data.runs(store)
    link = url_state.incoming(PAGE, (links.RUN,))
    if link is not None:
        wanted = url_state.first(link, links.RUN)
        if wanted in listed_run_ids(runs):
            st.session_state[KEY + "run"] = wanted
        else:
            st.warning(
                "The link names run "
                + escape_markdown(str(wanted))
                + ", which is not in this store."
            )
            link = None
    session.restore(PAGE, FILTER_KEYS)
    picked = widgets.pick_one_run(KEY + "run")
    if picked is None:
        return
    run_dir, manifest = picked
    if manifest.simulated:
        st.caption("SIMULATED run: sim/* personas, not real model output.")
    verdicts, index = data.verdicts(run_dir), data.index(run_dir)
    if link is not None:
        seed_from_link(link, index, verdicts)
    filters = filters_form(index, verdicts)
    session.remember(PAGE, FILTER_KEYS)
    rows = apply_filters(index, verdicts, filters, data.search(run_dir, filters.query))
    st.caption(f"{rows.height:,} of {index.height:,} transcripts")

    open_key = f"{KEY}open.{manifest.run_id}"
    linked = st.session_state.pop(KEY + "link_open", None)
    if linked is not None:
        st.session_state[open_key] = linked
    keys = list(rows.select("probe_id", "epoch").iter_rows())
    listing = hashlib.sha1(repr((manifest.run_id, filters)).encode()).hexdigest()[:12]
    position = reading.open_index(keys, TABLE, open_key, listing)
    if linked is not None and position is not None and keys[position] != linked:
        st.info(
            "The linked transcript does not pass these filters; the first one that does is open."
        )
    params = filter_params(manifest.run_id, filters)
    left, right = st.columns([3, 7], gap="medium")
    if position is None:
        reading.select_row(TABLE, listing, None)
        with left:
            list_panel(rows, filters, listing, run_dir, manifest)
        right.info("No transcript matches these filters.")
        url_state.publish(PAGE, params)
        return
    with right:
        position = reading.step(keys, position, open_key, KEY)
    reading.select_row(TABLE, listing, position)
    with left:
        list_panel(rows, filters, listing, run_dir, manifest)
    probe_id, epoch = keys[position]
    with right:
        transcript_panel(run_dir, manifest, probe_id, epoch, filters, index)
    url_state.publish(PAGE, {**params, links.PROBE: probe_id, links.EPOCH: epoch})


main()
