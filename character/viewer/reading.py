"""The reading loop shared by the Transcripts and Compare pages: a list, one open item, next/previous.

The open item lives in session state (not in the table's selection), so next/previous, a link and
a click all move the same thing. The table's selection is set from it before the table is drawn,
so the highlighted row follows next/previous; a click shows up as a selection that differs from
the one set on the previous run, and opens that row.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import streamlit as st

NEXT_SHORTCUT = "J"
PREVIOUS_SHORTCUT = "K"


def open_index(
    keys: Sequence[Hashable], table_key: str, open_key: str, listing: str, *, fallback: bool = True
) -> int | None:
    """Index in `keys` of the item to show: a row just clicked, else the open item, else the first.

    `listing` names the list as drawn (its filters): a selection made under another listing is
    not a click on this one. With `fallback` False, an open item that is not in the list stays
    open (None is returned) instead of giving way to the first row.
    """
    state = st.session_state.get(table_key)
    selected = list(state["selection"]["rows"]) if state and "selection" in state else []
    shown = st.session_state.get(table_key + ".shown")
    if (
        selected
        and shown is not None
        and shown[0] == listing
        and selected[0] != shown[1]
        and 0 <= selected[0] < len(keys)
    ):
        st.session_state[open_key] = keys[selected[0]]
    current = st.session_state.get(open_key)
    if current is not None:
        try:
            return list(keys).index(current)
        except ValueError:
            pass
    if not keys or (not fallback and current is not None):
        return None
    st.session_state[open_key] = keys[0]
    return 0


def _move(keys: Sequence[Hashable], open_key: str, delta: int) -> None:
    """Button callback: runs before the page, so the whole page (buttons too) draws the new item."""
    current = st.session_state.get(open_key)
    index = list(keys).index(current) if current in keys else 0
    st.session_state[open_key] = keys[max(0, min(index + delta, len(keys) - 1))]


def step(keys: Sequence[Hashable], index: int, open_key: str, key_prefix: str) -> int:
    """Previous / next buttons (with keyboard shortcuts) and the position; returns `index`."""
    back, position, forward = st.columns([1, 2, 1], vertical_alignment="center")
    back.button(
        "◀ Previous",
        key=key_prefix + "previous",
        disabled=index <= 0,
        shortcut=PREVIOUS_SHORTCUT,
        width="stretch",
        on_click=_move,
        args=(keys, open_key, -1),
    )
    forward.button(
        "Next ▶",
        key=key_prefix + "next",
        disabled=index >= len(keys) - 1,
        shortcut=NEXT_SHORTCUT,
        type="primary",
        width="stretch",
        on_click=_move,
        args=(keys, open_key, +1),
    )
    position.markdown(f"**{index + 1:,} of {len(keys):,}**", text_alignment="center")
    return index


def select_row(table_key: str, listing: str, index: int | None) -> None:
    """Highlight row `index` in the table drawn next (call before drawing it)."""
    rows = [] if index is None else [index]
    st.session_state[table_key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    st.session_state[table_key + ".shown"] = (listing, index)
