"""Trends: nightly drift per dimension with CUSUM and alarms; judge canaries shown apart."""

from __future__ import annotations

import polars as pl
import streamlit as st

from character.viewer import data, session
from character.viewer import history as nightly_history
from character.viewer.render import escape_markdown

KEY = "trends."


def series_view(history: pl.DataFrame, kind: str, h: float, key: str) -> None:
    keys = nightly_history.series_keys(history, kind)
    if not keys:
        st.caption("No series of this kind in the history.")
        return
    if st.session_state.get(key) not in keys:
        st.session_state[key] = keys[0]
    chosen = st.selectbox("Series", keys, key=key, format_func=lambda s: s.label)
    frame = nightly_history.series(history, kind, chosen)
    st.altair_chart(nightly_history.cusum_chart(frame, h), width="stretch")
    st.altair_chart(nightly_history.means_chart(frame), width="stretch")
    alarms = nightly_history.alarm_table(history, kind)
    st.markdown(f"**Alarming nights** ({alarms.height})")
    st.dataframe(alarms, hide_index=True)


def main() -> None:
    st.title("Trends")
    config = data.project_config()
    path = nightly_history.history_file(session.store()).resolve()
    st.caption("Nightly history: " + escape_markdown(str(path)))
    history = data.nightly_history(path)
    if history.height == 0:
        st.info(
            "No nightly history yet. `character nightly --config character.toml` runs the configured "
            "targets each night and writes it into the store (<store>/_nightly/history.parquet)."
        )
        return
    night, messages, judge_moved = nightly_history.latest_alarms(history)
    st.subheader("Latest night: " + escape_markdown(str(night)))
    for message in messages:
        (st.warning if message.startswith("JUDGE") else st.error)(escape_markdown(message))
    if not messages:
        st.success("No alarm on a gating dimension on the latest night.")
    if judge_moved:
        st.caption(
            "The judge canaries moved: model alarms on those dimensions are suspected judge drift."
        )
    h = config.nightly.cusum_h
    st.caption(
        f"CUSUM on z = delta / SE against a frozen reference (k = {config.nightly.cusum_k:g}, "
        f"h = {h:g}); an alarm is S+ or S- above h (METHODS.md, Nightly)."
    )
    model, canary = st.tabs(["Model drift", "Judge canaries"])
    with model:
        series_view(history, nightly_history.KIND_MODEL, h, KEY + "model")
    with canary:
        st.caption(
            "Stored transcripts re-judged every night: if these move, the judge moved, not the model."
        )
        series_view(history, nightly_history.KIND_CANARY, h, KEY + "canary")


main()
