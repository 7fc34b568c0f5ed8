"""The character viewer: `character view [STORE]`, or `streamlit run app.py -- --store STORE`.

Routing only; the pages live in character/viewer/pages and their logic in character/viewer.
"""

import importlib
import threading

import streamlit as st

from character.errors import CharacterError
from character.viewer.navigation import pages


@st.cache_resource
def warm_statistics() -> threading.Thread:
    """Import the statistics stack (scipy) in the background, once per viewer process: the
    Compare page's first view then waits for the comparison, not for imports."""
    thread = threading.Thread(
        target=importlib.import_module, args=("character.analysis.compare",), daemon=True
    )
    thread.start()
    return thread


st.set_page_config(page_title="character viewer", layout="wide")
warm_statistics()
try:
    st.navigation(pages()).run()
except (
    CharacterError
) as exc:  # a damaged file in the store: say which and how to fix it, as the CLI does
    st.error(exc.one_line())
