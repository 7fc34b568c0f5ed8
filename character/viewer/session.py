"""Session state shared across pages: the store and the runs picked on the Runs page.

Widget state is dropped by Streamlit when a page that owns the widget is not shown, so what
must survive a page switch lives under its own keys, initialised once with `setdefault`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import polars as pl
import streamlit as st

from character.viewer.catalog import listed_run_ids, run_label
from character.viewer.context import store_from_argv

STORE = "store"
SELECTED_RUNS = "selected_runs"  # up to two run ids: [run] or [baseline, candidate]
LABELLER = "labeller"


def init() -> None:
    st.session_state.setdefault(STORE, str(store_from_argv(sys.argv[1:])))
    st.session_state.setdefault(SELECTED_RUNS, [])
    st.session_state.setdefault(LABELLER, os.environ.get("USER", ""))


def store() -> Path:
    init()
    return Path(st.session_state[STORE])


def selected_runs() -> list[str]:
    init()
    return list(st.session_state[SELECTED_RUNS])


def pick_run(label: str, key: str, runs: pl.DataFrame, preferred: str | None) -> str | None:
    """A run selectbox that starts on `preferred` (a run picked on the Runs page) when it exists."""
    ids = listed_run_ids(runs)
    if not ids:
        return None
    if st.session_state.get(key) not in ids:
        st.session_state[key] = preferred if preferred in ids else ids[0]
    return st.selectbox(label, ids, key=key, format_func=lambda run_id: run_label(runs, run_id))


_SAVED = "saved."


def restore(page: str, keys: list[str]) -> None:
    """Put back widget values Streamlit dropped while another page was shown (call before the widgets)."""
    saved = st.session_state.get(_SAVED + page, {})
    for key in keys:
        if key not in st.session_state and key in saved:
            st.session_state[key] = saved[key]


def remember(page: str, keys: list[str]) -> None:
    """Keep the page's widget values for `restore` (call after the widgets)."""
    st.session_state[_SAVED + page] = {
        key: st.session_state[key] for key in keys if key in st.session_state
    }
