"""The character viewer: `character view [STORE]`, or `streamlit run app.py -- --store STORE`.

Routing only; the pages live in character/viewer/pages and their logic in character/viewer.
"""

import streamlit as st

from character.errors import CharacterError
from character.viewer.navigation import pages

st.set_page_config(page_title="character viewer", layout="wide")
try:
    st.navigation(pages()).run()
except CharacterError as exc:  # a damaged file in the store: say which and how to fix it, as the CLI does
    st.error(exc.one_line())
