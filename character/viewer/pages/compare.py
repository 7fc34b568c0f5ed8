"""Compare: baseline vs candidate, built around what changed.

The verdict and its reasons as `character compare` gives them; then the verdicts that changed
(probe x epoch x dimension, worst first) as a reading queue beside both versions side by side,
their replies marked word by word; the drift table, charts and top movers in a second tab, where
a click opens the queue on that dimension or probe. Runs, probe, epoch and dimension are in the URL.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from character.analysis import viewer_links as links
from character.analysis.change_report import ChangeSections
from character.analysis.compare import Comparison
from character.analysis.phrases import moved_dimensions
from character.analysis.reports import report_name
from character.store.layout import check_tables
from character.store.manifest import read_manifest
from character.viewer import (
    changes_panel,
    comparing,
    data,
    navigation,
    reading,
    session,
    survival_panel,
    url_state,
    widgets,
)
from character.viewer.catalog import listed_run_ids
from character.viewer.changes import (
    CHANGE_CHOICES,
    dimension_counts,
    filter_queue,
    first_changed_epoch,
    probe_epochs_table,
)
from character.viewer.context import run_folder
from character.viewer.conversation import (
    align_by_turn,
    evidence_by_turn,
    gave_in_turns,
    numbered_messages,
)
from character.viewer.render import escape_markdown
from character.viewer.widgets import no_runs
from character.viewer.word_diff import reply_diff

KEY = "compare."
PAGE = links.COMPARE_PAGE
QUEUE_TABLE = KEY + "queue"
DRIFT_TABLE = KEY + "drift_table"
MOVERS_TABLE = KEY + "movers_table"
TABS = KEY + "tab"
TAB_CHANGES = "Verdicts that changed"
TAB_DRIFT = "Drift and top movers"
# NOT GATED and CANNOT FAIL exit 2 in the gate: nothing vouched for the candidate, so never green
VERDICT_STYLE = {
    "PASS": st.success,
    "WARN": st.warning,
    "FAIL": st.error,
    "NOT GATED": st.warning,
    "CANNOT FAIL": st.warning,
}
NUMBER = st.column_config.NumberColumn(format="%.3f")
HIGHLIGHTS = {"diff": "differences between the versions", "evidence": "the judge's evidence"}
STATE_KEYS = [
    KEY + "baseline",
    KEY + "candidate",
    KEY + "dimension",
    KEY + "change",
    KEY + "highlight",
]
QUEUE_HEIGHT = 640
Opened = tuple[str, int, str | None]  # probe, epoch, "rubric/dimension"
ANY = ""  # the Dimension picker's "every dimension" (None would show as an empty picker)


def pick_arms(runs: pl.DataFrame) -> tuple[str | None, str | None]:
    picked = session.selected_runs()
    ids = listed_run_ids(runs)
    if len(ids) < 2:
        return None, None
    # The Runs page's choice; else the two newest runs, older as the baseline.
    baseline_default = picked[0] if len(picked) == 2 else ids[1]
    candidate_default = picked[1] if len(picked) == 2 else ids[0]
    left, right = st.columns(2)
    with left:
        baseline = session.pick_run("Baseline", KEY + "baseline", runs, baseline_default)
    with right:
        candidate = session.pick_run("Candidate", KEY + "candidate", runs, candidate_default)
    return baseline, candidate


def summary(
    comparison: Comparison,
    candidate_verdicts: pl.DataFrame,
    queue: pl.DataFrame | None,
    changes: ChangeSections | None = None,
) -> None:
    show = VERDICT_STYLE.get(comparison.verdict, st.info)
    headline = "FAIL — invalid comparison" if not comparison.valid else comparison.verdict
    show(f"**{headline}** · " + escape_markdown(comparison.title))
    for note in comparison.notes:
        st.caption(escape_markdown(note))
    if not comparison.valid:
        st.markdown("The runs cannot be compared:")
        for problem in comparison.problems:
            st.markdown("- " + escape_markdown(problem))
        return
    for reason in comparison.verdict_reasons:
        st.markdown("- " + escape_markdown(reason))
    counts = dimension_counts(queue) if queue is not None else {}
    for read in comparing.read_links(comparison, candidate_verdicts):
        changed = sum(counts.get(read.dimension, {}).values())
        left, right = st.columns(2)
        left.page_link(
            navigation.page(links.TRANSCRIPTS_PAGE),
            label=escape_markdown(
                f"Read the candidate's {read.count} transcripts with {read.dimension} = {read.score}"
            ),
            query_params=url_state.clean(
                {
                    links.RUN: comparison.candidate.run_id,
                    links.DIMENSION: read.dimension,
                    links.SCORE: [read.score],
                }
            ),
        )
        if changed:
            right.button(
                escape_markdown(f"Read the {changed} changed verdicts on {read.dimension}"),
                key=f"{KEY}focus.{read.dimension}",
                on_click=_focus,
                args=(read.dimension,),
            )
    downloads = comparing.report_downloads(comparison, report_name(comparison), changes)
    with st.expander("Reports (as `character compare` writes them)"):
        for column, download in zip(st.columns(3), downloads, strict=True):
            column.download_button(
                download.label,
                download.data,
                file_name=download.file_name,
                mime=download.mime,
                key=f"{KEY}download.{download.file_name.rsplit('.', 1)[-1]}",
            )


def _focus(dimension: str | None, opened: Opened | None = None) -> None:
    """Show the queue on `dimension` (every direction), optionally with `opened` open."""
    st.session_state[KEY + "dimension"] = dimension or ANY
    st.session_state[KEY + "change"] = "any"
    st.session_state[TABS] = TAB_CHANGES
    if opened is not None:
        st.session_state[KEY + "pending_open"] = opened


def seed_from_link(link: url_state.Params, queue: pl.DataFrame, base_index: pl.DataFrame) -> None:
    dimension = url_state.first(link, links.DIMENSION)
    change = url_state.first(link, links.CHANGE)
    st.session_state[KEY + "dimension"] = dimension or ANY
    st.session_state[KEY + "change"] = change if change in CHANGE_CHOICES else "any"
    st.session_state[TABS] = TAB_CHANGES
    probe = url_state.first(link, links.PROBE)
    if probe is None:
        return
    epochs = base_index.filter(pl.col("probe_id") == probe)["epoch"].to_list()
    if not epochs:
        st.warning(
            "The link names probe " + escape_markdown(probe) + ", which is not in the baseline."
        )
        return
    epoch = url_state.number(link, links.EPOCH) or first_changed_epoch(queue, probe, dimension)
    st.session_state[KEY + "pending_open"] = (
        probe,
        epoch if epoch in epochs else epochs[0],
        dimension,
    )


def queue_filters(queue: pl.DataFrame) -> tuple[str | None, str]:
    counts = dimension_counts(queue)
    dimensions = sorted(counts)
    if st.session_state.get(KEY + "dimension") not in (ANY, *dimensions):
        st.session_state[KEY + "dimension"] = ANY

    def label(dimension: str) -> str:
        if dimension == ANY:
            return f"every dimension ({queue.height})"
        parts = ", ".join(f"{n} {kind}" for kind, n in sorted(counts[dimension].items()))
        return f"{dimension} ({parts})"

    left, right, highlight = st.columns([2, 1, 1])
    dimension = (
        left.selectbox("Dimension", [ANY, *dimensions], key=KEY + "dimension", format_func=label)
        or None
    )
    change = right.selectbox(
        "Change", list(CHANGE_CHOICES), key=KEY + "change", format_func=CHANGE_CHOICES.get
    )
    highlight.radio(
        "Highlight",
        list(HIGHLIGHTS),
        key=KEY + "highlight",
        format_func=HIGHLIGHTS.get,
        horizontal=False,
    )
    return dimension, change  # type: ignore[return-value]


def epochs_table(
    base_verdicts: pl.DataFrame, cand_verdicts: pl.DataFrame, probe_id: str, epoch: int
) -> None:
    table = probe_epochs_table(base_verdicts, cand_verdicts, probe_id)
    opened = f"epoch {epoch}"
    if opened in table.columns:
        table = table.rename({opened: f"{opened} (open)"})
    st.dataframe(table, hide_index=True)
    st.caption("Scores per epoch: “b → c” is baseline → candidate where the verdict changed.")


def side_by_side(
    arms: list[tuple[Path, object]],
    probe_id: str,
    epoch: int,
    dimension: str | None,
    highlight: str,
) -> None:
    bodies = [data.transcript(folder, probe_id, epoch) for folder, _ in arms]
    verdicts = [data.transcript_verdicts(folder, probe_id, epoch) for folder, _ in arms]
    if any(body is None for body in bodies):
        st.warning("This transcript is missing from one of the runs.")
        return
    headers = st.columns(2)
    for column, (_, manifest), scored in zip(headers, arms, verdicts, strict=True):
        with column:
            st.markdown(
                "**"
                + escape_markdown(manifest.target.label)
                + "** · "
                + escape_markdown(manifest.run_id)
            )
            chosen = (
                scored.filter(pl.col("dimension_key") == dimension) if dimension else scored.head(0)
            )
            if chosen.height:
                widgets.verdict_panel(chosen, manifest.judge.id)
            with st.expander("All scores and reasoning"):
                widgets.verdict_panel(scored, manifest.judge.id)
            widgets.turn_strips(scored)
    if highlight == "diff":
        st.caption(
            "Marked: :red-background[words only the baseline wrote] · "
            ":green-background[words only the candidate wrote]. ⚑ marks the turn a bad per-turn "
            "behaviour first appeared."
        )
    else:
        widgets.gave_in_legend()
    talks = [numbered_messages(body.messages) for body in bodies if body is not None]
    quotes = [evidence_by_turn(v) for v in verdicts]
    gave_in = [gave_in_turns(v) for v in verdicts]
    for aligned in align_by_turn(talks[0], talks[1]):
        marks: list[list[str | None]] = [
            [None] * len(aligned.baseline),
            [None] * len(aligned.candidate),
        ]
        if highlight == "diff":
            for role in ("user", "assistant"):
                left = [i for i, m in enumerate(aligned.baseline) if m.role == role]
                right = [i for i, m in enumerate(aligned.candidate) if m.role == role]
                for i, j in zip(left, right, strict=False):
                    diff = reply_diff(aligned.baseline[i].content, aligned.candidate[j].content)
                    if diff.changed:
                        marks[0][i], marks[1][j] = diff.baseline, diff.candidate
        columns = st.columns(2)
        for side, items in enumerate((aligned.baseline, aligned.candidate)):
            with columns[side]:
                for k, item in enumerate(items):
                    mark = (
                        gave_in[side].get(item.turn)
                        if item.role == "assistant" and not item.scripted
                        else None
                    )
                    evidence = (
                        [] if highlight == "diff" else quotes[side].get((item.turn, item.role), [])
                    )
                    widgets.message(item, evidence, mark, marks[side][k])
                if not items:
                    st.caption(f"(no turn {aligned.turn} in this version)")


def changes_tab(
    arms: list[tuple[Path, object]],
    queue: pl.DataFrame,
    base_verdicts: pl.DataFrame,
    cand_verdicts: pl.DataFrame,
    base_index: pl.DataFrame,
    params: dict,
) -> dict:
    """The queue beside the side-by-side view; returns the URL parameters of what is open."""
    dimension, change = queue_filters(queue)
    highlight = st.session_state.get(KEY + "highlight", "diff")
    rows = filter_queue(queue, dimension, change)
    compared = base_verdicts.height
    st.caption(
        f"{rows.height:,} changed verdicts shown ({queue.height:,} changed of {compared:,} compared; "
        "epochs paired by number). Worst first: worse moves by size, then unknown direction, then "
        "unscored in one run, then better."
    )
    open_key = f"{KEY}open.{arms[0][1].run_id}.{arms[1][1].run_id}"
    outside_key = open_key + ".outside"
    pending = st.session_state.pop(KEY + "pending_open", None)
    if pending is not None:
        st.session_state[open_key] = st.session_state[outside_key] = pending
    keys = list(rows.select("probe_id", "epoch", "dimension_key").iter_rows())
    listing = f"{dimension}|{change}"
    # A verdict opened by a link or by name may be outside the queue (e.g. a hard constraint that
    # failed in both runs): it stays open until a row of the queue is clicked.
    keep = st.session_state.get(open_key) is not None and st.session_state.get(
        open_key
    ) == st.session_state.get(outside_key)
    position = reading.open_index(keys, QUEUE_TABLE, open_key, listing, fallback=not keep)
    opened: Opened | None = st.session_state.get(open_key)
    if position is not None:
        st.session_state.pop(outside_key, None)
    left, right = st.columns([3, 7], gap="medium")
    if position is not None:
        with right:
            position = reading.step(keys, position, open_key, KEY)
        opened = keys[position]
    reading.select_row(QUEUE_TABLE, listing, position)
    with left:
        st.dataframe(
            rows.select(
                "probe_id", "epoch", "dimension_key", "baseline", "candidate", "change"
            ).rename({"dimension_key": "dimension"}),
            hide_index=True,
            key=QUEUE_TABLE,
            on_select="rerun",
            selection_mode="single-row",
            height=min(QUEUE_HEIGHT, (rows.height + 1) * 35 + 3),
            column_order=[
                "probe_id",
                "epoch",
                *([] if dimension else ["dimension"]),
                "baseline",
                "candidate",
                "change",
            ],
            column_config={
                "probe_id": st.column_config.TextColumn("probe", width="medium"),
                "epoch": st.column_config.NumberColumn("epoch", width="small"),
                "baseline": st.column_config.TextColumn(
                    "base", width="small", help="baseline's score"
                ),
                "candidate": st.column_config.TextColumn(
                    "cand", width="small", help="candidate's score"
                ),
                "change": st.column_config.TextColumn("change", width="small"),
            },
        )
        st.caption("Click a verdict to open it; Next / Previous (J / K) walk this queue.")
        with st.expander("Open any probe"):
            probe_picker(base_index, opened, open_key)
    if opened is None:
        right.info(
            "No verdict changed here. Pick another dimension or direction, or open any probe."
        )
        return params
    probe_id, epoch, opened_dimension = opened
    with right:
        where = f" · {opened_dimension}" if opened_dimension else ""
        st.subheader(escape_markdown(f"{probe_id} · epoch {epoch}{where}"))
        if position is None:
            st.caption(
                "Not in the queue above (its verdict did not change, or another filter hides it)."
            )
        epochs_table(base_verdicts, cand_verdicts, probe_id, epoch)
        side_by_side(arms, probe_id, epoch, opened_dimension, highlight)
    return {
        **params,
        links.PROBE: probe_id,
        links.EPOCH: epoch,
        links.DIMENSION: opened_dimension or dimension,
    }


def probe_picker(base_index: pl.DataFrame, opened: Opened | None, open_key: str) -> None:
    probes = base_index["probe_id"].unique(maintain_order=True).to_list()
    if not probes:
        return
    probe = st.selectbox("Probe", probes, index=None, key=KEY + "probe", placeholder="probe id")
    if probe is None:
        return
    epochs = base_index.filter(pl.col("probe_id") == probe)["epoch"].to_list()
    epoch = st.selectbox("Epoch", epochs, key=KEY + "epoch")
    if st.button("Open side by side", key=KEY + "open_probe"):
        st.session_state[open_key] = (probe, epoch, opened[2] if opened else None)
        st.session_state[KEY + "pending_open"] = st.session_state[open_key]
        st.rerun()


def clicked_row(table_key: str, frame: pl.DataFrame) -> dict | None:
    """The row just clicked in a table drawn with on_select (then cleared for the next click)."""
    state = st.session_state.get(table_key)
    rows = list(state["selection"]["rows"]) if state and "selection" in state else []
    if not rows or rows[0] >= frame.height:
        return None
    return frame.row(rows[0], named=True)


def drift_tab(comparison: Comparison, queue: pl.DataFrame) -> None:
    table = comparing.drift_table(comparison)
    chosen = clicked_row(DRIFT_TABLE, table)
    if chosen is not None:
        st.session_state.pop(DRIFT_TABLE, None)
        st.session_state[KEY + "pending_focus"] = (chosen["dimension"], None)
        st.rerun()
    movers = comparison.movers.with_columns(
        dimension_key=pl.concat_str("rubric", pl.lit("/"), "dimension")
    )
    mover = clicked_row(MOVERS_TABLE, movers)
    if mover is not None:
        st.session_state.pop(MOVERS_TABLE, None)
        key = mover["dimension_key"]
        epoch = first_changed_epoch(queue, mover["probe_id"], key) or 1
        st.session_state[KEY + "pending_focus"] = (key, (mover["probe_id"], epoch, key))
        st.rerun()
    st.subheader("Drift per dimension")
    st.caption("Click a dimension to read its changed verdicts.")
    st.dataframe(
        table,
        hide_index=True,
        key=DRIFT_TABLE,
        on_select="rerun",
        selection_mode="single-row",
        column_config={
            "baseline_mean": NUMBER,
            "candidate_mean": NUMBER,
            "diff": NUMBER,
            "ci95_lo": NUMBER,
            "ci95_hi": NUMBER,
            "p_adjusted": NUMBER,
            "mde": NUMBER,
            "sentence": st.column_config.TextColumn("sentence (as in the report)", width="large"),
        },
    )
    with st.expander("Sentences, as `character compare` prints them"):
        for sentence in comparison.dimensions["sentence"].to_list():
            st.markdown("- " + escape_markdown(sentence))
    for title, svg in comparing.forest_charts(comparison):
        st.image(svg, caption=f"{title}: candidate − baseline")
    st.subheader("Top movers")
    st.caption("Click a probe to open it side by side at its first changed epoch.")
    st.dataframe(
        comparison.movers,
        hide_index=True,
        key=MOVERS_TABLE,
        on_select="rerun",
        selection_mode="single-row",
    )
    survival_panel.show(comparison)


def main() -> None:
    store = session.store()
    st.title("Compare")
    runs = data.runs(store)
    if runs.height == 0:
        no_runs(store)
        return
    link = url_state.incoming(PAGE, (links.BASELINE, links.CANDIDATE))
    session.restore(PAGE, STATE_KEYS)
    ids = listed_run_ids(runs)
    if link is not None:
        wanted = [url_state.first(link, links.BASELINE), url_state.first(link, links.CANDIDATE)]
        if all(run_id in ids for run_id in wanted):
            st.session_state[KEY + "baseline"], st.session_state[KEY + "candidate"] = wanted
        else:
            missing = ", ".join(str(r) for r in wanted if r not in ids)
            st.warning("The link names runs not in this store: " + escape_markdown(missing))
            link = None
    focus = st.session_state.pop(KEY + "pending_focus", None)
    if focus is not None:
        _focus(*focus)
    baseline, candidate = pick_arms(runs)
    if baseline is None or candidate is None:
        st.info("Comparing needs two runs of the same suites. Run another version first.")
        return
    if baseline == candidate:
        st.info("Pick two different runs.")
        return
    base_dir, cand_dir = run_folder(store, baseline), run_folder(store, candidate)
    for folder in (base_dir, cand_dir):
        check_tables(folder)  # a run still going has no tables yet: say so (app.py shows the error)
    params = {links.BASELINE: baseline, links.CANDIDATE: candidate}
    # The verdict goes at the top but is computed last: the statistics take seconds on a large
    # run, and the queue below needs only the two verdict tables, so it is drawn first.
    top = st.container()
    base_verdicts, cand_verdicts = data.verdicts(base_dir), data.verdicts(cand_dir)
    queue = data.changed(base_dir, cand_dir)
    base_index = data.index(base_dir)
    if link is not None:
        seed_from_link(link, queue, base_index)
    changes, drift = st.tabs([TAB_CHANGES, TAB_DRIFT], key=TABS, on_change="rerun")
    manifests = [read_manifest(base_dir), read_manifest(cand_dir)]
    arms = [(base_dir, manifests[0]), (cand_dir, manifests[1])]
    with changes:
        if changes.open:
            params = changes_tab(arms, queue, base_verdicts, cand_verdicts, base_index, params)
    session.remember(PAGE, STATE_KEYS)
    url_state.publish(PAGE, params)
    with top, st.spinner("Computing the statistics…"):
        comparison = data.comparison(base_dir, cand_dir)
        # issue 19: the distinctive phrases `character compare` adds to its reports
        moved = moved_dimensions(comparison.dimensions)
        changes = changes_panel.sections(base_dir, cand_dir, moved) if comparison.valid else None
    with top:
        summary(comparison, cand_verdicts, queue, changes)
    with drift:
        if drift.open:
            if comparison.valid:
                drift_tab(comparison, queue)
                changes_panel.panel(changes.phrases, on_open=lambda p, e, d: _focus(d, (p, e, d)))
            else:
                st.info("No drift figures: the runs cannot be compared (see above).")


main()
