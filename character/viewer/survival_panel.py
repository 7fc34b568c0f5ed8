"""The Compare page's long-conversation view: still holding by turn, for both versions.

The chart, sentence and table are the compare reports' own (analysis/survival_report.py), drawn
from the same `Comparison.survival`; nothing is recomputed here.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from character.analysis.compare import Comparison
from character.analysis.survival import SurvivalComparison
from character.analysis.survival_report import curve_rows, sentence, survival_svg, table_notes
from character.viewer.render import escape_markdown


def curve_table(result: SurvivalComparison) -> pl.DataFrame:
    """Turn by turn: the share still holding and the conversations at risk, per version (the
    reports' rows: a version's share is empty past the last turn its curve is defined at)."""
    schema = {
        "turn": pl.Int64,
        "baseline holding": pl.Float64,
        "candidate holding": pl.Float64,
        "baseline at risk": pl.Int64,
        "candidate at risk": pl.Int64,
        "baseline first flips": pl.Int64,
        "candidate first flips": pl.Int64,
    }
    return pl.DataFrame(curve_rows(result), schema=schema)


def show(comparison: Comparison) -> None:
    if not comparison.survival:
        return
    st.subheader("Long conversations: still holding, by turn")
    st.caption(
        "Exploratory (not gated). Kaplan-Meier share of conversations that have not flipped yet; "
        "the paired test compares the turns held per probe (RMST). Pick a probe below to see "
        "where in the conversation each version changed."
    )
    for result in comparison.survival:
        st.image(
            survival_svg(
                result,
                baseline_label=comparison.baseline.target.label,
                candidate_label=comparison.candidate.target.label,
            ),
            caption=f"{result.key}: still holding, by turn",
        )
        st.markdown(escape_markdown(sentence(result)))
        for note in [*table_notes(result), *result.notes]:
            st.caption(escape_markdown(note))
        with st.expander(f"{result.key}: turn by turn"):
            st.dataframe(curve_table(result), hide_index=True)
