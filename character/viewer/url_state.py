"""Each page's state in the address bar (st.query_params), so a view can be shared and reopened.

The parameter names and page paths are character.analysis.viewer_links's: the links a
report writes and the state a page publishes are the same format.

A page calls `incoming` first: it returns the URL's parameters when they came from outside the
page's last run (a pasted or shared link, a report's link, a link from another page, a reload),
so the page sets its widgets from them; otherwise (None) the widgets keep their state. At the end
of the run the page calls `publish` with its current state, which becomes the URL.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from character.analysis.viewer_links import ParamValue

Params = dict[str, list[str]]
_WRITTEN = "url_state.written."


def current() -> Params:
    return {name: st.query_params.get_all(name) for name in st.query_params}


def incoming(page: str, anchors: tuple[str, ...]) -> Params | None:
    """The URL's parameters if they came from outside this page and name all its `anchors`
    (e.g. the run a Transcripts link is about), else None."""
    params = current()
    if not params or params == st.session_state.get(_WRITTEN + page):
        return None
    if not all(params.get(name) for name in anchors):
        return None
    return params


def clean(params: Mapping[str, ParamValue]) -> Params:
    """Names with their values as lists of strings; None and empty values left out."""
    out: Params = {}
    for name, value in params.items():
        if value is None or value == "":
            continue
        values = (
            [str(value)] if isinstance(value, str | int) else [str(v) for v in value if v != ""]
        )
        if values:
            out[name] = values
    return out


def publish(page: str, params: Mapping[str, ParamValue]) -> None:
    """Make `params` the address bar's query (only when it differs, so no needless update)."""
    wanted = clean(params)
    st.session_state[_WRITTEN + page] = wanted
    if current() != wanted:
        st.query_params.from_dict(wanted)


def first(params: Params | None, name: str) -> str | None:
    values = (params or {}).get(name) or []
    return values[0] if values else None


def number(params: Params | None, name: str) -> int | None:
    """A positive integer parameter (an epoch); None when missing or not a number."""
    value = first(params, name)
    return int(value) if value is not None and value.isdigit() and int(value) > 0 else None
