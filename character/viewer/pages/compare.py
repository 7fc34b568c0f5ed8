"""Compare: baseline vs candidate as `character compare` sees it, then one probe side by side."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from character.analysis.change_report import ChangeSections
from character.analysis.compare import Comparison
from character.analysis.phrases import moved_dimensions
from character.analysis.reports import report_name
from character.store.layout import check_tables
from character.viewer import changes_panel, comparing, data, session, widgets
from character.viewer.catalog import listed_run_ids
from character.viewer.context import run_folder
from character.viewer.conversation import (
    align_by_turn,
    evidence_by_turn,
    gave_in_turns,
    numbered_messages,
)
from character.viewer.render import escape_markdown
from character.viewer.widgets import no_runs

KEY = "compare."
VERDICT_STYLE = {"PASS": st.success, "WARN": st.warning, "FAIL": st.error}
NUMBER = st.column_config.NumberColumn(format="%.3f")


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


def summary(comparison: Comparison, changes: ChangeSections | None = None) -> None:
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
    downloads = comparing.report_downloads(comparison, report_name(comparison), changes)
    for column, download in zip(st.columns(3), downloads, strict=True):
        column.download_button(
            download.label, download.data, file_name=download.file_name, mime=download.mime,
            key=f"{KEY}download.{download.file_name.rsplit('.', 1)[-1]}",
        )


def drift(comparison: Comparison) -> None:
    st.subheader("Drift per dimension")
    st.dataframe(
        comparing.drift_table(comparison),
        hide_index=True,
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
    st.dataframe(comparison.movers, hide_index=True)


def side_by_side(base_dir: Path, cand_dir: Path, comparison: Comparison) -> None:
    st.subheader("One probe, both versions")
    base_index, cand_index = data.index(base_dir), data.index(cand_dir)
    choices = comparing.probe_choices(comparison, comparing.common_probes(base_index, cand_index))
    if not choices:
        st.info("The runs share no probe.")
        return
    if st.session_state.get(KEY + "probe") not in choices:
        st.session_state[KEY + "probe"] = choices[0]
    left, right = st.columns([3, 1])
    probe_id = left.selectbox("Probe (top movers first)", choices, key=KEY + "probe")
    epochs = sorted(
        set(base_index.filter(pl.col("probe_id") == probe_id)["epoch"].to_list())
        & set(cand_index.filter(pl.col("probe_id") == probe_id)["epoch"].to_list())
    )
    if st.session_state.get(KEY + "epoch") not in epochs:
        st.session_state[KEY + "epoch"] = epochs[0]
    epoch = right.selectbox("Epoch", epochs, key=KEY + "epoch")
    moves = comparing.probe_moves(comparison, probe_id)
    if moves.height:
        st.dataframe(moves, hide_index=True)
    arms = [(base_dir, comparison.baseline), (cand_dir, comparison.candidate)]
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
            with st.expander("Scores and reasoning", expanded=True):
                widgets.verdict_panel(scored, manifest.judge.id)
    widgets.gave_in_legend()
    talks = [numbered_messages(body.messages) for body in bodies if body is not None]
    quotes = [evidence_by_turn(v) for v in verdicts]
    gave_in = [gave_in_turns(v) for v in verdicts]
    for aligned in align_by_turn(talks[0], talks[1]):
        columns = st.columns(2)
        for side, items in enumerate((aligned.baseline, aligned.candidate)):
            with columns[side]:
                widgets.messages(items, quotes[side], gave_in[side])
                if not items:
                    st.caption(f"(no turn {aligned.turn} in this version)")


def main() -> None:
    store = session.store()
    st.title("Compare")
    runs = data.runs(store)
    if runs.height == 0:
        no_runs(store)
        return
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
    comparison = data.comparison(base_dir, cand_dir)
    # issue 19: the distinctive phrases, as the CLI's reports hold them (valid comparisons only)
    changes = None
    if comparison.valid:
        changes = changes_panel.sections(base_dir, cand_dir, moved_dimensions(comparison.dimensions))
    summary(comparison, changes)
    if not comparison.valid or changes is None:
        return
    drift(comparison)
    changes_panel.panel(changes.phrases, probe_key=KEY + "probe", epoch_key=KEY + "epoch")
    side_by_side(base_dir, cand_dir, comparison)


main()
