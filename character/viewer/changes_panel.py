"""Compare page: what changed in the wording, as `character compare`'s reports list it.

The distinctive phrases (character.analysis.phrases, the same code and settings as the reports)
for the whole pair and each dimension that moved, each with the turns that use it. Choosing an
example opens that probe and epoch side by side (the page decides how, through `on_open`). All text is shown through
st.dataframe / escaped Markdown: a phrase or a reply never renders as HTML or Markdown.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import streamlit as st

from character.analysis.change_report import PHRASES_NOTE, ChangeSections, headlines, sample_text
from character.analysis.phrases import ALL_SCOPE, PhraseReport, distinctive_phrases, iter_scopes
from character.viewer.data import TTL_SECONDS, Stamp, run_stamp
from character.viewer.render import escape_markdown

KEY = "compare.changes."


@st.cache_data(max_entries=8, ttl=TTL_SECONDS, show_spinner="Finding distinctive phrases…")
def _phrases(
    baseline: str, candidate: str, dimensions: tuple[str, ...], stamps: tuple[Stamp, ...]
) -> PhraseReport:
    return distinctive_phrases(Path(baseline), Path(candidate), list(dimensions))


def phrases(baseline_dir: Path, candidate_dir: Path, moved: list[str]) -> PhraseReport:
    """The report's phrases for two runs; recomputed when either run's tables change."""
    stamps = (*run_stamp(baseline_dir), *run_stamp(candidate_dir))
    return _phrases(str(baseline_dir), str(candidate_dir), tuple(moved), stamps)


def sections(baseline_dir: Path, candidate_dir: Path, moved: list[str]) -> ChangeSections:
    """What the page's report downloads add, so they match the files `character compare` writes."""
    return ChangeSections(phrases=phrases(baseline_dir, candidate_dir, moved))


def phrase_table(listed: pl.DataFrame) -> pl.DataFrame:
    return listed.select(
        pl.col("direction").alias("candidate says"),
        pl.coalesce("span", "phrase").alias("phrase"),
        pl.col("phrase").alias("counted as"),
        "rate_baseline",
        "rate_candidate",
        "transcripts_baseline",
        "transcripts_candidate",
        "z",
        "q",
    )


def panel(report: PhraseReport, *, on_open: Callable[[str, int, str | None], None]) -> None:
    """The phrases per scope, and a picker per scope that opens an example transcript:
    `on_open(probe_id, epoch, "rubric/dimension" or None)` runs when one is picked."""
    st.subheader("What changed in the wording (exploratory, not gated)")
    st.caption(PHRASES_NOTE)
    for line in headlines(report):
        st.markdown("- " + escape_markdown(line))
    for scope, listed, examples in iter_scopes(report):
        title = "All replies" if scope == ALL_SCOPE else scope
        sample = sample_text(report.scopes.filter(pl.col("scope") == scope).row(0, named=True))
        with st.expander(f"{title}: {listed.height} phrases", expanded=False):
            if sample:  # a large pair is read on a fixed sample (PhraseSettings.max_transcripts)
                st.caption(f"{sample}, chosen by a hash of probe and epoch")
            if listed.height == 0:
                st.caption(f"No phrase rose or fell by |z| >= {report.settings.min_z:g}.")
                continue
            st.dataframe(phrase_table(listed), hide_index=True, key=f"{KEY}{scope}.phrases")
            shown = examples.select("phrase", "arm", "probe_id", "epoch", "turn", "snippet")
            st.dataframe(shown, hide_index=True, key=f"{KEY}{scope}.examples")
            pairs = shown.unique(["probe_id", "epoch"], maintain_order=True)
            choices = [f"{p} · epoch {e}" for p, e in pairs.select("probe_id", "epoch").iter_rows()]
            if not choices:
                continue
            picker = f"{KEY}{scope}.open"
            st.selectbox(
                "Read an example side by side",
                choices,
                index=None,
                key=picker,
                placeholder="choose a transcript",
                on_change=_open,
                args=(picker, None if scope == ALL_SCOPE else scope, on_open),
            )


def _open(
    picker: str, dimension: str | None, on_open: Callable[[str, int, str | None], None]
) -> None:
    picked = st.session_state.get(picker)
    if picked:
        probe_id, epoch = picked.rsplit(" · epoch ", 1)
        on_open(probe_id, int(epoch), dimension)
